"""An append-only JSON-lines file that never raises, never hangs and never leaks a descriptor.

Each row goes out in one ``write(2)`` on a descriptor opened ``O_APPEND``, so rows from several
threads or processes never interleave. What can go wrong with the file (a NUL byte in the path,
permission denied, a full disk, a removed directory) is counted on ``errors`` and logged once.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import weakref
from typing import Any

from ..output import counted
from .markers import describe, exception_text, safe_text

log = logging.getLogger("forensics.writer")

# Live logs, held weakly: one fork handler for all of them, and a dropped log is freed (and
# its descriptor closed) at once instead of being kept alive by a handler of its own.
_LIVE: weakref.WeakSet[AppendLog] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for appender in list(_LIVE):
        appender._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

# Files (by device and inode) whose last append was cut short: the next row written to one, by
# any logger in this process, starts with a newline so it is not glued onto the fragment.
# Known here rather than read back from the file before every append: the last byte of a file
# another process is still appending to is not yet a newline, and reading it then would end a
# line that was not torn (the file is read only after a failed write; see _ends_mid_line).
_TORN: set = set()

# O_NONBLOCK: a path that names a FIFO with no reader must fail, not block the caller forever.
_FLAGS = os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0)


def _failure(exc: BaseException) -> tuple:
    """(kind, text) of an exception from the file: the kind decides what is logged once."""
    return ("io", type(exc).__name__, getattr(exc, "errno", None)), exception_text(exc)


def _short(n: int, size: int) -> tuple:
    # A short write is the disk filling up (or a quota): the same kind as the ENOSPC after it.
    return ("io", "OSError", errno.ENOSPC), f"short write: {n:,} of {counted(size, 'byte')} (disk full or over quota)"


def _ends_mid_line(path) -> bool:
    """True when the regular file at path does not end with a newline (a torn last line).

    Read only after a failed write: a file another process is appending a long row to does
    not end with a newline yet either, and would get a needless blank line.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except Exception:
        return False
    try:
        st = os.fstat(fd)
        return stat.S_ISREG(st.st_mode) and st.st_size > 0 and os.pread(fd, 1, st.st_size - 1) != b"\n"
    except OSError:
        return False
    finally:
        os.close(fd)


_QUIET = " (repeats are counted on .errors, not logged, until an append goes cleanly)"


