"""The shapes of session and replay rows, row-for-row compatible with the Go and Rust producers.

Building a row never raises and never guesses a verdict: a value that cannot take its place
(an attempt that is not a mapping, ``attempts`` given as text) becomes a :class:`Marker`, and a
``grounded_in_roster`` that is not a real boolean is left out and noted in ``problems``. The
stamps a row is given live in :mod:`.stamps`; a record built from an iterate call's outcome in
:mod:`.outcomes`.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

from .jsonsafe import MAX_NODES
from .markers import Marker, a_type, describe, type_name
from .stamps import new_session_id, utc_timestamp

SESSION_SCHEMA = "session.iterate.v1"
REPLAY_SCHEMA = "replay.run.v1"

# The stable key order of a session row: the order of the format's table. Keys the
# format does not know (newer producers add fields) follow in the caller's order.
SESSION_KEYS = (
    "schema",
    "timestamp",
    "daemon",
    "session_id",
    "kind",
    "model",
    "provider",
    "prompt",
    "iterations",
    "max_iterations",
    "final_verdict",
    "attempts",
    "artifact",
    "grounded_in_roster",
    "duration_ms",
)
ATTEMPT_KEYS = ("iteration", "verdict_kind", "error", "span_id")
REPLAY_KEYS = (
    "schema",
    "timestamp",
    "session_id",
    "task_id",
    "model",
    "provider",
    "retrieval",
    "output",
    "latency_ms",
    "tokens_in",
    "tokens_out",
    "status",
    "error",
)
# An iterate loop makes a handful of attempts; past this many the rest become one marker,
# so an endless iterator given as ``attempts`` cannot hold the caller.
MAX_ATTEMPTS = 10_000

_SESSION_KEYSET = frozenset(SESSION_KEYS)
_REPLAY_KEYSET = frozenset(REPLAY_KEYS)
_KNOWN_KEYS = tuple(dict.fromkeys(SESSION_KEYS + REPLAY_KEYS))


def _fields(record: Any) -> dict:
    """A record's keys and values: a mapping, dataclass, named tuple or plain object."""
    if type(record) is dict:
        return record
    try:
        if isinstance(record, Mapping):
            total = len(record)
            if total <= MAX_NODES // 2:
                return dict(record)
            # A row holds no more than MAX_NODES values: copy the known keys and some others.
            fields = {k: record[k] for k in _KNOWN_KEYS if k in record}
            fields.update(itertools.islice(record.items(), MAX_NODES // 2))
            fields["<forensics: truncated>"] = Marker(
                f"{total - len(fields)} more keys not written: a row holds at most {MAX_NODES} values", "budget"
            )
            return fields
        if dataclasses.is_dataclass(record) and not isinstance(record, type):
            return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
        if isinstance(record, tuple) and hasattr(record, "_asdict"):
            return dict(record._asdict())
        if hasattr(record, "__dict__") and not isinstance(record, type):
            return {k: v for k, v in vars(record).items() if not (type(k) is str and k.startswith("_"))}
    except Exception as exc:
        return {"record": Marker(f"could not read {a_type(record)} record: {type_name(exc)}", "record")}
    return {"record": Marker(f"not a record: {describe(record)}", "record")}


def absent(value: Any) -> bool:
    """None or empty text: the values Go's omitempty leaves out. Never asks the value's truth."""
    return value is None or (type(value) is str and not value)


def _as_bool(value: Any) -> bool | None:
    """A real boolean (Python's or numpy's) as bool; anything else is no verdict (None)."""
    if value is True or value is False:
        return value
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.bool_):
        return bool(value)
    return None


def session_row(record: Any, daemon: str = "forensics", problems: list | None = None) -> dict:
    """Return the ordered dict a session row is written as, with stamps and omission rules.

    A ``grounded_in_roster`` that is not a boolean is left out; when ``problems`` is given,
    a note saying so is appended to it.
    """
    src = record if type(record) is dict else _fields(record)
    get = src.get
    # Written out key by key, with Go's zero value for a key left unset: this is the writer's
    # hot path (see bench/writer.py). Emptiness is tested by type, never by truth: an object's
    # __bool__ or __eq__ may raise.
    # The format has one schema per stream, and the writer stamps it: a caller's own value
    # (another stream's, say) would hide the row from every reader.
    v = get("schema")
    row: dict[str, Any] = {"schema": SESSION_SCHEMA}
    if v is not None and v != SESSION_SCHEMA and problems is not None:
        problems.append(("schema", f"schema: {describe(v)} is not this stream's: {SESSION_SCHEMA} written"))
    v = get("timestamp")
    row["timestamp"] = (v or utc_timestamp()) if type(v) is str else utc_timestamp() if v is None else _time(v)
    v = get("daemon")
    row["daemon"] = v if v is not None and (type(v) is not str or v) else daemon
    v = get("session_id")
    row["session_id"] = v if v is not None and (type(v) is not str or v) else new_session_id()
    v = get("kind")
    row["kind"] = "" if v is None else v
    v = get("model")
    row["model"] = "" if v is None else v
    v = get("provider")
    row["provider"] = "" if v is None else v
    v = get("prompt")
    row["prompt"] = "" if v is None else v
    v = get("iterations")
    row["iterations"] = 0 if v is None else v
    v = get("max_iterations")
    row["max_iterations"] = 0 if v is None else v
    v = get("final_verdict")
    row["final_verdict"] = "" if v is None else v
    v = get("attempts")
    if v is None:
        row["attempts"] = []
    elif (type(v) is list or type(v) is tuple) and len(v) <= MAX_ATTEMPTS:
        row["attempts"] = [attempt_row(a, i) for i, a in enumerate(v)]
    else:
        row["attempts"] = _attempts(v)
    v = get("artifact")
    if v is not None:
        row["artifact"] = v
    v = get("grounded_in_roster")
    if v is True or v is False:
        row["grounded_in_roster"] = v
    elif v is not None:
        verdict = _as_bool(v)
        if verdict is not None:
            row["grounded_in_roster"] = verdict
        elif problems is not None:
            why = str.__str__(v) if type(v) is NoVerdict else f"{describe(v)} is not a boolean"
            problems.append(("verdict", f"grounded_in_roster: {why}: no verdict written"))
    v = get("duration_ms")
    row["duration_ms"] = 0 if v is None else v
    if not _SESSION_KEYSET.issuperset(src):
        _extras(row, src, _SESSION_KEYSET)
    return row


def _time(value: Any) -> Any:
    """A timestamp given as a Python time: a datetime as RFC 3339 (naive taken as UTC); a date or a
    time of day, which name no instant, as a marker."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, (date, dtime)):
        return Marker(f"timestamp: {describe(value)} is not an instant (a date and a time with its offset)", "time")
    return value


def _attempts(value: Any) -> Any:
    """The attempts of a value that is not a short list: a marker, or the first MAX_ATTEMPTS."""
    if type(value) is Marker:
        return value
    if isinstance(value, (str, bytes, bytearray, Mapping)):
        return Marker(f"attempts is not a list of attempts: {describe(value)}", "attempts")
    try:
        items = list(itertools.islice(value, MAX_ATTEMPTS + 1))
    except Exception as exc:
        return Marker(f"attempts is not a list of attempts: {describe(value)} ({type_name(exc)})", "attempts")
    rows: list = [attempt_row(a, i) for i, a in enumerate(items[:MAX_ATTEMPTS])]
    if len(items) > MAX_ATTEMPTS:
        try:
            more = f"{len(value) - MAX_ATTEMPTS} more attempts"
        except Exception:
            more = "more attempts"
        rows.append(Marker(f"{more} not written: a row holds at most {MAX_ATTEMPTS}", "budget"))
    return rows


def attempt_fields(attempt: Any) -> Any:
    """An attempt's four keys from a mapping or an object, or a marker when it has none."""
    if type(attempt) is Marker:
        return attempt
    try:
        if isinstance(attempt, Mapping):
            return {k: attempt.get(k) for k in ATTEMPT_KEYS}
        if not isinstance(attempt, (str, bytes, int, float)) and attempt is not None:
            found = {k: getattr(attempt, k, None) for k in ATTEMPT_KEYS}
            if any(v is not None for v in found.values()):
                return found
    except Exception as exc:
        return Marker(f"could not read an attempt ({type_name(attempt)}): {type_name(exc)}", "attempts")
    return Marker(f"not an attempt: {describe(attempt)}", "attempts")


def attempt_row(attempt: Any, position: int = 0) -> Any:
    """Return one attempt object in the stable key order; empty error and span_id omitted.

    An attempt without an ``iteration`` takes ``position``, its place in the list; a value that
    is not an attempt comes back as a marker.
    """
    if type(attempt) is not dict:
        attempt = attempt_fields(attempt)
        if type(attempt) is Marker:
            return attempt
    get = attempt.get
    v = get("iteration")
    row: dict[str, Any] = {"iteration": v if v is not None and (type(v) is not str or v) else position}
    v = get("verdict_kind")
    row["verdict_kind"] = "" if v is None else v
    v = get("error")
    if v is not None and (type(v) is not str or v):
        row["error"] = v
    v = get("span_id")
    if v is not None and (type(v) is not str or v):
        row["span_id"] = v
    return row


def replay_row(record: Any) -> dict:
    """Return the ordered dict a replay row is written as; absent keys stay absent."""
    src = record if type(record) is dict else _fields(record)
    get = src.get
    row: dict[str, Any] = {"schema": REPLAY_SCHEMA}  # stamped, as a session row's is
    v = get("timestamp")
    row["timestamp"] = utc_timestamp() if absent(v) else v if type(v) is str else _time(v)
    for key in REPLAY_KEYS[2:]:
        v = get(key)
        if v is None or (key in ("error", "session_id") and absent(v)):
            continue
        row[key] = v
    if not _REPLAY_KEYSET.issuperset(src):
        _extras(row, src, _REPLAY_KEYSET)
    return row


def _extras(row: dict, src: dict, known: frozenset) -> None:
    """Copy the keys the format does not know, in the caller's order, while the row has room."""
    room = MAX_NODES - len(row) - 1  # one left for the marker
    copied = 0
    for key, value in src.items():
        if key not in known:
            if copied == room:
                left = len(src) - len(known.intersection(src)) - copied
                row["<forensics: truncated>"] = Marker(
                    f"{left} more keys not written: a row holds at most {MAX_NODES} values", "budget"
                )
                return
            row[key] = value
            copied += 1


class NoVerdict(str):
    """Why the roster check gave no verdict; session_row leaves the key out and notes this."""

    __slots__ = ()
