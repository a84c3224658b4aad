"""Silences: matchers over an alarm's labels (as Alertmanager's), kept beside the alarm's memory and
added, listed and expired under its lock; which open incidents each covers, and, when one ends,
what it covered and still fires (said once, then firing again)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..errors import ForensicsError, ParameterError
from ..output import escape, iso_utc
from ..paths import write_atomic
from .memory import STATE_NAME, Memory, who

# The labels a matcher may name: what every alarm row is known by.
LABELS = ("alarm", "severity", "model", "kind", "daemon", "session_id")
OPS = ("=", "!=", "=~", "!~")
SILENCES_NAME = "alarm-silences.json"
_MATCHER = re.compile(r"(?s)\s*([A-Za-z_]+)\s*(=~|!~|!=|=)(.*)")
_ALARM_NAME = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True)
class Matcher:
    """One `label=value`, `label!=value`, `label=~regex` or `label!~regex`; a regex is fully anchored."""

    label: str
    op: str
    value: str

    def matches(self, labels: dict) -> bool:
        """Whether these labels (a missing one is the empty text, as in Alertmanager) satisfy it."""
        got = labels.get(self.label)
        got = "" if got is None else str(got)
        if self.op in ("=", "!="):
            return (got == self.value) == (self.op == "=")
        if (self.value, got) not in _FULL:
            prime([self], [labels])
        return _FULL[(self.value, got)] == (self.op == "=~")

    def __str__(self) -> str:
        return f"{self.label}{self.op}{json.dumps(self.value, ensure_ascii=False)}"

    def as_dict(self) -> dict:
        """The matcher as it is stored and printed in JSON."""
        return {"label": self.label, "op": self.op, "value": self.value}


def parse_matcher(text: str) -> Matcher:
    """`label=value`, `label!=value`, `label=~regex`, `label!~regex` (a value may be "quoted"), or a bare alarm name."""
    found = _MATCHER.fullmatch(text)
    if found is None:
        if _ALARM_NAME.fullmatch(text):
            return Matcher("alarm", "=", text)  # (amtool's shorthand: a bare name is the alert's)
        raise ParameterError(f"not a matcher: {text!r} (try alarm=NAME, model!=X, daemon=~'gate.*')")
    label, op, value = found.group(1), found.group(2), found.group(3).strip()
    if label not in LABELS:
        raise ParameterError(f"matcher {text!r}: no label {label!r} (labels: {', '.join(LABELS)})")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            value = json.loads(value)
        except ValueError:
            raise ParameterError(f"matcher {text!r}: the quoted value is not one") from None
    return _checked(Matcher(label, op, value), text)


def _checked(m: Matcher, text: str) -> Matcher:
    if m.op in ("=~", "!~"):
        import duckdb

        try:
            _full_matches(m.value, [""])
        except duckdb.Error as exc:
            why = str(exc).removeprefix("Invalid Input Error: ")
            raise ParameterError(f"matcher {text!r}: not a regular expression ({escape(why)})") from None
    return m


# Regexes are RE2's (DuckDB's regexp_full_match), as Alertmanager's Go regexp: linear in the text whatever
# the pattern. Python's `re` backtracks: `model=~(a+)+b` over a model named "aaaa…a!" hung the alarm.
_FULL: dict[tuple[str, str], bool] = {}
_DB = threading.local()


def _full_matches(pattern: str, values: list[str]) -> list[bool]:
    import duckdb

    con = getattr(_DB, "con", None)
    if con is None:
        con = _DB.con = duckdb.connect()
    got = con.execute(
        "select list_transform($values, lambda v: regexp_full_match(v, $pattern))",
        # (a lone surrogate, which a log may hold, is no UTF-8: it stands as a replacement character)
        {"values": [v.encode("utf-8", "replace").decode("utf-8") for v in values], "pattern": pattern},
    ).fetchone()[0]
    return list(got)


def prime(matchers: Iterable[Matcher], labelled: Iterable[dict]) -> None:
    """Judge the regex matchers over many labels at once (one query a pattern), for `Matcher.matches` to read."""
    labelled = list(labelled)
    if len(_FULL) > 200_000:
        _FULL.clear()
    for m in matchers:
        if m.op not in ("=~", "!~"):
            continue
        values = sorted({"" if x.get(m.label) is None else str(x.get(m.label)) for x in labelled})
        values = [v for v in values if (m.value, v) not in _FULL]
        if values:
            _FULL.update(zip([(m.value, v) for v in values], _full_matches(m.value, values)))


def silences_path(memory: Memory) -> Path:
    """Where a memory's silences are: `alarm-silences.json` in a store, `FILE.silences.json` beside --state FILE."""
    path = memory.state_path
    if path.name == STATE_NAME:
        return path.with_name(SILENCES_NAME)
    stem = path.name[:-5] if path.name.endswith(".json") else path.name
    return path.with_name(f"{stem}.silences.json")


