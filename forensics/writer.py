"""Append session and replay rows, row-for-row compatible with the Go and Rust producers.

Guarantees (see docs/SESSION_LOG.md):
- one ``write(2)`` of ``json + "\\n"`` per row on a file opened ``O_APPEND``, so rows from
  several threads or processes never interleave;
- best effort: nothing here raises into the calling service; failures are counted on
  ``errors`` and reported through :mod:`logging`.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import orjson

log = logging.getLogger("forensics.writer")

SESSION_SCHEMA = "session.iterate.v1"
REPLAY_SCHEMA = "replay.run.v1"

# The stable key order of a session row: the order of the format's table. Keys the
# format does not know (newer producers add fields) follow in the caller's order.
SESSION_KEYS = (
    "schema", "timestamp", "daemon", "session_id", "kind", "model", "provider", "prompt",
    "iterations", "max_iterations", "final_verdict", "attempts", "artifact",
    "grounded_in_roster", "duration_ms",
)
ATTEMPT_KEYS = ("iteration", "verdict_kind", "error", "span_id")
REPLAY_KEYS = (
    "schema", "timestamp", "session_id", "task_id", "model", "provider", "retrieval",
    "output", "latency_ms", "tokens_in", "tokens_out", "status", "error",
)

# Go's zero values: a Go struct writes these keys even when the caller left them unset.
_SESSION_ZERO = {
    "kind": "", "model": "", "provider": "", "prompt": "", "iterations": 0,
    "max_iterations": 0, "final_verdict": "", "attempts": (), "duration_ms": 0,
}
# Omitted when absent, never written as null (the fixtures pin this).
_SESSION_OPTIONAL = ("artifact", "grounded_in_roster")
_ATTEMPT_OPTIONAL = ("error", "span_id")


def new_session_id() -> str:
    """Return a time-ordered id: 16 hex digits of Unix nanoseconds, '-', 8 random hex digits."""
    return f"{time.time_ns():016x}-{secrets.token_hex(4)}"


_last_second: list = [None, ""]  # (whole second, its formatted prefix): strftime is costly


def utc_timestamp(ns: int | None = None) -> str:
    """Format Unix nanoseconds (default: now) as RFC 3339 UTC with trimmed fractional seconds."""
    ns = time.time_ns() if ns is None else ns
    seconds, frac = divmod(ns, 1_000_000_000)
    cached = _last_second
    if cached[0] != seconds:
        cached[1] = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        cached[0] = seconds
    base = cached[1]
    # Go's RFC3339Nano trims trailing zeros; we keep at least one digit so the
    # value always carries fractional seconds as the format asks.
    digits = f"{frac:09d}".rstrip("0") or "0"
    return f"{base}.{digits}Z"


def _as_mapping(record: Any) -> dict:
    """Turn a mapping, dataclass or plain object into a dict (shallow)."""
    if isinstance(record, Mapping):
        return dict(record)
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    if hasattr(record, "__dict__"):
        return {k: v for k, v in vars(record).items() if not k.startswith("_")}
    raise TypeError(f"cannot log a {type(record).__name__}: expected a mapping or an object")


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """Read ``key`` from a mapping or an attribute from an object."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


_SESSION_KEYSET = frozenset(SESSION_KEYS)


def session_row(record: Any, daemon: str = "forensics") -> dict:
    """Return the ordered dict a session row is written as, with stamps and omission rules."""
    src = record if type(record) is dict else _as_mapping(record)
    get = src.get
    # Written out key by key: this is the writer's hot path (see bench/writer.py).
    row: dict[str, Any] = {
        "schema": get("schema") or SESSION_SCHEMA,
        "timestamp": get("timestamp") or utc_timestamp(),
        "daemon": get("daemon") or daemon,
        "session_id": get("session_id") or new_session_id(),
    }
    for key in ("kind", "model", "provider", "prompt", "iterations", "max_iterations", "final_verdict"):
        value = get(key)
        row[key] = _SESSION_ZERO[key] if value is None else value
    row["attempts"] = [attempt_row(a) for a in (get("attempts") or ())]
    for key in _SESSION_OPTIONAL:
        value = get(key)
        if value is not None:
            row[key] = value
    value = get("duration_ms")
    row["duration_ms"] = 0 if value is None else value
    if not _SESSION_KEYSET.issuperset(src):
        for key, value in src.items():
            if key not in _SESSION_KEYSET:
                row[key] = value
    return row


