"""Is the store keeping up? Sources changed and not ingested, and sources an ingest keeps skipping.

A comparison of newest times alone passes silently when one source of many is skipped
while the others are ingested: this looks at each source's own unread bytes.
"""

from __future__ import annotations

import itertools
import statistics
from datetime import UTC, datetime, timedelta

from ..store.checkpoints import complete_end

# Without enough ingests to tell the cron cadence, a source may wait this long.
DEFAULT_GRACE = timedelta(minutes=10)
# An ingest that started this soon after a file changed may have planned before the change.
_SLACK = timedelta(seconds=5)


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
        age = now - changed
        entry = {
            "file": seg.path,
            "stream": seg.stream,
            "changed_at": changed,
            "age_s": int(age.total_seconds()),
            "bytes": t.end - seg.start,
        }
        if last is not None and last > changed + _SLACK and now - changed > grace:
            stuck.append({**entry, "reason": "ingests since it changed did not read it"})
        elif age > grace:
            waiting.append(entry)
    for p in lake.stored.pending:
        since = _at(p["since"])
        if now - since > grace:
            stuck.append(
                {
                    "file": p["path"],
                    "stream": p["stream"],
                    "changed_at": None,
                    "age_s": int((now - since).total_seconds()),
                    "bytes": None,
                    "reason": f"skipped by every ingest since {p['since']}: {p['reason']}",
                }
            )
    stuck.sort(key=lambda e: -e["age_s"])
    return {
        "last_ingest": last,
        "cadence_s": int(every.total_seconds()) if every else None,
        "grace_s": int(grace.total_seconds()),
        "not_ingested": waiting,
        "stuck": stuck,
        "healthy": not waiting and not stuck,
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
        out.append(f"STUCK {escape(e['file'])}: {e['age_s']}s; {escape(e['reason'])}")
    for e in health["not_ingested"]:
        out.append(
            f"NOT INGESTED {escape(e['file'])}: changed {e['age_s']}s ago, {e['bytes']} bytes waiting "
            "(is the cron ingest running?)"
        )
    return out
