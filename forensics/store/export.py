"""File output: the views as Parquet, CSV or JSON lines for other tools; full session rows by file and line.

`export_views` hands each view to DuckDB's own COPY, so rows never pass through Python and
memory stays bounded whatever the size of the logs (`bench/export.py` measures it). Rows
come in no particular order: keeping the files' order means a sort that holds every row
(on a 215 MB log, 901 MiB against 257 MiB; bench/README.md).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import ForensicsError, ParameterError, UsageError
from ..output import exist
from ..paths import fsync_path
from ..read.lines import nonblank_lines
from .physical import has_blank_lines, readable_path

VIEWS = ("sessions", "attempts", "replay_runs")

# COPY's options per format. A Parquet row group is cut by bytes as well as rows: by rows
# alone, 122,880 wide session rows make a row group of ~170 MB held per thread.
_COPY = {
    "parquet": "format parquet, row_group_size_bytes '32MB'",
    "csv": "format csv, header true",
    "jsonl": "format json",
}
EXPORT_FORMATS = tuple(_COPY)

# RFC 3339 in UTC (the store's time zone), the time every text output uses.
_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"

# DuckDB numbers a file's non-blank lines; people open files at physical lines. Files with
# blank lines get spans of ordinals with their shift, cut into buckets of this many
# ordinals so the join is an equality join (streamed) with a short range check.
_BUCKET = 4096


@dataclass(frozen=True)
class ExportedFile:
    """One file written: the view, its path, its rows and its size in bytes."""

    view: str
    path: Path
    rows: int
    bytes: int


def export_views(store, out_dir, fmt: str = "parquet", views=None, *, force: bool = False) -> list[ExportedFile]:
    """Write views (default: all three, replay_runs only when replay logs were given) to OUT_DIR/<view>.<fmt>."""
    if fmt not in _COPY:
        raise ParameterError(f"unknown export format {fmt!r}; try one of: {', '.join(EXPORT_FORMATS)}")
    wanted = _views(store, views)
    targets = {view: Path(out_dir) / f"{view}.{fmt}" for view in wanted}
    _prepare(Path(out_dir), list(targets.values()), force)
    # Honest reading: every line is checked first, so an unreadable one is counted and
    # skipped, never exported as a row of NULLs (the strict reader would stop at it anyway).
    store.check()
    try:
        shifted = _line_shifts(store)
        with _streaming(store.con, joins_lines=shifted):
            return [_write(store, view, target, fmt, shifted) for view, target in targets.items()]
    finally:
        store.con.execute("drop table if exists _export_lines")


@contextmanager
def _streaming(con, *, joins_lines: bool):
    """The settings under which COPY streams: no order kept, the line join built from its spans."""
    # Order is not kept (see the module's docstring): keeping it buffers rows.
    con.execute("set preserve_insertion_order = false")
    if joins_lines:
        # The planner cannot count a log's rows before reading it, so it would build the
        # line join's hash table from the log (every row held) instead of from the spans.
        con.execute("set disabled_optimizers = 'build_side_probe_side'")
    try:
        yield
    finally:
        con.execute("reset preserve_insertion_order")
        con.execute("reset disabled_optimizers")


def _views(store, views) -> list[str]:
    """The views to write, each once, in the order given; replay_runs only when it has files."""
    have_replay = bool(store.reader.paths["replay_runs"])
    if views is None:
        return [v for v in VIEWS if v != "replay_runs" or have_replay]
    wanted = list(dict.fromkeys(getattr(v, "value", v) for v in views))
    unknown = [v for v in wanted if v not in VIEWS]
    if unknown:
        raise ParameterError(f"unknown view {unknown[0]!r}; try one of: {', '.join(VIEWS)}")
    if not wanted:
        raise ParameterError("no view to export")
    if "replay_runs" in wanted and not have_replay:
        raise UsageError(
            "replay_runs was asked for but no replay runs were given "
            "(--replay-runs, $FORENSICS_REPLAY_RUNS or replay_runs in forensics.toml)"
        )
    return wanted


def _prepare(out: Path, targets: list[Path], force: bool) -> None:
    """Make the folder, prove it writable, refuse to overwrite without ``force``: all before reading a line."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is not a folder")
    probe = out / f".forensics-probe-{os.urandom(8).hex()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write in {out}: {e.strerror or e}") from e
    folders = [p for p in targets if p.is_dir()]
    if folders:
        raise UsageError(f"{folders[0]} is a folder, not a file that could be overwritten")
    there = [str(p) for p in targets if p.exists() or p.is_symlink()]
    if there and not force:
        raise UsageError(f"{exist(there)}; pass --force to overwrite {'it' if len(there) == 1 else 'them'}")


