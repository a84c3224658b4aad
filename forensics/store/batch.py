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

# What an ingest lets DuckDB hold; past it DuckDB spills to the store's private folder. The
# process adds Python's and DuckDB's own (readers' buffers, Parquet writers): it stays under 1 GiB.
INGEST_MEMORY = "512MB"
# Rows of one day a thread holds before writing them out as a row group.
FLUSH_ROWS = 1024


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
    """Each stream's tails to Parquet by day, placed in the store; `written` lists what was placed.

    One strict pass first: DuckDB refuses any line that is not a row of its stream, so a tail
    it reads whole, with a row for every line, needs no check (a cold read of a clean log
    trusts the same pass). Only a refusal, or fewer rows than lines (blank lines, which DuckDB
    does not number), sends the tails through the check and the tolerant read, as before.
    """
    import duckdb

    from ..read.scans import FileScan, ScanReport
    from ..read.sources import Sources
    from .connection import Store
    from .lake import tail_report

    with Store(Sources(), lake=lake, check_first=False) as st:
        con = st.con
        con.execute("set preserve_insertion_order = false")
        # A partitioned write holds each thread's unwritten rows of every day it has met: an
        # ingest's memory would grow with the log. Capped, DuckDB spills them (inside the store's
        # private folder), which costs more than the write itself; so each day's rows are
        # written out in small row groups instead, often enough that weeks of days fit under
        # the cap (bench/README.md, "Issue 26").
        con.execute(f"set partitioned_write_flush_threshold = {FLUSH_ROWS}")
        con.execute(f"set memory_limit = '{INGEST_MEMORY}'")
        con.execute(f"set temp_directory = '{sql_path(tmp / 'spill')}'")
        try:
            for stream in STREAMS:
                _stage(con, tmp, stream, batch)
            counted = _rows_by_tail(con, tmp, lake)
        except (duckdb.InvalidInputException, duckdb.ConversionException, duckdb.IOException):
            counted = None
        if counted is not None:
            st.reader.checked = ScanReport(
                [FileScan(path=t.read_path, stream=t.segment.stream, rows=t.lines) for t in lake.tails]
            )
        else:
            for stream in STREAMS:
                shutil.rmtree(tmp / f"stage-{stream}", ignore_errors=True)
            st.reader.check()
            st._run(st._build_views)
            for stream in STREAMS:
                try:
                    _stage(con, tmp, stream, batch)
                except (duckdb.InvalidInputException, duckdb.ConversionException):
                    if not st.reader.strict:
                        raise
                    # A row the optimistic reader cannot type (attempts that are no list, as the
                    # writer's own marker is) is read as a cold read reads it: tolerantly, an empty cell.
                    st._read_tolerantly()
                    shutil.rmtree(tmp / f"stage-{stream}", ignore_errors=True)
                    _stage(con, tmp, stream, batch)
        scans = tail_report(st.reader.checked, lake)
        for stream in STREAMS:
            written += _place(con, root, tmp / f"stage-{stream}", stream, batch)
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


def _stage(con, tmp: Path, stream: str, batch: int) -> None:
    """One stream's tails written as Parquet by UTC day into the private folder, in one pass.

    At zstd's lowest level: a store is written once per line and read many times, and the
    level that costs a tenth less of the ingest makes the files a few percent larger.
    """
    view = "_sessions_files" if stream == "sessions" else "_replay_files"
    cols = [
        c
        for c, _ in con.execute(f"select column_name, column_type from (describe {view})").fetchall()
        if not c.startswith("_") and c not in COMPUTED_ON_READ
    ]
    select = ", ".join(f'"{c}"' for c in cols)
    con.execute(
        f"""copy (
            select {select}, _file_id as file_id, _fingerprint as fingerprint, $batch::bigint as batch,
                coalesce(strftime("timestamp", '%Y-%m-%d'), 'unknown') as day
            from {view}
        ) to '{sql_path(tmp / f"stage-{stream}")}' (format parquet, partition_by (day), compression zstd, compression_level 1)""",
        {"batch": batch},
    )


def _rows_by_tail(con, tmp: Path, lake) -> dict | None:
    """The rows staged of each source file, if every line its tails hold became one (else None).

    DuckDB numbers a file's non-blank lines: a file with blank lines (or a line the strict
    pass did not refuse yet did not read as a row) has fewer rows than lines, and is checked.
    """
    lines: dict[int, int] = {}
    for t in lake.tails:
        lines[t.segment.checkpoint.id] = lines.get(t.segment.checkpoint.id, 0) + t.lines
    staged = sorted(str(p) for p in tmp.glob("stage-*/*/*.parquet"))
    rows: dict[int, int] = {}
    if staged:
        rows = dict(con.execute("select file_id, count(*) from read_parquet(?) group by all", [staged]).fetchall())
    return rows if all(rows.get(k, 0) == n for k, n in lines.items()) else None


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