class _OpenFile:
    """The file a log appends to: its name in messages, and the descriptor kept open between appends."""

    __slots__ = ("close_pending", "fd", "ident", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.fd: int | None = None
        self.ident: tuple[int, int] | None = None  # (device, inode) the descriptor was opened on
        self.close_pending = False  # close() came in the middle of an append: done when it ends

    def open(self, path: str | bytes) -> int:
        """Open path for appending (making its directory when missing) and return the descriptor."""
        try:
            fd = os.open(path, os.O_WRONLY | _FLAGS, 0o644)
        except FileNotFoundError:
            parent = os.path.dirname(path)
            if not parent:
                raise
            os.makedirs(parent, exist_ok=True)  # the directory was never made, or removed since
            fd = os.open(path, os.O_WRONLY | _FLAGS, 0o644)
        try:
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        self.fd, self.ident = fd, (st.st_dev, st.st_ino)
        return fd

    def close(self) -> None:
        """Close the descriptor, if one is open; a close that fails still lets it go."""
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
        self.fd = None


class _Failures:
    """What a log has learnt from failing: a bad path, the last write, what it logged and what it could not yet."""

    # Plain slots: SessionLogger.append records a failure here when there is no stack left to
    # call a function, and setting a slot calls none.
    __slots__ = ("bad_path", "failed", "quiet", "unlogged")

    def __init__(self) -> None:
        # The last write failed. The disk may have been full for every process, and another's
        # torn fragment may end the file: the next write looks before it appends.
        self.failed = False
        self.quiet: Any = None  # the failure last logged
        self.unlogged: BaseException | None = None  # a failure there was no stack left to log
        self.bad_path: str | None = None  # why the path given is not a path


class AppendLog:
    """A best-effort, process- and thread-safe appender of JSON lines to one file."""

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.errors = 0
        self.written = 0
        self._lock = threading.RLock()
        self._depth = 0
        self._failures = _Failures()
        try:
            self.path = os.fspath(path) if path else None
        except Exception:
            self.path, self._failures.bad_path = path, f"{describe(path)} is not a path"
        self._file = _OpenFile(describe(path) if self._failures.bad_path else safe_text(os.fsdecode(self.path or "")))
        _LIVE.add(self)

    @property
    def enabled(self) -> bool:
        """True when the logger has a path to write to."""
        return self.path is not None

    def _forked(self) -> None:
        # A lock held by another thread at fork() time would stay held forever in the child.
        self._lock = threading.RLock()
        self._depth = 0
        self._file.close()

    def __del__(self) -> None:
        file = self.__dict__.get("_file")
        fd = None if file is None else file.fd
        if fd is not None:
            try:
                os.close(fd)
            except Exception:
                pass

    def close(self) -> None:
        """Close the file descriptor; a later append reopens it."""
        with self._lock:
            if self._depth:  # called from a signal handler in the middle of an append
                self._file.close_pending = True
            else:
                self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def append_line(self, line: bytes | str) -> bool:
        """Append one already-encoded JSON line (a newline is added if missing), best effort."""
        try:
            if self.path is None:
                return False
            problems: list = []
            if isinstance(line, str):
                text = safe_text(line)
                if text is not line and text != line:
                    problems.append(("surrogate", "line: a lone surrogate, written as a \\u escape"))
                data = text.encode("utf-8")
            elif isinstance(line, (bytes, bytearray, memoryview)):
                data = bytes(line)
            else:
                return self._write(None, [("unwritable", f"line: {describe(line)} is not text or bytes")])
            return self._write(data if data.endswith(b"\n") else data + b"\n", problems)
        except Exception as exc:  # see SessionLogger.append: nothing here may call a function
            self.errors += 1
            self._failures.unlogged = exc
            return False

    # --- the one place that touches the file --------------------------------------------

    def _write(self, data: bytes | None, problems: list) -> bool:
        """Write one line, count and log what went wrong; True only for a clean, whole row."""
        with self._lock:
            self._depth += 1
            try:
                if data is None:
                    failure = None
                elif self._depth > 1:
                    # Re-entered on this thread (a signal handler or a finaliser ran inside an
                    # append): write through a descriptor of its own, leaving the outer call's alone.
                    failure = self._write_alone(data)
                else:
                    failure = self._write_shared(data)
                    if self._file.close_pending:
                        self._file.close_pending = False
                        self._file.close()
                ok = data is not None and failure is None
                if ok and not problems:
                    self.written += 1
                    self._failures.quiet = notice = None
                else:
                    notice = self._account(ok, failure, problems)
            finally:
                self._depth -= 1
        if self._failures.unlogged is not None:
            exc, self._failures.unlogged = self._failures.unlogged, None
            log.warning(
                "forensics: an earlier append to %s failed and could not say so then: %s",
                self._file.name,
                exception_text(exc),
            )
        if notice:
            log.warning("%s", notice)
        return ok and not problems

    def _write_shared(self, data: bytes) -> tuple | None:
        file, failures = self._file, self._failures
        if failures.bad_path:
            return ("path",), failures.bad_path
        torn = False
        try:
            fd = file.fd
            if fd is not None:
                # Reopen when the file was rotated or removed under us, so rows land in the
                # file readers look at, not in an unlinked inode.
                try:
                    st = os.stat(self.path)
                    if (st.st_dev, st.st_ino) != file.ident:
                        fd = None
                except OSError:
                    fd = None
                if fd is None:
                    file.close()
            if fd is None:
                fd = file.open(self.path)
            if (_TORN and file.ident in _TORN) or (failures.failed and _ends_mid_line(self.path)):
                # An append left a fragment (a short write): end it, so this row starts a line
                # of its own instead of being glued to it. Same write(2), same atomicity.
                data, torn = b"\n" + data, True
            n = os.write(fd, data)
        except Exception as exc:  # OSError, and ValueError for a NUL byte in the path
            file.close()
            failures.failed = True
            return _failure(exc)
        failures.failed = n != len(data)
        if not failures.failed:
            if torn:
                _TORN.discard(file.ident)
            return None
        if n > 0 and data[n - 1] != 0x0A:
            _TORN.add(file.ident)
        file.close()
        return _short(n, len(data))

    def _write_alone(self, data: bytes) -> tuple | None:
        if self._failures.bad_path:
            return ("path",), self._failures.bad_path
        try:
            fd = os.open(self.path, os.O_WRONLY | _FLAGS, 0o644)
        except Exception as exc:
            return _failure(exc)
        try:
            st = os.fstat(fd)
            ident = (st.st_dev, st.st_ino)
            if ident in _TORN:
                data = b"\n" + data
            n = os.write(fd, data)
        except Exception as exc:
            return _failure(exc)
        finally:
            os.close(fd)
        if n == len(data):
            _TORN.discard(ident)
            return None
        if n > 0 and data[n - 1] != 0x0A:
            _TORN.add(ident)
        return _short(n, len(data))

    def _account(self, ok: bool, failure: tuple | None, problems: list) -> str | None:
        """Count an append that did not go cleanly; the message to log, unless logged already."""
        if ok:
            self.written += 1
        self.errors += 1
        kind = failure[0] if failure else ("value", problems[0][0])
        if kind == self._failures.quiet:
            return None
        self._failures.quiet = kind
        parts = []
        if failure:
            parts.append(f"forensics: could not append to {self._file.name}: {failure[1]}")
        if problems:
            what = "; ".join(text for _, text in problems[:3])
            more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
            verb = "wrote a row to" if ok else "in the row for"
            parts.append(
                f"forensics: {verb} {self._file.name}, {counted(len(problems), 'value')} could not be written as given: {what}{more}"
            )
        return "; ".join(parts) + _QUIET
