"""The DuckDB layer: the `sessions`, `attempts` and `replay_runs` views, and queries over them.

How the files become views is reader.py; why a line is unreadable, lines.py; which
columns a narrow load keeps, narrow.py; writing rows out, export.py. A `Store` answers
every statement with physical line numbers and reads a log tolerantly the moment DuckDB
refuses a line, so its caller has no order of calls to remember.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import Catalog, load_catalog
from .columns import ATTEMPTS_VIEW, READ_MACROS, replay_typed_select, replay_typed_spec, is_row_sql
from .errors import ColumnNotRead, first_line, ForensicsError
from .measures import MACROS as MEASURE_MACROS
from .lines import FileScan, ScanReport, count_lines, physical_lines
from .narrow import NOT_READ, columns_read, view_over
from .reader import FEW_FILES, NOT_A_ROW, LogReader
from .sources import Sources

if TYPE_CHECKING:
    from .storeview import Lake

# Helpers the named queries share (measures.py), and the reading ones (columns.py).
_MACROS = READ_MACROS + MEASURE_MACROS

# Kept in every narrow load: what an alarm row is reported with.
_ALWAYS_KEPT = frozenset({"session_id", "timestamp", "timestamp_raw", "model", "kind", "daemon",
                          "source_file", "line"})

_VIEWS = {"sessions": "_sessions_files", "replay_runs": "_replay_files"}
_TABLES = {"sessions": "_sessions_all", "replay_runs": "_replay_mat"}


@dataclass
class _Loaded:
    """What `materialize` put behind the views."""

    window_only: bool
    replay: bool
    scan: ScanReport | None = None


class Store:
    """One DuckDB connection with the `sessions`, `attempts` and `replay_runs` views."""

    def __init__(self, sources: Sources, catalog: Catalog | None = None, *, lake: "Lake | None" = None):
        import duckdb  # imported here so `forensics --help` stays fast

        self.sources = sources
        self.catalog = catalog or load_catalog(sources.queries_dirs)
        self.con = duckdb.connect(":memory:")
        self.con.execute("set TimeZone = 'UTC'")
        # A progress bar on stderr would turn every long cron run into a mail. (Inside
        # Jupyter DuckDB refuses to touch the setting without ipywidgets: no bar there.)
        try:
            self.con.execute("set enable_progress_bar = false")
        except duckdb.Error:
            pass
        self.con.execute(_MACROS)
        # With a store folder (`lake`), the logs read are the tails of its sources, and the
        # views are its Parquet files plus those tails, every line of which is checked.
        self.lake = lake
        self.reader = LogReader(self.con, {
            "sessions": lake.source_files("sessions") if lake else [str(p) for p in sources.sessions or []],
            "replay_runs": lake.source_files("replay_runs") if lake else [str(p) for p in sources.replay_runs or []],
        })
        self._loaded: _Loaded | None = None
        self._blank_lines: dict[str, int] = {}
        if lake is not None:
            self.reader.check()
        self._run(self._build_views)

    @property
    def mode(self) -> str:
        """`strict` while the optimistic reader is in use, `tolerant` after a check."""
        return "strict" if self.reader.strict else "tolerant"

    def _build_views(self) -> None:
        if self.lake is None:
            self.reader.build()
            hidden = ""
        else:
            from .storeview import PROVENANCE, install

            install(self.con, self.reader, self.lake)
            hidden = f" exclude ({', '.join(PROVENANCE)})"
        self.con.execute(f"create or replace temp view sessions as select *{hidden} from _sessions_files")
        self.con.execute(f"create or replace temp view replay_runs as select *{hidden} from _replay_files")
        self.con.execute(ATTEMPTS_VIEW)
        self._loaded = None

    def check(self) -> ScanReport:
        """Check every file (once), reading tolerantly from then on if anything was found; returns every file's scan."""
        if self.lake is not None:
            return self.scan  # a store's tails were checked when it was opened
        if self.reader.checked is None:
            self.reader.check()
            if self.reader.tolerant:
                self._build_views()
        return self.reader.checked

    def _read_tolerantly(self) -> None:
        """After a statement the optimistic reader could not finish: check, and read tolerantly."""
        self.reader.check()
        self.reader.tolerant = True
        self._build_views()

    @property
    def scan(self) -> ScanReport:
        """Every file's rows and unreadable lines (runs the check if nothing has been read yet)."""
        if self.lake is not None:
            from .storeview import store_report

            return store_report(self.con, self.reader.checked, self.lake)
        if self.reader.checked is not None:
            return self.reader.checked
        if self._loaded is not None:
            if self._loaded.scan is None:
                # The optimistic reader read every line of every file without a fault:
                # nothing was unreadable. The table holds every file's rows, or the window's.
                files = [FileScan(path=p, stream="sessions", rows=n) for p, n in
                         self._rows_per_file("sessions").items()]
                if self._loaded.replay:
                    files += [FileScan(path=p, stream="replay_runs", rows=n) for p, n in
                              self._rows_per_file("replay_runs").items()]
                self._loaded.scan = ScanReport(files)
            return self._loaded.scan
        return self.check()

    def warnings(self) -> list[str]:
        """What to say on stderr about unreadable lines and files: nothing unless one was refused."""
        if self.lake is not None:
            from .storeview import tail_report

            return tail_report(self.reader.checked, self.lake).warnings()
        return [] if self.reader.checked is None else self.reader.checked.warnings()

    # -- querying ---------------------------------------------------------------------

    def _run(self, fn):
        """Run fn(); if DuckDB refuses a line or a file under the optimistic reader, check and run again."""
        import duckdb

        try:
            return fn()
        except (duckdb.InvalidInputException, duckdb.ConversionException, duckdb.IOException) as first:
            # What DuckDB raises for a line or file it cannot read; SQL mistakes go straight out.
            exc: Exception = first
            if NOT_READ in str(first):
                raise ColumnNotRead("column " + str(first).split(NOT_READ, 1)[1].splitlines()[0]) from None
            if self.reader.strict and (self.reader.paths["sessions"] or self.reader.paths["replay_runs"]):
                self._read_tolerantly()
                try:
                    return fn()
                except duckdb.Error as again:
                    exc = again
            raise ForensicsError(f"query failed: {first_line(exc)}") from None
        except duckdb.Error as exc:
            raise ForensicsError(f"query failed: {first_line(exc)}") from None

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> "Result":
        """Execute SQL with bound parameters; fetch the whole result, with physical line numbers."""

        def fetch():
            cur = self.con.execute(sql, params) if params else self.con.execute(sql)
            desc = cur.description or []
            # A statement that returns nothing (a `set`, a `create`) has no rows to fetch.
            return [d[0] for d in desc], [str(d[1]) for d in desc], cur.fetchall() if desc else []

        columns, types, rows = self._run(fetch)
        result = Result(columns, rows, types)
        self._to_physical(result)
        return result

    def query(self, name: str, params: dict[str, Any] | None = None) -> "Result":
        """Run a named catalog query with validated, bound parameters and fetch the result."""
        q = self.catalog.get(name)
        return self.execute(q.sql, q.bind(params or {}))

    def sql(self, text: str):
        """A DuckDB relation over the views, for notebooks and ad-hoc work (checks the logs first)."""
        # A relation runs later, out of reach of the optimistic retry: read tolerantly.
        if self.reader.strict:
            self._read_tolerantly()
        return self.con.sql(text)

    def run(self, name: str, **params: Any):
        """Run a named query and return it as a pandas DataFrame (pandas imported only here)."""
        pd = _pandas()

        res = self.query(name, params)
        return pd.DataFrame(res.rows, columns=res.columns)

    def df(self, text: str, **params: Any):
        """Run ad-hoc SQL (with $name parameters) and return a pandas DataFrame."""
        pd = _pandas()

        res = self.execute(text, params or None)
        return pd.DataFrame(res.rows, columns=res.columns)

    def replay_missing(self, sql_texts) -> bool:
        """True when these statements read `replay_runs` but no replay log was given."""
        from .narrow import columns_named

        given = self.lake.replay_sources if self.lake is not None else self.reader.paths["replay_runs"]
        return not given and "replay_runs" in columns_named(sql_texts)

    def describe(self, view: str) -> list[tuple[str, str]]:
        """(name, type) of a file view's columns."""
        from .storeview import PROVENANCE

        return [(n, t) for n, t in self._run(lambda: self.con.execute(
            f"select column_name, column_type from (describe {view})").fetchall()) if n not in PROVENANCE]

    def columns_read(self, statements: list[tuple[str, dict[str, Any]]]) -> dict[str, set[str]]:
        """The columns of `sessions` and `replay_runs` these (sql, params) statements read."""
        described = {view: self.describe(source) for view, source in _VIEWS.items()}
        return columns_read(self.con, described, _MACROS, statements)

    def coverage(self) -> tuple[int, datetime | None, datetime | None]:
        """All session rows read, and the oldest and newest timestamp among them."""
        table = "_sessions_all" if self._loaded is not None else "_sessions_files"
        return self.execute(f'select count(*), min("timestamp"), max("timestamp") from {table}').rows[0]

    # -- loading once ------------------------------------------------------------------

    def materialize(self, since: datetime | None = None, until: datetime | None = None,
                    *, replay: bool = False, columns: set[str] | dict[str, set[str]] | None = None,
                    window_only: bool = False, lines: bool = True, after_batch: int | None = None) -> int:
        """Parse the logs once into temp tables behind the same view names; returns rows in the window.

        Every row is kept with its file, line and time (so totals and coverage need no
        second read); the wide values stay only for rows in the window. ``columns`` keeps
        only those columns: a set of names (the alarm's narrow read) keeps them in both
        views, plus what an alarm row is reported with; a mapping (from `columns_read`)
        keeps exactly each view's own. Rows whose timestamp is not valid are in every
        window: a broken timestamp must not hide a violation. Without ``lines`` the load
        numbers no lines (numbering them makes DuckDB read on one thread): `line` is then a
        stand-in that raises `ColumnNotRead` the moment a statement needs a row's line.
        """
        # The window lives in two variables, so the views filter by it (DuckDB folds them
        # into constants) instead of the load storing a flag per row.
        self.con.execute("set variable forensics_since = ?::timestamptz", [since])
        self.con.execute("set variable forensics_until = ?::timestamptz", [until])
        in_window = """("timestamp" is null
            or ((getvariable('forensics_since') is null or "timestamp" >= getvariable('forensics_since'))
                and (getvariable('forensics_until') is null or "timestamp" < getvariable('forensics_until'))))"""
        if self.lake is not None:
            # A row that arrived since the last alarm is in the window whatever its time: a
            # producer whose clock is slow must not slip a violation past `--since`.
            self.con.execute("set variable forensics_after_batch = ?::bigint", [after_batch])
            in_window = (f"({in_window} or (getvariable('forensics_after_batch') is not null "
                         f"and coalesce(_batch > getvariable('forensics_after_batch'), true)))")
        paths = self.reader.paths if self.lake is None else {"sessions": [None, None], "replay_runs": [None, None]}
        keep: dict[str, set[str] | None] = {"sessions": None, "replay_runs": None}
        if isinstance(columns, dict):
            keep["sessions"] = set(columns.get("sessions", ())) | {"timestamp", "source_file"}
            keep["replay_runs"] = set(columns.get("replay_runs", ())) | {"source_file"}
        elif columns is not None:
            keep["sessions"] = set(columns) | _ALWAYS_KEPT
            keep["replay_runs"] = set(columns) | {"session_id", "source_file", "line"}
        if self.lake is not None:
            for stream in keep:
                if keep[stream] is not None:
                    keep[stream].add("_batch")
        for stream in keep:
            # A stream read from one file needs no file name per row: its views say it once.
            if keep[stream] is not None and len(paths[stream]) == 1:
                keep[stream].discard("source_file")
            if keep[stream] is not None and not lines:
                keep[stream].discard("line")

        if self.lake is not None and window_only and (since is not None or until is not None):
            # Only the Parquet files that can hold a row of the window are read.
            from .storeview import install, pruned

            install(self.con, self.reader, pruned(self.lake, since, until, after_batch))

        # A store's rows are columnar already: a view over them reads each statement's columns
        # from Parquet faster than a table would be loaded (the tails are checked, and small).
        kind = "view" if self.lake is not None else "table"
        import duckdb

        for name in _TABLES.values():
            for other in ("view", "table"):  # a second load may change the kind
                try:
                    self.con.execute(f"drop {other} if exists {name}")
                except duckdb.CatalogException:
                    pass

        def build():
            described = {stream: self.describe(view) for stream, view in _VIEWS.items()}
            if keep["sessions"] is None:
                select = (f"* exclude (_file_id, _fingerprint) replace (case when {in_window} then prompt end as prompt, "
                      if self.lake is not None else
                      f"* replace (case when {in_window} then prompt end as prompt, "
                          f"case when {in_window} then attempts end as attempts, "
                          f"case when {in_window} then artifact end as artifact)")
            else:
                select = ", ".join(f'"{n}"' for n, _ in described["sessions"] if n in keep["sessions"])
                if self.lake is not None:
                    select += ", _batch"
            where = f" where {in_window}" if window_only else ""
            self.con.execute(f"create or replace temp {kind} _sessions_all as select {select} "
                             f"from _sessions_files{where}")
            rkeep = keep["replay_runs"]
            if rkeep is None:
                rselect = "*"
            else:
                # Even when no statement reads a replay column, its rows are still counted.
                rselect = ", ".join(f'"{n}"' for n, _ in described["replay_runs"] if n in rkeep) or "session_id"
            source = "_replay_files"
            if replay and rkeep is not None and "raw" not in rkeep and self.reader.strict and self.lake is None \
                    and 0 < len(paths["replay_runs"]) <= FEW_FILES:
                source = self._typed_replay_view(hits_only="retrieval" not in rkeep, line="line" in rkeep)
            self.con.execute(f"create or replace temp {kind} _replay_mat as select {rselect} from "
                             + (source if replay else "_replay_files where false"))
            return described

        # Row order in the table is never relied on (queries order explicitly, lines are
        # numbered by the reader), and keeping it costs a fifth of the load.
        self.con.execute("set preserve_insertion_order = false")
        try:
            described = self._run(build)
        finally:
            self.con.execute("reset preserve_insertion_order")
        stand_ins = True if isinstance(columns, dict) else (set() if lines else {"line"})
        views = {}
        for stream, table in _TABLES.items():
            have = {r[0] for r in self.con.execute(f"select column_name from (describe {table})").fetchall()}
            one = self.reader.ref(paths[stream][0]) if len(paths[stream]) == 1 else None
            views[stream] = view_over(described[stream], have, one_file=one, stand_ins=stand_ins)
        self.con.execute(f"create or replace temp view sessions as select {views['sessions']} "
                         f"from _sessions_all where {in_window}")
        if replay:
            self.con.execute(f"create or replace temp view replay_runs as select {views['replay_runs']} "
                             "from _replay_mat")
        self._loaded = _Loaded(window_only=window_only, replay=replay)
        return self.execute("select count(*) from sessions").rows[0][0]

    def _typed_replay_view(self, *, hits_only: bool, line: bool) -> str:
        """The replay files read by typed read_json: about half the cost, when `raw` is not wanted.

        With ``hits_only`` the retrieval is read only as far as counting its hits.
        """
        branches = []
        spec = replay_typed_spec(hits_only=hits_only)
        guard = is_row_sql("replay_runs")
        for path in self.reader.paths["replay_runs"]:
            ref, read = self.reader.ref(path), self.reader.file_ref(path)
            branches.append(
                f"""select {replay_typed_select()}, {ref} as source_file,
                    {'ordinality' if line else 'null::bigint'} as line
                from read_json({read}, format = 'newline_delimited', records = true, columns = {spec},
                    maximum_object_size = {self.reader._limit['replay_runs']}){' with ordinality' if line else ''}
                where case when {guard} then true else error('{NOT_A_ROW}') end""")
        self.con.execute("create or replace temp view _replay_typed as " + " union all ".join(branches))
        return "_replay_typed"

    def _rows_per_file(self, stream: str) -> dict[str, int]:
        """Rows of a loaded table by file (a one-file stream's table has no file column)."""
        table, paths = _TABLES[stream], self.reader.paths[stream]
        cols = {r[0] for r in self.con.execute(f"select column_name from (describe {table})").fetchall()}
        counts = {p: 0 for p in paths}
        if "source_file" in cols:
            counts.update(self.con.execute(f"select source_file, count(*) from {table} group by all").fetchall())
        elif paths:
            counts[paths[0]] = self.con.execute(f"select count(*) from {table}").fetchall()[0][0]
        return counts

    # -- line numbers ------------------------------------------------------------------

    def _to_physical(self, result: "Result") -> None:
        """Turn `line` values (DuckDB's non-blank row numbers) into physical line numbers in place."""
        # DuckDB numbers non-blank lines; people open files at physical lines. Blank lines
        # are rare, so the mapping is only computed for files a result actually names.
        if self.lake is not None or "source_file" not in result.columns or "line" not in result.columns:
            # A store's rows carry physical lines already.
            return
        fi, li = result.columns.index("source_file"), result.columns.index("line")
        wanted: dict[str, list[int]] = {}
        for row in result.rows:
            if isinstance(row[fi], str) and isinstance(row[li], int):
                wanted.setdefault(row[fi], []).append(row[li])
        maps = {}
        for path, ordinals in wanted.items():
            if self._has_blank_lines(path):
                maps[path] = physical_lines(self._readable_path(path), ordinals)
        if not maps:
            return
        fixed = []
        for row in result.rows:
            m = maps.get(row[fi])
            if m and row[li] in m:
                row = list(row)
                row[li] = m[row[li]]
                row = tuple(row)
            fixed.append(row)
        result.rows = fixed

    def _readable_path(self, path: str) -> str:
        scan = self.reader.scan_of(path)
        return scan.read_from if scan is not None and scan.read_from else path

    def _has_blank_lines(self, path: str) -> bool:
        if self.lake is not None:
            return False
        if path not in self.reader.paths["sessions"] + self.reader.paths["replay_runs"]:
            return False
        if self.reader.checked is None and self._loaded is not None and self._loaded.window_only:
            # The file's count of non-blank lines is not known here: map by reading it,
            # rather than count its newlines only to compare them with nothing.
            return True
        if path not in self._blank_lines:
            scan = next((s for s in self.scan.files if s.path == path), None)
            if scan is None:
                return False
            total = count_lines(self._readable_path(path))
            self._blank_lines[path] = total - (scan.rows + scan.unreadable_total)
        return self._blank_lines[path] > 0

    def write_rows(self, found: list[dict], path: Path) -> int:
        """Append the full session rows of alarm findings (source_file, line, alarm, ...) to JSONL or Parquet."""
        from .export import write_rows

        return write_rows(self, found, path)

    def sessions_present(self, ids) -> set[str]:
        """Which of these session ids some session row still has, in every file (not only a window)."""
        ids = sorted({i for i in ids if i is not None})
        if not ids:
            return set()
        if self.lake is not None:
            from .storeview import install

            install(self.con, self.reader, self.lake)  # a window's load may have pruned the files
        rows = self.execute("""select distinct session_id
            from _sessions_files
            where session_id in (select unnest($ids::varchar[]))""", {"ids": ids}).rows
        return {r[0] for r in rows}

    def close(self) -> None:
        """Close the connection and remove temporary files."""
        self.con.close()
        self.reader.close()
        if self.lake is not None:
            self.lake.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _pandas():
    """pandas, or an error that says how to install it (the CLI never needs it)."""
    try:
        import pandas
    except ImportError as exc:
        raise ForensicsError("DataFrames need pandas, which the default install leaves out: "
                             "pip install 'forensics[notebook]'") from exc
    return pandas