def load_silences(memory: Memory) -> list[dict]:
    """Every silence kept (ended ones too), as stored; none when there is no file. Damage is an error naming it."""
    path = silences_path(memory)
    where = escape(str(path))
    if path.is_symlink():
        raise ForensicsError(
            f"the alarm's silences {where} are a symbolic link, which forensics neither reads nor writes"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ForensicsError(_damaged(where, escape(str(exc)))) from exc
    kept = data.get("silences") if isinstance(data, dict) else None
    if not isinstance(kept, list):
        raise ForensicsError(_damaged(where, "not an object with a list of silences"))
    for i, s in enumerate(kept):
        wrong = _wrong(s)
        if wrong:
            raise ForensicsError(_damaged(where, f"silence {i + 1}: {wrong}"))
    return kept


def _damaged(where: str, why: str) -> str:
    return (
        f"the alarm's silences {where} cannot be read ({why}); until it is moved aside or mended no silence "
        "applies (the events log keeps each one added)"
    )


def _wrong(s) -> str | None:
    """What is wrong with a stored silence, or None."""
    if not isinstance(s, dict) or not isinstance(s.get("id"), str):
        return "not a silence with an id"
    for key in ("starts_at", "ends_at"):
        if _when(s.get(key)) is None:
            return f"{key} is not a time"
    matchers = s.get("matchers")
    if not isinstance(matchers, list):
        return "its matchers are not a list"
    for m in matchers:
        if not (
            isinstance(m, dict) and m.get("label") in LABELS and m.get("op") in OPS and isinstance(m.get("value"), str)
        ):
            return f"matcher {m!r} is not one"
        try:
            _checked(Matcher(m["label"], m["op"], m["value"]), m["value"])
        except ParameterError as exc:
            return str(exc)
    return None


def _when(stamp) -> datetime | None:
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def matchers_of(s: dict) -> list[Matcher]:
    """A stored silence's matchers."""
    return [Matcher(m["label"], m["op"], m["value"]) for m in s["matchers"]]


def status(s: dict, now: datetime) -> str:
    """active or expired, by the clock given (a silence starts when it is added: one the alarm reads is on)."""
    return "expired" if _when(s["ends_at"]) <= now else "active"


def _public(s: dict, now: datetime) -> dict:
    out = {k: s.get(k) for k in ("id", "starts_at", "ends_at", "created_by", "created_at", "comment")}
    out["matchers"] = [str(m) for m in matchers_of(s)]
    out["status"] = status(s, now)
    if s.get("expired_by"):
        out["expired_by"] = s["expired_by"]
    return out


def needs_force(matchers: list[Matcher], critical: Iterable[str]) -> bool:
    """Whether a silence would hush every critical alarm: no matcher, or matchers every critical alarm passes.

    A matcher on `alarm` or `severity` is judged on each critical alarm; one on another label
    passes unless it narrows (it does not match an arbitrary value: `model=x` narrows, `model!=x` does not).
    """
    if not matchers:
        return True
    import secrets

    probe = "probe-" + secrets.token_hex(8)
    critical = list(critical)

    def passes(m: Matcher, name: str) -> bool:
        if m.label == "alarm":
            return m.matches({"alarm": name})
        if m.label == "severity":
            return m.matches({"severity": "critical"})
        return m.matches({m.label: probe})

    return bool(critical) and all(all(passes(m, name) for m in matchers) for name in critical)


def silence_end(lasts: str | None, until: str | None, now: datetime) -> datetime:
    """When a silence ends: ``lasts`` (an age: 90m, 2h, 1d) from now, or ``until`` (an ISO time with its offset)."""
    if (lasts is None) == (until is None):
        raise ParameterError("say how long the silence lasts: --for AGE (2h) or --until TIME (not both)")
    if lasts is not None:
        found = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", lasts)
        if found is None:
            raise ParameterError(f"--for takes an age such as 90m, 2h or 1d, got {lasts!r}")
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[found.group(2)]
        try:
            return now + timedelta(**{unit: int(found.group(1))})
        except (OverflowError, ValueError):  # (ValueError: more digits than Python converts)
            raise ParameterError(f"--for {lasts!r} reaches past the calendar") from None
    try:
        end = datetime.fromisoformat(until.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ParameterError(
            f"--until takes an ISO time with its offset (2026-12-08T04:00:00Z), got {until!r}"
        ) from None
    if end.tzinfo is None:
        raise ParameterError(f"--until {until!r} has no offset: say which (Z for UTC, or +01:00)")
    try:
        return end.astimezone(UTC)
    except OverflowError:  # (year 1 or 9999 with an offset: no such time in UTC)
        raise ParameterError(f"--until {until!r} is past the calendar's ends") from None


def add_silence(
    memory: Memory,
    matchers: list[str],
    *,
    comment: str,
    lasts: str | None = None,
    until: str | None = None,
    force: bool = False,
    queries_dirs: Iterable[str | Path] = (),
    by: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Keep a new silence from now, for ``lasts`` or ``until`` a time; the silence as listed (its id first).

    Its matchers are checked against the alarms of the catalog (built-in and ``queries_dirs``):
    one that would hush every critical alarm needs ``force``.
    """
    import secrets

    from ..catalog import load_catalog

    now = now or datetime.now(UTC)
    parsed = [parse_matcher(m) for m in matchers]
    if not (comment or "").strip():
        raise ParameterError("a silence needs --comment TEXT: why, for the next person paged")
    ends_at = silence_end(lasts, until, now)
    critical = [q.name for q in load_catalog([Path(d) for d in queries_dirs]).alarms() if q.severity == "critical"]
    if ends_at <= now:
        raise ParameterError(f"the silence would end at {iso_utc(ends_at)}, not after now ({iso_utc(now)})")
    if not force and needs_force(parsed, critical):
        what = "no matcher" if not parsed else "matchers that every critical alarm passes"
        raise ParameterError(
            f"a silence with {what} hushes every critical alarm: name what it is for (alarm=..., model=...), "
            "or pass --force"
        )
    with memory.lock():
        kept = load_silences(memory)
        taken = {s["id"] for s in kept}
        sid = secrets.token_hex(4)
        while sid in taken:
            sid = secrets.token_hex(4)
        at = iso_utc(now)
        silence = {
            "id": sid,
            "matchers": [m.as_dict() for m in parsed],
            "starts_at": at,
            "ends_at": iso_utc(ends_at),
            "created_at": at,
            "created_by": by or who(),
            "comment": comment,
        }
        memory.log([{"at": at, "event": "silence-added", **_public(silence, now), "by": silence["created_by"]}])
        _save(memory, kept + [silence])
    return _public(silence, now)


def expire_silence(memory: Memory, sid: str, *, by: str | None = None, now: datetime | None = None) -> dict:
    """End a silence now; the alarm's next run says what it covered and still fires. An unknown or ended one is an error."""
    now = now or datetime.now(UTC)
    by = by or who()
    with memory.lock():
        kept = load_silences(memory)
        found = next((s for s in kept if s["id"] == sid), None)
        if found is None:
            raise ParameterError(f"no silence {escape(repr(sid))} in {escape(str(silences_path(memory)))}")
        if status(found, now) == "expired":
            raise ParameterError(f"silence {escape(sid)} already ended at {found['ends_at']}")
        found.update(ends_at=iso_utc(now), expired_by=by)
        memory.log([{"at": iso_utc(now), "event": "silence-expired", "silence": sid, "by": by}])
        _save(memory, kept)
    return _public(found, now)


def list_silences(memory: Memory, *, now: datetime | None = None, every: bool = False) -> list[dict]:
    """The silences active (with ``every``, ended ones too), the soonest to end first."""
    now = now or datetime.now(UTC)
    rows = [_public(s, now) for s in load_silences(memory)]
    return sorted((r for r in rows if every or r["status"] != "expired"), key=lambda r: (_when(r["ends_at"]), r["id"]))


def _save(memory: Memory, kept: list[dict]) -> None:
    path = silences_path(memory)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"version": 1, "silences": kept}, ensure_ascii=False, indent=1).encode("utf-8"))


