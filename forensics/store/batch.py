"""One ingest's batch: the tails read (every line checked) and written as Parquet files by UTC day.

Each file is written to the ingest's private folder, then moved into the store under this
batch's names, which no committed manifest lists: until the commit (ingest.py) they are
nobody's, and a killed ingest's are removed by the next one. Unreadable lines are stored
too, one Parquet file a batch, so a store reports them as a cold read does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ..read.columns import COMPUTED_ON_READ
from .compaction import sql_path
from .manifest import STREAMS

# What an ingest lets DuckDB hold (the process adds some 100 MiB of its own).
INGEST_MEMORY = "2GB"


class ReadFailed(Exception):
    """DuckDB refused what it read of a tail (the cause); the batch's placed files are removed."""


def write_batch(root: Path, lake, batch: int, tmp: Path):
    """Read the tails (every line checked) and write them as this batch's Parquet files."""
    import duckdb

    written: list[dict] = []
    try:
        return _write_streams(root, lake, batch, tmp, written)
    except duckdb.Error as exc:
        remove_written(root, written)  # this batch's files placed so far: never committed
        raise ReadFailed() from exc


def remove_written(root: Path, written: list[dict]) -> None:
    """Remove a batch's placed files (none of them committed)."""
    for f in written:
        try:
            (root / f["path"]).unlink()
        except FileNotFoundError:
            pass


def _write_streams(root: Path, lake, batch: int, tmp: Path, written: list[dict]):
    """Each stream's tails to Parquet by day, placed in the store; `written` lists what was placed."""
    import duckdb

    from ..read.sources import Sources
    from .connection import Store
    from .lake import tail_report

    with Store(Sources(), lake=lake) as st:
        scans = tail_report(st.reader.checked, lake)
        con = st.con
        con.execute("set preserve_insertion_order = false")
        # A partitioned write keeps every day's rows in memory until its file closes: without
        # a limit an ingest's memory grows with the log (bench/README.md). With one, DuckDB
        # flushes and spills instead, whatever the log's size.
        con.execute("set partitioned_write_flush_threshold = 32768")
        con.execute(f"set memory_limit = '{INGEST_MEMORY}'")
        for stream in STREAMS:
            view = "_sessions_files" if stream == "sessions" else "_replay_files"
            cols = [
                c
                for c, _ in con.execute(f"select column_name, column_type from (describe {view})").fetchall()
                if not c.startswith("_") and c not in COMPUTED_ON_READ
            ]
            select = ", ".join(f'"{c}"' for c in cols)
            stage = tmp / f"stage-{stream}"
            copy = f"""copy (
                    select {select}, _file_id as file_id, _fingerprint as fingerprint, $batch::bigint as batch,
                        coalesce(strftime("timestamp", '%Y-%m-%d'), 'unknown') as day
                    from {view}
                ) to '{sql_path(stage)}' (format parquet, partition_by (day), compression zstd)"""
            try:
                con.execute(copy, {"batch": batch})
            except (duckdb.InvalidInputException, duckdb.ConversionException):
                if not st.reader.strict:
                    raise
                # A row the optimistic reader cannot type (attempts that are no list, as the
                # writer's own marker is) is read as a cold read reads it: tolerantly, an empty cell.
                st._read_tolerantly()
                shutil.rmtree(stage, ignore_errors=True)
                con.execute(copy, {"batch": batch})
            written += _place(con, root, stage, stream, batch)
        bad = _unreadable_rows(scans, lake, batch)
        if bad:
            con.execute(
                "create temp table _forensics_bad (batch bigint, stream varchar, source_file varchar, "
                "file_id bigint, line bigint, cause varchar, starts varchar)"
            )
            con.executemany("insert into _forensics_bad values (?, ?, ?, ?, ?, ?, ?)", bad)
            rel = f"unreadable/b{batch:09d}.parquet"
            (root / "unreadable").mkdir(exist_ok=True)
            con.execute(f"copy _forensics_bad to '{sql_path(root / rel)}' (format parquet)")
            written.append(
                {
                    "path": rel,
                    "stream": "unreadable",
                    "day": None,
                    "rows": len(bad),
                    "batch": batch,
                    "bytes": (root / rel).stat().st_size,
                }
            )
    return written, scans


def _place(con, root: Path, stage: Path, stream: str, batch: int) -> list[dict]:
    """Move the staged day folders' files into the store under this batch's names."""
    out = []
    if not stage.exists():
        return out
    for day_dir in sorted(stage.iterdir()):
        day = day_dir.name.split("=", 1)[1]
        target = root / stream / day_dir.name
        target.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(sorted(day_dir.glob("*.parquet"))):
            rel = f"{stream}/{day_dir.name}/b{batch:09d}-{i}.parquet"
            rows = con.execute("select coalesce(sum(num_rows), 0) from parquet_file_metadata(?)", [str(f)]).fetchone()[
                0
            ]
            os.replace(f, root / rel)
            out.append(
                {
                    "path": rel,
                    "stream": stream,
                    "day": day,
                    "rows": int(rows),
                    "batch": batch,
                    "bytes": (root / rel).stat().st_size,
                }
            )
    return out


def _unreadable_rows(scans, lake, batch: int) -> list[list[Any]]:
    by_path = {t.segment.path: t for t in lake.tails}
    rows = []
    for scan in scans.files:
        t = by_path.get(scan.path)
        if t is None:
            continue
        for _, line, cause in scan.bad.at:
            rows.append(
                [batch, scan.stream, scan.path, t.segment.checkpoint.id, line, cause, scan.bad.previews.get(line, "")]
            )
    return rows
