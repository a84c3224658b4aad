"""Loading once: the logs (or a store's files) parsed into temp tables behind the same view names,
narrowed to the columns and the window a command needs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..read.check import FEW_FILES
from ..read.columns import is_row_sql, replay_typed_select, replay_typed_spec
from ..read.narrow import view_over
from ..read.reader import NOT_A_ROW
from ..read.scans import ScanReport

if TYPE_CHECKING:
    from .connection import Store

# Kept in every narrow load: what an alarm row is reported with.
_ALWAYS_KEPT = frozenset({"session_id", "timestamp", "timestamp_raw", "model", "kind", "daemon", "source_file", "line"})

VIEWS = {"sessions": "_sessions_files", "replay_runs": "_replay_files"}
_TABLES = {"sessions": "_sessions_all", "replay_runs": "_replay_mat"}
# A store's window up to this many bytes of Parquet is loaded into a table (a few times that in memory).
SMALL_LOAD_BYTES = 16 * 1024 * 1024


@dataclass
class Loaded:
    """What `materialize` put behind the views."""

    window_only: bool
    replay: bool
    scan: ScanReport | None = None


def materialize(
    store: Store,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    replay: bool = False,
    columns: set[str] | dict[str, set[str]] | None = None,
    window_only: bool = False,
    lines: bool = True,
    after_batch: int | None = None,
) -> int:
    """Parse the logs once into temp tables behind the same view names; returns rows in the window.

    Every row is kept with its file, line and time (so totals and coverage need no
    second read); the wide values stay only for rows in the window. ``columns`` keeps
    only those columns: a set of names (the alarm's narrow read) keeps them in both
    views, plus what an alarm row is reported with; a mapping (from `columns_read`)
    keeps exactly each view's own. Rows whose timestamp is not valid are in every
    window: a broken timestamp must not hide a violation. Without ``lines`` the load
    numbers no lines (numbering them makes DuckDB read on one thread): `line` is then a
    stand-in that raises `ColumnNotRead` the moment a statement needs a row's line.
    A store's replay runs of every day are read, not only the window's, whenever replay rows
    are loaded or ``columns`` name `replay_runs` (a statement joins them to the window's
    sessions by id, whatever their own time).
    """
    # The window lives in two variables, so the views filter by it (DuckDB folds them
    # into constants) instead of the load storing a flag per row.
    store.con.execute("set variable forensics_since = ?::timestamptz", [since])
    store.con.execute("set variable forensics_until = ?::timestamptz", [until])
    in_window = """("timestamp" is null
        or ((getvariable('forensics_since') is null or "timestamp" >= getvariable('forensics_since'))
            and (getvariable('forensics_until') is null or "timestamp" < getvariable('forensics_until'))))"""
    if store.lake is not None:
        # A row that arrived since the last alarm is in the window whatever its time: a
        # producer whose clock is slow must not slip a violation past `--since`.
        store.con.execute("set variable forensics_after_batch = ?::bigint", [after_batch])
        in_window = (
            f"({in_window} or (getvariable('forensics_after_batch') is not null "
            f"and coalesce(_batch > getvariable('forensics_after_batch'), true)))"
        )
    paths = store.reader.paths if store.lake is None else {"sessions": [None, None], "replay_runs": [None, None]}
    keep: dict[str, set[str] | None] = {"sessions": None, "replay_runs": None}
    if isinstance(columns, dict):
        keep["sessions"] = set(columns.get("sessions", ())) | {"timestamp", "source_file"}
        keep["replay_runs"] = set(columns.get("replay_runs", ())) | {"source_file"}
    elif columns is not None:
        keep["sessions"] = set(columns) | _ALWAYS_KEPT
        keep["replay_runs"] = set(columns) | {"session_id", "source_file", "line"}
    if store.lake is not None:
        for stream in keep:
            if keep[stream] is not None:
                keep[stream].add("_batch")
    for stream in keep:
        # A stream read from one file needs no file name per row: its views say it once.
        if keep[stream] is not None and len(paths[stream]) == 1:
            keep[stream].discard("source_file")
        if keep[stream] is not None and not lines:
            keep[stream].discard("line")

    lake = store.lake
    if lake is not None and window_only and (since is not None or until is not None):
        # Only the Parquet files that can hold a row of the window are read.
        from .lake import install, pruned

        # The replay_runs view is never windowed: a statement that reads replay rows (a user's
        # alarm joining them to the window's sessions) reads them whatever their own day.
        named = columns.get("replay_runs") if isinstance(columns, dict) else columns is None or "replay_runs" in columns
        whole = replay or bool(named)
        lake = pruned(lake, since, until, after_batch, ("sessions",) if whole else ("sessions", "replay_runs"))
        install(store, lake)

    # A store's rows are columnar already: over a large span a view reads each statement's
    # columns from Parquet faster than a table would be loaded. A small one (cron's window) is
    # loaded once: each of the alarm's statements would otherwise open its files again.
    kind = "view" if lake is not None and _stored_bytes(lake) > SMALL_LOAD_BYTES else "table"

    def make(name: str, made: str, sql: str) -> None:
        # A second load may change the kind, which `create or replace` refuses to.
        held = store.installed.get(name)
        if held is not None and held != made:
            store.con.execute(f"drop {held} if exists {name}")
            store.installed.pop(name)
        store.con.execute(f"create or replace temp {made} {name} {sql}")
        store.installed[name] = made

    def build():
        described = {stream: store.describe(view) for stream, view in VIEWS.items()}
        if keep["sessions"] is None:
            # (The exclude is the only part that differs: a conditional around implicitly joined
            # literals took the store's branch as its first literal alone, an unclosed replace.)
            exclude = "exclude (_file_id, _fingerprint) " if store.lake is not None else ""
            select = (
                f"* {exclude}replace (case when {in_window} then prompt end as prompt, "
                f"case when {in_window} then attempts end as attempts, "
                f"case when {in_window} then artifact end as artifact)"
            )
        else:
            select = ", ".join(f'"{n}"' for n, _ in described["sessions"] if n in keep["sessions"])
            if store.lake is not None:
                select += ", _batch"
        where = f" where {in_window}" if window_only else ""
        make("_sessions_all", kind, f"as select {select} from _sessions_files{where}")
        rkeep = keep["replay_runs"]
        if rkeep is None:
            rselect = "*"
        else:
            # Even when no statement reads a replay column, its rows are still counted.
            rselect = ", ".join(f'"{n}"' for n, _ in described["replay_runs"] if n in rkeep) or "session_id"
        source = "_replay_files"
        if (
            replay
            and rkeep is not None
            and "raw" not in rkeep
            and store.reader.strict
            and store.lake is None
            and 0 < len(paths["replay_runs"]) <= FEW_FILES
        ):
            source = _typed_replay_view(store, hits_only="retrieval" not in rkeep, line="line" in rkeep)
        if replay or rkeep is None:
            make(
                "_replay_mat", kind, f"as select {rselect} from " + (source if replay else "_replay_files where false")
            )
        else:
            # No replay row is read: an empty table of the columns, typed as the view's, without binding the view.
            cols = [(n, t) for n, t in described["replay_runs"] if n in rkeep] or [
                (n, t) for n, t in described["replay_runs"] if n == "session_id"
            ]
            make("_replay_mat", "table", "(" + ", ".join(f'"{n}" {t}' for n, t in cols) + ")")
        return described

    # Row order in the table is never relied on (queries order explicitly, lines are
    # numbered by the reader), and keeping it costs a fifth of the load.
    store.con.execute("set preserve_insertion_order = false")
    try:
        described = store._run(build)
    finally:
        store.con.execute("reset preserve_insertion_order")
    stand_ins = True if isinstance(columns, dict) else (set() if lines else {"line"})
    views = {}
    for stream, table in _TABLES.items():
        have = {r[0] for r in store.con.execute(f"select column_name from (describe {table})").fetchall()}
        one = store.reader.ref(paths[stream][0]) if len(paths[stream]) == 1 else None
        views[stream] = view_over(described[stream], have, one_file=one, stand_ins=stand_ins)
    store.view("sessions", f"select {views['sessions']} from _sessions_all where {in_window}")
    if replay:
        store.view("replay_runs", f"select {views['replay_runs']} from _replay_mat")
    else:
        # Replay rows not loaded are read from the files, as before any load: an earlier load's
        # table was just replaced by an empty one.
        store.view("replay_runs", store.file_view_sql("replay_runs"))
    store._loaded = Loaded(window_only=window_only, replay=replay)
    return store.execute("select count(*) from sessions").rows[0][0]


def _stored_bytes(lake) -> int:
    """The bytes of the Parquet files a (pruned) lake reads; a file gone since counts as large."""
    total = 0
    for parts in lake.stored.parts.values():
        for path, _, _ in parts:
            try:
                total += os.stat(path).st_size
            except OSError:
                return SMALL_LOAD_BYTES + 1
    return total


def _typed_replay_view(store: Store, *, hits_only: bool, line: bool) -> str:
    """The replay files read by typed read_json: about half the cost, when `raw` is not wanted.

    With ``hits_only`` the retrieval is read only as far as counting its hits.
    """
    branches = []
    spec = replay_typed_spec(hits_only=hits_only)
    guard = is_row_sql("replay_runs")
    for path in store.reader.paths["replay_runs"]:
        ref, read = store.reader.ref(path), store.reader.file_ref(path)
        branches.append(
            f"""select {replay_typed_select(hits_only)}, {ref} as source_file,
                {"ordinality" if line else "null::bigint"} as line
            from read_json({read}, format = 'newline_delimited', records = true, columns = {spec},
                maximum_object_size = {store.reader.limit("replay_runs")}){" with ordinality" if line else ""}
            where case when {guard} then true else error('{NOT_A_ROW}') end"""
        )
    store.con.execute("create or replace temp view _replay_typed as " + " union all ".join(branches))
    return "_replay_typed"


def rows_per_file(store: Store, stream: str) -> dict[str, int]:
    """Rows of a loaded table by file (a one-file stream's table has no file column)."""
    table, paths = _TABLES[stream], store.reader.paths[stream]
    cols = {r[0] for r in store.con.execute(f"select column_name from (describe {table})").fetchall()}
    counts = {p: 0 for p in paths}
    if "source_file" in cols:
        counts.update(store.con.execute(f"select source_file, count(*) from {table} group by all").fetchall())
    elif paths:
        counts[paths[0]] = store.con.execute(f"select count(*) from {table}").fetchall()[0][0]
    return counts
