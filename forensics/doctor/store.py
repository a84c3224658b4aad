"""Is the store keeping up? Sources changed and not ingested, sources an ingest keeps skipping, and
files named here that the store does not hold.

A comparison of newest times alone passes silently when one source of many is skipped
while the others are ingested: this looks at each source's own unread bytes. A file's mtime
ahead of this machine's clock says nothing of how long its bytes waited: they are then aged
by the last ingest, which did not read them (they arrived after it).
"""

from __future__ import annotations

import itertools
import statistics
from datetime import UTC, datetime, timedelta

from ..output import counted
from ..store.checkpoints import complete_end

# Without enough ingests to tell the cron cadence, a source may wait this long.
DEFAULT_GRACE = timedelta(minutes=10)
# An ingest that started this soon after a file changed may have planned before the change.
_SLACK = timedelta(seconds=5)
# Ingests that skipped a file, enough to call it stuck when its times are ahead of the clock.
_SKIPS = 3


def _at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def cadence(batches: list[dict]) -> timedelta | None:
    """The median time between the last ingests (None with fewer than three)."""
    times = [_at(b["at"]) for b in batches[-21:]]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times) if b > a]
    return timedelta(seconds=statistics.median(gaps)) if len(gaps) >= 2 else None


def ingest_health(lake, *, grace: timedelta | None = None, now: datetime | None = None) -> dict:
    """Sources with complete lines not ingested for longer than ``grace`` (default twice the
    cadence), and "stuck" ones: skipped by an ingest that ran after they changed."""
    now = now or datetime.now(UTC)
    every = cadence(lake.stored.batches)
    if grace is None:
        grace = 2 * every if every is not None else DEFAULT_GRACE
    last = _at(lake.stored.batches[-1]["at"]) if lake.stored.batches else None
    waiting, stuck = [], []
    for t in lake.tails:
        seg = t.segment
        if not seg.compressed and complete_end(seg.path, seg.start, seg.stat.st_size) <= seg.start:
            continue  # only a torn last line: it waits for its newline, rightly
        changed = datetime.fromtimestamp(seg.stat.st_mtime, UTC)
        entry = {"file": seg.path, "stream": seg.stream, "changed_at": changed, "bytes": t.end - seg.start}
        if changed > now:
            # Its mtime is ahead of the clock (another machine's clock, a clock set back): its
            # bytes have waited at most since the last ingest, which did not read them.
            age = now - last if last is not None and last <= now else None
            entry.update(age_s=None if age is None else int(age.total_seconds()), clock="mtime ahead of the clock")
            if age is None or age > grace:
                waiting.append(entry)
            continue
        age = now - changed
        entry["age_s"] = int(age.total_seconds())
        if last is not None and last > changed + _SLACK and now - changed > grace:
            stuck.append({**entry, "reason": "ingests since it changed did not read it"})
        elif age > grace:
            waiting.append(entry)
    newest = lake.stored.batches[-1]["batch"] if lake.stored.batches else None
    for p in lake.stored.pending:
        since = _at(p["since"])
        # A time ahead of the clock says nothing: then the ingests that skipped it are counted.
        skips = newest - p["batch"] + 1 if newest is not None and isinstance(p.get("batch"), int) else None
        if now - since > grace or (since > now and skips is not None and skips >= _SKIPS):
            stuck.append(
                {
                    "file": p["path"],
                    "stream": p["stream"],
                    "changed_at": None,
                    "age_s": int((now - since).total_seconds()) if since <= now else None,
                    "bytes": None,
                    "reason": f"skipped by every ingest since {p['since']}"
                    + (f" ({counted(skips, 'ingest')})" if skips else "")
                    + f": {p['reason']}",
                }
            )
    stuck.sort(key=lambda e: -(e["age_s"] or 0))
    not_held = [{"file": path, "stream": stream} for stream, path in getattr(lake, "not_held", [])]
    return {
        "last_ingest": last,
        "cadence_s": int(every.total_seconds()) if every else None,
        "grace_s": int(grace.total_seconds()),
        "not_ingested": waiting,
        "stuck": stuck,
        "not_held": not_held,
        "healthy": not waiting and not stuck and not not_held,
    }


def render(health: dict) -> list[str]:
    """Lines for doctor's text report."""
    from ..output import escape, iso_utc

    last = iso_utc(health["last_ingest"]) if health["last_ingest"] else "never"
    out = [
        f"store: last ingest {last}; grace {health['grace_s']}s"
        + (f" (twice the cadence, {health['cadence_s']}s)" if health["cadence_s"] else "")
    ]
    for e in health["stuck"]:
        age = "age unknown" if e["age_s"] is None else f"{e['age_s']}s"
        out.append(f"STUCK {escape(e['file'])}: {age}; {escape(e['reason'])}")
    for e in health["not_ingested"]:
        if e.get("clock"):
            since = "its age unknown" if e["age_s"] is None else f"the last ingest ran {e['age_s']}s ago"
            when = f"changed at {iso_utc(e['changed_at'])}, ahead of this machine's clock ({since})"
        else:
            when = f"changed {e['age_s']}s ago"
        out.append(
            f"NOT INGESTED {escape(e['file'])}: {when}, {counted(e['bytes'], 'byte')} waiting (is the cron ingest running?)"
        )
    for e in health.get("not_held", []):
        out.append(
            f"NOT HELD {escape(e['file'])} ({e['stream']}): named here, not in the store, and its sources do not "
            "name it (give it to `forensics ingest` with the store's sources)"
        )
    return out
