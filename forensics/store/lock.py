"""The store's own lock: one ingest (or one retention mark) changes the manifest at a time."""

from __future__ import annotations

from pathlib import Path

from ..errors import ForensicsError
from .manifest import StoreError

LOCK_NAME = ".lock"


def store_lock(root: Path, wait: float):
    """The store's own lock, held by one ingest at a time."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(root / LOCK_NAME))
    try:
        lock.acquire(timeout=wait)
    except Timeout:  # (a TimeoutError, so an OSError: caught first)
        raise ForensicsError(
            f"store {root}: another ingest holds {root / LOCK_NAME}; gave up after {wait:g}s"
        ) from None
    except OSError as exc:  # a read-only store, a full disk
        raise StoreError(f"store {root}: cannot take its lock {root / LOCK_NAME}: {exc.strerror or exc}") from exc
    return lock