def _write(store, view: str, target: Path, fmt: str, shifted: bool) -> ExportedFile:
    """COPY one view to a hidden name beside the target, then rename it into place once complete."""
    # A random name in the user's folder: an export killed at any point leaves at most this
    # hidden file, never a part of a file under the final name.
    tmp = target.with_name(f".{target.name}.{os.urandom(8).hex()}.tmp")
    sql = f"copy ({_select(store, view, fmt, shifted)}) to $path ({_COPY[fmt]}, use_tmp_file false)"
    try:
        rows = store._run(lambda: store.con.execute(sql, {"path": str(tmp)}).fetchone()[0])
        fsync_path(tmp)
        os.replace(tmp, target)
    except OSError as e:
        raise ForensicsError(f"cannot write {target}: {e.strerror or e}") from e
    finally:
        tmp.unlink(missing_ok=True)
    fsync_path(target.parent, folder=True)
    return ExportedFile(view, target, rows, target.stat().st_size)


def _ident(name: str) -> str:
    """A column name as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _select(store, view: str, fmt: str, shifted: bool) -> str:
    """The view's columns as the format writes them: RFC 3339 text times and JSON lists in text, physical lines."""
    described = store.describe(view)
    names = {n for n, _ in described}
    mapped = shifted and {"source_file", "line"} <= names
    cols = []
    for name, typ in described:
        c = f"v.{_ident(name)}"
        if name == "line" and mapped:
            c = f"{c} + coalesce(m.shift, 0)"
        elif typ == "TIMESTAMP WITH TIME ZONE" and fmt != "parquet":
            c = f"strftime({c}, '{_ISO}')"
        elif fmt == "csv" and (typ.endswith("]") or typ.startswith(("STRUCT", "MAP", "UNION"))):
            # DuckDB's own text for a struct is no format any other tool reads.
            c = f"to_json({c})"
        cols.append(f"{c} as {_ident(name)}")
    join = ""
    if mapped:
        join = (
            f" left join _export_lines as m on m.source_file = v.source_file "
            f"and m.bucket = v.line // {_BUCKET} and v.line >= m.lo and v.line < m.hi"
        )
    return f"select {', '.join(cols)} from {view} as v{join}"


def _line_shifts(store) -> bool:
    """Fill `_export_lines` with (file, bucket, lo, hi, shift) for the files that have blank lines; False if none has."""
    con = store.con
    con.execute(
        "create or replace temp table _export_lines "
        "(source_file varchar, bucket bigint, lo bigint, hi bigint, shift bigint)"
    )
    any_file = False
    # Only the files read: one that could not be opened has no rows to number.
    for path, _ in store.reader.readable("sessions") + store.reader.readable("replay_runs"):
        try:
            if not has_blank_lines(store, path):
                continue
            any_file = True
            spans: list[tuple[int, int, int]] = []
            lo, shift, ordinal = 1, 0, 0
            for ordinal, lineno, _ in nonblank_lines(readable_path(store, path)):
                if lineno - ordinal != shift:
                    spans.append((lo, ordinal, shift))
                    lo, shift = ordinal, lineno - ordinal
                    if len(spans) >= 50_000:  # a file of many blank lines: a bounded batch at a time
                        _insert_spans(con, path, spans)
                        spans = []
        except OSError as e:  # rotated away or cut short since it was checked
            raise ForensicsError(f"cannot read {path} again to number its lines: {e.strerror or e}") from e
        spans.append((lo, ordinal + 1, shift))
        _insert_spans(con, path, spans)
    return any_file


def _insert_spans(con, path: str, spans: list[tuple[int, int, int]]) -> None:
    """Insert spans, each copied into every bucket it covers, as a few list parameters."""
    rows = [
        (b, lo, hi, shift) for lo, hi, shift in spans if lo < hi for b in range(lo // _BUCKET, (hi - 1) // _BUCKET + 1)
    ]
    if rows:
        buckets, los, his, shifts = (list(col) for col in zip(*rows))
        con.execute(
            "insert into _export_lines select $path, unnest($b), unnest($lo), unnest($hi), unnest($s)",
            {"path": path, "b": buckets, "lo": los, "hi": his, "s": shifts},
        )
