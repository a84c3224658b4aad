"""Compaction: each UTC day's small Parquet files merged into one, a commit of its own.

The files a compaction replaced or a retention dropped (`retention.py`) stay an hour (retired),
so a reader that opened the manifest before can still read them; later ingests delete them.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from .manifest import Manifest, commit, now_iso

# A compaction merges a day's files once it has this many.
COMPACT_AT = 24
# Files a compaction replaced are deleted this long after, so a reader that opened the
# manifest before can still read them.
RETIRE_AFTER_S = 3600


def sql_path(path: Path) -> str:
    """A store file's path as COPY takes it: COPY binds no file name, and only the store's own
    paths are ever formatted in."""
    return str(path).replace("'", "''")


def needs_compaction(manifest: Manifest) -> bool:
    """Whether a day of either stream holds COMPACT_AT files or more."""
    counts: dict = {}
    for f in manifest.files:
        key = (f["stream"], f["day"])
        counts[key] = counts.get(key, 0) + 1
    return any(n >= COMPACT_AT for (stream, _), n in counts.items() if stream != "unreadable")


def compact_store(root: Path, manifest: Manifest) -> int:
    """Merge each day's small files into one (a commit of its own); returns the files replaced."""
    import duckdb

    groups: dict = {}
    for f in manifest.files:
        if f["stream"] != "unreadable":
            groups.setdefault((f["stream"], f["day"]), []).append(f)
    replaced = 0
    merged = []
    con = duckdb.connect()
    try:
        for (stream, day), files in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            if len(files) < 2:
                continue
            rel = f"{stream}/day={day}/c{manifest.batch:09d}-{len(merged)}.parquet"
            con.execute(
                f"copy (select * from read_parquet(?::varchar[], union_by_name = true)) to '{sql_path(root / rel)}' "
                "(format parquet, compression zstd)",
                [[str(root / f["path"]) for f in files]],
            )
            merged.append(
                (
                    files,
                    {
                        "path": rel,
                        "stream": stream,
                        "day": day,
                        "rows": sum(f["rows"] for f in files),
                        "batch": max(f["batch"] for f in files),
                        "bytes": (root / rel).stat().st_size,
                    },
                )
            )
    finally:
        con.close()
    if not merged:
        return 0
    at = now_iso()
    for files, new in merged:
        gone = {f["path"] for f in files}
        manifest.files = [f for f in manifest.files if f["path"] not in gone] + [new]
        manifest.retired += [{"path": p, "at": at} for p in gone]
        replaced += len(files)
    commit(root, manifest)
    return replaced


def delete_retired(root: Path, manifest: Manifest) -> None:
    """Delete the files compactions replaced more than RETIRE_AFTER_S ago (a commit if any)."""
    from datetime import datetime

    now = datetime.now(UTC)
    keep = []
    for r in manifest.retired:
        age = (now - datetime.strptime(r["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)).total_seconds()
        if age >= RETIRE_AFTER_S:
            try:
                (root / r["path"]).unlink()
            except FileNotFoundError:
                pass
        else:
            keep.append(r)
    if len(keep) != len(manifest.retired):
        manifest.retired = keep
        commit(root, manifest)