def labels_of(inc: dict) -> dict:
    """A remembered incident's labels, as matchers read them."""
    row = inc.get("row") or {}
    return {
        "alarm": inc.get("alarm"),
        "severity": inc.get("severity"),
        "session_id": inc.get("session_id"),
        **{k: row.get(k) for k in ("model", "kind", "daemon")},
    }


def cover(incidents: dict[str, dict], silences: list[dict], *, now: datetime) -> tuple[dict[str, str], list[dict]]:
    """Which firing incidents an active silence covers now ({identity: silence id}), and the silences that ended.

    An incident a silence covered on an earlier run, firing and covered by none now, fires
    again: it is counted once under its silence's end (its `last_notified` is now, so its
    reminder is a --repeat away). Changes the incidents in place (saved with the memory).
    """
    at = iso_utc(now)
    active = [(s, matchers_of(s)) for s in silences if status(s, now) == "active"]
    prime([m for _, ms in active for m in ms], [labels_of(inc) for inc in incidents.values()])
    by_id = {s["id"]: s for s in silences}
    covered: dict[str, str] = {}
    ended: dict[str, list[str]] = {}
    for key, inc in incidents.items():
        was = inc.pop("silenced_by", None)
        if inc.get("state") != "firing":
            continue
        labels = labels_of(inc)
        sid = next((s["id"] for s, ms in active if all(m.matches(labels) for m in ms)), None)
        if sid is not None:
            covered[key] = inc["silenced_by"] = sid
        elif was is not None:
            ended.setdefault(was, []).append(key)
            inc["last_notified"] = at
    out = []
    for sid, keys in sorted(ended.items()):
        s = by_id.get(sid, {})
        out.append(
            {
                "silence": sid,
                "still_firing": len(keys),
                "alarms": sorted({incidents[k]["alarm"] for k in keys}),
                "identities": sorted(keys),
                **{k: s.get(k) for k in ("ends_at", "comment", "created_by", "expired_by")},
            }
        )
    return covered, out
