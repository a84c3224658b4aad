"""Retention: the UTC days past the store's `--retain` dropped, never a row an alarm has not evaluated.

A day goes by the rows' own time (their UTC day), measured against this host's UTC date. A row
dated past the retention (a wrong clock, a backfill) is still held until every alarm memory that
reads the store has evaluated it: each alarm marks, once its memory is saved, the batch it has
evaluated through, and a Parquet file of a later batch is kept whatever its day.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .manifest import Manifest, commit, load, now_iso


def evaluated_through(manifest: Manifest) -> int | None:
    """The batch every alarm memory of the store has evaluated through; None when no alarm need be waited for.

    A memory whose state file is gone no longer holds rows back (its alarm, run again, starts
    afresh and evaluates every row). A store no alarm has marked holds every row back, unless
    it was ingested with `--retain-unevaluated` (a store no alarm reads).
    """
    # A mark is an alarm's own: an absolute path to its state file and a batch number. Anything else
    # (a hand-edited "." that exists as a folder, a `true` batch) is no memory of the store's.
    live = [
        e["batch"]
        for key, e in manifest.retention.evaluated.items()
        if isinstance(e, dict) and type(e.get("batch")) is int and os.path.isabs(key) and os.path.isfile(key)
    ]
    if live:
        return min(live)
    return None if manifest.retention.unevaluated else 0


def past_retention(manifest: Manifest, *, today=None) -> tuple[list[dict], list[dict]]:
    """The files of days past the retention: those to drop, and those held for an alarm."""
    if not manifest.retention.days:
        return [], []
    today = today or datetime.now(UTC).date()
    cutoff = (today - timedelta(days=manifest.retention.days - 1)).isoformat()
    # Day names are YYYY-MM-DD, so they compare as text; `unknown` and odd names never expire.
    old = [
        f
        for f in manifest.files
        if f["stream"] != "unreadable"
        and isinstance(f.get("day"), str)
        and len(f["day"]) == 10
        and f["day"][4] == "-"
        and f["day"] < cutoff
    ]
    through = evaluated_through(manifest)
    if through is None:
        return old, []
    return [f for f in old if f["batch"] <= through], [f for f in old if f["batch"] > through]


def expire_days(root: Path, manifest: Manifest, *, today=None) -> tuple[int, int]:
    """Drop the days past the retention that every alarm has evaluated (a commit); the files dropped and held."""
    drop, held = past_retention(manifest, today=today)
    if drop:
        gone = {f["path"] for f in drop}
        manifest.files = [f for f in manifest.files if f["path"] not in gone]
        at = now_iso()
        manifest.retired += [{"path": p, "at": at} for p in sorted(gone)]
        commit(root, manifest)
    return len(drop), len(held)


def mark_evaluated(root: Path, memory: str, batch: int, made: str | None, *, wait: float = 0) -> bool:
    """Record that the alarm memory ``memory`` has evaluated the store through ``batch``; False if not now.

    Called once the memory is saved. A store rebuilt since (another `created_at`) or a busy
    lock records nothing: retention then waits for a later run, which is the safe side.
    """
    from ..errors import ForensicsError
    from .lock import store_lock

    try:
        lock = store_lock(root, wait)
    except ForensicsError:
        return False
    try:
        manifest = load(root)
        if manifest is None or manifest.created_at != made or batch > manifest.batch:
            return False
        mark = manifest.retention.evaluated.get(memory)
        if isinstance(mark, dict) and mark.get("batch") == batch and not manifest.retention.unevaluated:
            return True
        manifest.retention.evaluated[memory] = {"batch": batch, "at": now_iso()}
        # An alarm reads this store now: rows it has not evaluated are held from here on.
        manifest.retention.unevaluated = False
        commit(root, manifest)
        return True
    except (OSError, ForensicsError):  # (a damaged manifest is the next ingest's to say)
        return False
    finally:
        lock.release()
