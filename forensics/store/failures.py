"""Alarm findings kept in a file (`alarm --store-failures`): their full rows appended to JSONL or Parquet.

Every writer holds the file's lock (`PATH.lock`, never followed through a link) while it appends or
rewrites, so two alarms sharing one file keep each other's rows; a Parquet file is rewritten to a
hidden copy that replaces it whole, so a kill leaves the old file, and the next writer removes the copy.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..paths import fsync_path
from ..read.lines import ordinals_of
from .physical import has_blank_lines, readable_path

# How long a writer waits for another one sharing the file.
LOCK_WAIT_S = 60.0


@contextmanager
def locked(path: Path, wait: float = LOCK_WAIT_S):
    """Hold ``path``'s lock (a TimeoutError, an OSError, when another writer keeps it past ``wait``)."""
    from filelock import FileLock

    lock = FileLock(str(path) + ".lock")
    lock.acquire(timeout=wait)
    try:
        yield
    finally:
        lock.release()


def write_rows(store, found: list[dict], path: Path, *, wait: float = LOCK_WAIT_S) -> int:
    """Append the full session rows of these alarm findings to JSONL, or Parquet by extension.

    Each finding names its row by ``source_file`` and physical ``line`` and carries
    ``alarm``, ``severity``, ``state`` and ``found_at``, written before the row's own columns.
    Nothing already in the file is overwritten: JSONL is appended to, and a Parquet file is
    rewritten with its old rows plus the new ones, then atomically replaced.
    """
    from ..output import plain
    from ..paths import append_lines

    wanted = []
    by_file: dict[str, list[dict]] = {}
    for f in found:
        if f.get("source_file") is not None and f.get("line") is not None:
            by_file.setdefault(f["source_file"], []).append(f)
    for source_file, items in by_file.items():
        # The views number non-blank lines; a file with blank lines is mapped back.
        back = (
            ordinals_of(readable_path(store, source_file), [f["line"] for f in items])
            if has_blank_lines(store, source_file)
            else {}
        )
        wanted += [
            (source_file, back.get(f["line"], f["line"]), f["alarm"], f["severity"], f["state"], f["found_at"])
            for f in items
        ]
    con = store.con
    con.execute(
        "create or replace temp table _wanted (source_file varchar, line bigint, alarm varchar, "
        "severity varchar, state varchar, found_at timestamptz)"
    )
    if wanted:
        con.executemany("insert into _wanted values (?, ?, ?, ?, ?, ?)", [list(k) for k in wanted])
    # From the files, not the (possibly narrow) loaded table: the full rows.
    rel = con.sql(
        """select w.alarm, w.severity, w.state, w.found_at, s.*
        from _sessions_files as s
        join _wanted as w
            on w.source_file = s.source_file
            and w.line = s.line
        order by s.source_file, s.line, w.alarm"""
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        with locked(path, wait):
            return store._run(lambda: _append_parquet(con, rel, path))
    columns = rel.columns
    rows = store._run(rel.fetchall)
    hidden = {"_batch", "_file_id", "_fingerprint"}
    text = []
    for row in rows:
        rec = {k: v for k, v in zip(columns, row) if k not in hidden}
        for k in ("artifact", "grounded_in_roster_raw"):
            if isinstance(rec.get(k), str):
                rec[k] = json.loads(rec[k])
        text.append(json.dumps(plain(rec), ensure_ascii=False) + "\n")
    if text:  # one write: a reader never sees half a run
        with locked(path, wait):
            append_lines(path, "".join(text))
    return len(rows)


def _append_parquet(con, rel, path: Path) -> int:
    """Write rel's rows after those already in a Parquet file, replacing it atomically (the file's lock held)."""
    hidden = [c for c in ("_batch", "_file_id", "_fingerprint") if c in rel.columns]
    con.execute(
        "create or replace temp table _failures as select *"
        + (f" exclude ({', '.join(hidden)})" if hidden else "")
        + " from rel"
    )
    n = con.execute("select count(*) from _failures").fetchone()[0]
    # Under the lock no other writer is mid-rewrite: a copy left here was left by a kill.
    for old in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        old.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    try:
        if path.exists():
            con.execute(
                "copy (select * from read_parquet($old) union all by name select * from _failures) "
                "to $path (format parquet, use_tmp_file false)",
                {"old": str(path), "path": str(tmp)},
            )
        else:
            con.execute("copy _failures to $path (format parquet, use_tmp_file false)", {"path": str(tmp)})
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(path.parent, folder=True)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def append_records(records: list[dict], path: Path, *, wait: float = LOCK_WAIT_S) -> int:
    """Append finished records (an engine other than DuckDB fetched them) to JSONL, or Parquet by extension."""
    import duckdb

    from ..output import plain
    from ..paths import append_lines

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(plain(r), ensure_ascii=False) + "\n" for r in records)
    if not records:
        return 0
    if path.suffix != ".parquet":
        with locked(path, wait):
            append_lines(path, text)
        return len(records)
    # (a private name of its own: one beside the file could be a link planted there)
    fd, name = tempfile.mkstemp(suffix=".jsonl")
    tmp_json = Path(name)
    con = duckdb.connect()
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        con.execute(
            "create temp view rel as select * from read_json($p, format = 'newline_delimited')", {"p": str(tmp_json)}
        )
        with locked(path, wait):
            return _append_parquet(con, con.sql("select * from rel"), path)
    finally:
        con.close()
        tmp_json.unlink(missing_ok=True)