def attempt_row(attempt: Any) -> dict:
    """Return one attempt object in the stable key order; empty error and span_id omitted."""
    src = attempt if type(attempt) is dict else _as_mapping(attempt)
    get = src.get
    row: dict[str, Any] = {"iteration": get("iteration") or 0, "verdict_kind": get("verdict_kind") or ""}
    error, span = get("error"), get("span_id")
    if error is not None and error != "":
        row["error"] = error
    if span is not None and span != "":
        row["span_id"] = span
    return row


def replay_row(record: Any) -> dict:
    """Return the ordered dict a replay row is written as; absent keys stay absent."""
    src = _as_mapping(record)
    row: dict[str, Any] = {
        "schema": src.get("schema") or REPLAY_SCHEMA,
        "timestamp": src.get("timestamp") or utc_timestamp(),
    }
    for key in REPLAY_KEYS[2:]:
        value = src.get(key)
        if value is None or (key in ("error", "session_id") and value == ""):
            continue
        row[key] = value
    for key, value in src.items():
        if key not in row and key not in REPLAY_KEYS:
            row[key] = value
    return row


def _nonfinite(value: Any) -> bool:
    """True when a NaN or an infinity hides anywhere in the value (iterative: this is hot)."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    isfinite = math.isfinite
    while stack:
        v = pop()
        kind = type(v)
        if kind is str or kind is int or kind is bool:
            continue
        if kind is dict:
            extend(v.values())
        elif kind is list or kind is tuple:
            extend(v)
        elif kind is float and not isfinite(v):
            return True
    return False


def encode_line(row: Mapping) -> bytes:
    """Serialise one row as compact UTF-8 JSON plus newline; raises on unserialisable values.

    orjson writes the same bytes as ``json.dumps(ensure_ascii=False, separators=(",", ":"))``
    twenty times faster; it would write NaN as null, so non-finite floats are refused first.
    """
    for value in row.values():
        # Text and integers are most of a row; only containers and floats need a look.
        kind = type(value)
        if kind is not str and kind is not int and kind is not bool and value is not None and _nonfinite(value):
            raise ValueError("NaN and Infinity are not JSON")
    return orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)


def _sanitise(value: Any) -> Any:
    """Make a value JSON-safe: non-finite floats become null, unknown objects their str()."""
    if isinstance(value, Mapping):
        return {str(k): _sanitise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sanitise(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class _AppendLog:
    """A best-effort, process- and thread-safe appender of JSON lines to one file."""

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.path = os.fspath(path) if path else None
        self.errors = 0
        self.written = 0
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._made_dirs = False
        # A lock held by another thread at fork() time would stay held forever in the
        # child; give the child a fresh one and its own descriptor.
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    @property
    def enabled(self) -> bool:
        """True when the logger has a path to write to."""
        return bool(self.path)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._close()

    def _close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None
        self._ident = None

    def close(self) -> None:
        """Close the file descriptor; a later append reopens it."""
        with self._lock:
            self._close()

    def _open(self) -> int:
        assert self.path
        if not self._made_dirs:
            parent = os.path.dirname(self.path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            self._made_dirs = True
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        st = os.fstat(fd)
        self._fd, self._ident = fd, (st.st_dev, st.st_ino)
        return fd

    def _descriptor(self) -> int:
        # Reopen when the file was rotated or removed under us, so rows land in the
        # file readers look at, not in an unlinked inode.
        if self._fd is not None:
            try:
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) == self._ident:
                    return self._fd
            except FileNotFoundError:
                pass
            self._close()
        return self._open()

    def _fail(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        log.warning("forensics: could not %s %s: %s", what, self.path, exc)

    def _append_bytes(self, data: bytes) -> bool:
        with self._lock:
            try:
                fd = self._descriptor()
                n = os.write(fd, data)
                if n != len(data):
                    # A short write leaves a torn line; readers count it as unreadable.
                    raise OSError(errno.ENOSPC, f"short write: {n} of {len(data)} bytes")
            except OSError as exc:
                self._close()
                self._fail("append to", exc)
                return False
        self.written += 1
        return True

    def _append_row(self, build: Callable[..., dict], *args: Any) -> bool:
        if not self.path:
            return False
        try:
            row = build(*args)
        except Exception as exc:  # a bad record must not break the caller
            self._fail("build a row for", exc)
            return False
        try:
            data = encode_line(row)
        except (TypeError, ValueError) as exc:
            # Keep the row (a call that leaves no row is invisible) but say so.
            self._fail("serialise a value for", exc)
            try:
                data = json.dumps(_sanitise(row), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            except Exception as exc2:  # pragma: no cover - _sanitise makes it JSON-safe
                self._fail("serialise a row for", exc2)
                return False
            return self._append_bytes(data) and False
        return self._append_bytes(data)

    def append_line(self, line: bytes | str) -> bool:
        """Append one already-encoded JSON line (a newline is added if missing), best effort."""
        if not self.path:
            return False
        data = line.encode("utf-8") if isinstance(line, str) else bytes(line)
        return self._append_bytes(data if data.endswith(b"\n") else data + b"\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SessionLogger(_AppendLog):
    """Appends ``session.iterate.v1`` rows; a falsy path gives a disabled logger."""

    def __init__(self, path: str | os.PathLike | None, daemon: str = "forensics") -> None:
        super().__init__(path)
        self.daemon = daemon

    def append(self, record: Any) -> bool:
        """Append one record (mapping or object); returns True when the row was written cleanly."""
        return self._append_row(session_row, record, self.daemon)


class ReplayLogger(_AppendLog):
    """Appends ``replay.run.v1`` rows with the same guarantees as :class:`SessionLogger`."""

    def append(self, record: Any) -> bool:
        """Append one replay run; returns True when the row was written cleanly."""
        return self._append_row(replay_row, record)


def _history(items: Any) -> list[dict]:
    out = []
    for item in items or ():
        # Only the attempt keys: the raw model text and other extras stay out of the log.
        out.append({k: _get(item, k) for k in ATTEMPT_KEYS})
    return out


def build_session_record(
    request: Any,
    *,
    response: Any = None,
    failure: Any = None,
    error: BaseException | str | None = None,
    roster_check: Callable[[Any], bool | None] | None = None,
    duration_ms: int = 0,
) -> dict:
    """Assemble a session row from any outcome of an iterate call (accepted, exhausted, infra error)."""
    record: dict[str, Any] = {
        "kind": _get(request, "kind"),
        "model": _get(request, "model"),
        "provider": _get(request, "provider"),
        "prompt": _get(request, "prompt"),
        "max_iterations": _get(request, "max_iterations"),
        "duration_ms": int(duration_ms or 0),
    }
    outcome = response if response is not None else failure
    trace = _get(outcome, "trace_id") or _get(request, "trace_id")
    record["session_id"] = trace or new_session_id()
    if response is not None:
        artifact = _get(response, "artifact")
        record.update(
            iterations=_get(response, "iterations", 0),
            final_verdict="accepted",
            attempts=_history(_get(response, "history")),
            artifact=artifact,
        )
        if roster_check is not None:
            try:
                verdict = roster_check(artifact)
            except Exception as exc:
                # The check did not run to a verdict: omit it (the "unverified" warning).
                log.warning("forensics: roster check failed: %s", exc)
                verdict = None
            if verdict is not None:
                record["grounded_in_roster"] = bool(verdict)
    elif failure is not None:
        record.update(
            iterations=_get(failure, "iterations", 0),
            final_verdict="max_iter_exhausted",
            attempts=_history(_get(failure, "history")),
        )
    else:
        if error is None:
            text = "no response, failure or error was given"
        elif isinstance(error, BaseException):
            text = str(error) or type(error).__name__
        else:
            text = str(error)
        record.update(
            iterations=0,
            final_verdict="infra_error",
            attempts=[{"iteration": 0, "verdict_kind": "infra_error", "error": text}],
        )
    return record
