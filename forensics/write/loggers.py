"""Append session and replay rows, row-for-row compatible with the Go and Rust producers.

Guarantees (docs/SESSION_LOG.md, "Writing rows from Python: what the writer guarantees"):
- one ``write(2)`` of ``json + "\\n"`` per row on a file opened ``O_APPEND``, so rows from
  several threads or processes never interleave;
- best effort, never raising into the calling service: every call leaves a row when the file
  can be written at all, a value that cannot be written as given is replaced by a marker
  saying what it was, and every failure is counted on ``errors`` and logged once;
- a verdict is never invented: ``grounded_in_roster`` is written only from a real boolean.

The row shapes live in :mod:`.rows`, their stamps in :mod:`.stamps`, the record of an iterate
call's outcome in :mod:`.outcomes`, the encoder in :mod:`.jsonsafe` and the file handling in
:mod:`.appendlog`; the public names are all importable here.
"""

from __future__ import annotations

import os
from typing import Any

from .appendlog import AppendLog
from .jsonsafe import MAX_DEPTH, MAX_NODES, encode_line, encode_row
from .markers import Marker, exception_text
from .outcomes import build_session_record
from .rows import (
    ATTEMPT_KEYS,
    MAX_ATTEMPTS,
    REPLAY_KEYS,
    REPLAY_SCHEMA,
    SESSION_KEYS,
    SESSION_SCHEMA,
    attempt_row,
    replay_row,
    session_row,
)
from .stamps import new_session_id, utc_timestamp

__all__ = [
    "ATTEMPT_KEYS",
    "MAX_ATTEMPTS",
    "MAX_DEPTH",
    "MAX_NODES",
    "REPLAY_KEYS",
    "REPLAY_SCHEMA",
    "SESSION_KEYS",
    "SESSION_SCHEMA",
    "Marker",
    "ReplayLogger",
    "SessionLogger",
    "attempt_row",
    "build_session_record",
    "encode_line",
    "new_session_id",
    "replay_row",
    "session_row",
    "utc_timestamp",
]


class SessionLogger(AppendLog):
    """Appends ``session.iterate.v1`` rows; a falsy path gives a disabled logger.

    Keep one per daemon and reuse it: it holds one descriptor for its life. A logger made per
    call works too (its descriptor is closed when it is dropped) but opens the file every time.
    """

    def __init__(self, path: str | os.PathLike | None, daemon: str = "forensics") -> None:
        super().__init__(path)
        self.daemon = daemon

    def append(self, record: Any) -> bool:
        """Append one record (mapping or object); True only when the row was written whole, as given."""
        try:
            if self.path is None:
                return False
            problems: list = []
            try:
                data = encode_row(session_row(record, self.daemon, problems), problems)
            except Exception as exc:  # the record defeated the row builder: still leave a row
                data = _last_resort(session_row, record, exc, problems, self.daemon)
            return self._write(data, problems)
        except Exception as exc:
            # No stack or memory left even for that: typically RecursionError, the caller having
            # called in with almost no stack. Nothing here may call a Python function (a call
            # needs a frame); the next append with room logs it.
            self.errors += 1
            self._failures.unlogged = exc
            return False


class ReplayLogger(AppendLog):
    """Appends ``replay.run.v1`` rows with the same guarantees as :class:`SessionLogger`."""

    def append(self, record: Any) -> bool:
        """Append one replay run; True only when the row was written whole, as given."""
        try:
            if self.path is None:
                return False
            problems: list = []
            try:
                data = encode_row(replay_row(record), problems)
            except Exception as exc:
                data = _last_resort(lambda r, *_: replay_row(r), record, exc, problems)
            return self._write(data, problems)
        except Exception as exc:  # see SessionLogger.append: nothing here may call a function
            self.errors += 1
            self._failures.unlogged = exc
            return False


def _last_resort(build, record: Any, exc: BaseException, problems: list, *args: Any) -> bytes | None:
    """A row of stamps and a marker, keeping the record's session id when it is plain text."""
    problems.append(("record", f"record: could not be read ({exception_text(exc)})"))
    fallback: dict = {"record": Marker(f"could not read the record: {exception_text(exc)}", "record")}
    try:
        if type(record) is dict and type(record.get("session_id")) is str:
            fallback["session_id"] = record["session_id"]
        return encode_row(build(fallback, *args), [])
    except Exception:
        return None