@dataclass
class Result:
    """A fetched query result: column names and rows of Python values."""

    columns: list[str]
    rows: list[tuple]
    types: list[str] = field(default_factory=list)

    @property
    def json_columns(self) -> list[str]:
        """Columns of DuckDB's JSON type, emitted as nested JSON rather than strings."""
        return [c for c, t in zip(self.columns, self.types) if t.upper() == "JSON"]

    def records(self) -> list[dict]:
        """Rows as dicts keyed by column name."""
        return [dict(zip(self.columns, r)) for r in self.rows]


def connect(
    sessions: str | list[str] | None = None,
    replay_runs: str | list[str] | None = None,
    *,
    config: str | None = None,
    queries_dirs: list[str] | None = None,
    store: str | Path | None = None,
    ingest: bool = False,
) -> Store:
    """Open the logs (flags, then FORENSICS_* variables, then forensics.toml) as a Store.

    With ``store`` (a folder `forensics ingest` writes), the views are the store plus the
    live tail of each of its sources; ``ingest`` appends the new lines to it first.
    """
    from .sources import resolve

    if store is None:
        src = resolve(sessions, replay_runs, config=config, queries_dirs=queries_dirs)
        return Store(src)
    return open_store(store, sessions, replay_runs, config=config, queries_dirs=queries_dirs, ingest=ingest)


def open_store(store, sessions=None, replay_runs=None, *, config=None, queries_dirs=None,
               ingest: bool = False) -> Store:
    """A Store over a store folder and its sources' tails (sources given here override its own)."""
    from .sources import as_list, resolve
    from .storeview import open_lake

    if ingest:
        from .ingest import ingest as run_ingest

        run_ingest(store, sessions, replay_runs, config=config)
    src = resolve(config=config, queries_dirs=queries_dirs, streams=False)
    specs = None
    if sessions or replay_runs:
        specs = {"sessions": as_list(sessions), "replay_runs": as_list(replay_runs)}
    return Store(src, lake=open_lake(Path(store).expanduser(), specs))
