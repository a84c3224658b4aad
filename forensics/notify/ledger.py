"""What each receiver was sent: beside the alarm's memory, the messages not yet taken (kept until a receiver
takes them, in order) and the alerts open at each Alertmanager; saved atomically, under a lock, private.

A message is queued before the memory records the run as said, and dropped once its receiver took it:
none is lost, and none is sent twice after success (a kill between a receiver's answer and the save
sends that one message again).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from ..errors import ForensicsError
from ..output import escape

VERSION = 1


def ledger_path(memory_path: str | os.PathLike) -> Path:
    """The ledger beside a memory's state file: `alarm-state.json` -> `alarm-state.notify.json`."""
    path = Path(memory_path)
    stem = path.name[:-5] if path.name.endswith(".json") else path.name
    return path.with_name(f"{stem}.notify.json")


class Ledger:
    """The receivers' ledger; without a path (an alarm with no memory) it lives for this run only."""

    def __init__(self, path: Path | None, *, wait: float = 10.0):
        self.path = path
        self.wait = wait
        self._kept = {"version": VERSION, "receivers": {}}

    @contextmanager
    def locked(self):
        """Hold the ledger's lock while it is read, changed and saved (as the memory's is)."""
        from filelock import FileLock, Timeout

        if self.path is None:
            yield
            return
        lock = FileLock(str(self.path) + ".lock")
        try:
            lock.acquire(timeout=self.wait)
        except Timeout:
            raise ForensicsError(
                f"the receivers' ledger {escape(str(self.path))} stayed locked by another forensics alarm; "
                f"gave up after {self.wait:g}s"
            ) from None
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def sending(self):
        """True while this run alone delivers (another delivering: False, and this run leaves it to the next)."""
        from filelock import FileLock, Timeout

        if self.path is None:
            yield True
            return
        lock = FileLock(str(self.path) + ".send.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def load(self) -> dict:
        """{"version": 1, "receivers": {key: {"name", "kind", "pending": [...], "open": {...}, "last": {...}}}}."""
        if self.path is None:
            return json.loads(json.dumps(self._kept))
        if self.path.is_symlink():
            raise ForensicsError(
                f"the receivers' ledger {escape(str(self.path))} is a symbolic link; put the file there"
            )
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": VERSION, "receivers": {}}
        except (OSError, ValueError) as exc:
            raise ForensicsError(
                f"the receivers' ledger {escape(str(self.path))} cannot be read ({escape(str(exc))}); move it aside "
                "(what it still held for the receivers is then not sent)"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("receivers"), dict):
            raise ForensicsError(f"the receivers' ledger {escape(str(self.path))} is damaged; move it aside")
        return data

    def save(self, state: dict) -> None:
        """Replace the ledger atomically, with the memory's file mode."""
        if self.path is None:
            self._kept = json.loads(json.dumps(state))
            return
        from ..paths import write_atomic

        body = json.dumps({**state, "version": VERSION}, ensure_ascii=False, indent=1)
        write_atomic(self.path, body.encode("utf-8"))


def entry(state: dict, receiver) -> dict:
    """The ledger's entry of one receiver, made on first use."""
    e = state["receivers"].setdefault(receiver.key, {})
    e.update(name=receiver.name, kind=receiver.kind)
    e.setdefault("pending", [])
    e.setdefault("open", {})
    return e
