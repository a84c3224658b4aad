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

from ..catalog import Catalog, load_catalog
from ..errors import ColumnNotRead, ForensicsError, first_line
from ..measures import MACROS as MEASURE_MACROS
from ..read.columns import ATTEMPTS_BODY, READ_MACROS
from ..read.narrow import NOT_READ, columns_read
from ..read.reader import LogReader
from ..read.scans import FileScan, ScanReport
from ..read.sources import Sources
from .load import VIEWS

if TYPE_CHECKING:
    from .lake import Lake
    from .load import Loaded

# Helpers the named queries share (measures.py), and the reading ones (columns.py).
_MACROS = READ_MACROS + MEASURE_MACROS


class Store:
    """One DuckDB connection with the `sessions`, `attempts` and `replay_runs` views."""

    def __init__(
        self, sources: Sources, catalog: Catalog | None = None, *, lake: Lake | None = None, check_first: bool = True
    ):
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
        self.reader = LogReader(
            self.con,
            {
                "sessions": lake.source_files("sessions") if lake else [str(p) for p in sources.sessions or []],
                "replay_runs": lake.source_files("replay_runs")
                if lake
                else [str(p) for p in sources.replay_runs or []],
            },
        )
        self._loaded: Loaded | None = None
        self._blank_lines: dict[str, int] = {}
        # What this connection holds, so that building the views again (each load installs the
        # lake it reads) creates only what changed: a view's text, a variable's value, a body's types.
        self.installed: dict[str, Any] = {}
        self._views: dict[str, tuple[str, list | None]] = {}
        self._described: dict[str, list[tuple[str, str]]] = {}
        # (an ingest checks only once its one strict pass was refused: `check_first=False`)
        if lake is not None and check_first:
            self.reader.check()
        self._run(self._build_views)

    @property
    def mode(self) -> str:
        """`strict` while the optimistic reader is in use, `tolerant` after a check."""
        return "strict" if self.reader.strict else "tolerant"

    def _build_views(self) -> None:
        if self.lake is None:
            self.reader.build()
        else:
            from .lake import install

            install(self, self.lake)
        self.view("sessions", self.file_view_sql("sessions"))
        self.view("replay_runs", self.file_view_sql("replay_runs"))
        self.view("attempts", ATTEMPTS_BODY)
        self._loaded = None

    def file_view_sql(self, stream: str) -> str:
        """The body of a stream's view before any load: its file view (a store's, less where each row is from)."""
        hidden = ""
        if self.lake is not None:
            from .lake import PROVENANCE

            hidden = f" exclude ({', '.join(PROVENANCE)})"
        return f"select *{hidden} from {'_sessions_files' if stream == 'sessions' else '_replay_files'}"

    def view(self, name: str, body: str, *, columns: list[tuple[str, str]] | None = None) -> None:
        """Create (or replace) a temp view, unless it already reads exactly this; ``columns`` are
        its (name, type) when known, which `describe` then answers without binding it."""
        if self._views.get(name, (None,))[0] != body:
            self.con.execute(f"create or replace temp view {name} as {body}")
        self._views[name] = (body, columns)

    def described(self, body: str, *, view: str | None = None) -> list[tuple[str, str]]:
        """(name, type) of a select's columns (or of ``view``, whose text it is), bound once per text."""
        if body not in self._described:
            self._described[body] = self.con.execute(
                f"select column_name, column_type from (describe {view or body})"
            ).fetchall()
        return self._described[body]

    def set_variable(self, name: str, value: Any, kind: str) -> None:
        """Set a DuckDB variable the views read, unless it holds this value already."""
        key = f"variable {name}"
        if self.installed.get(key, self) != value:  # (self: never a value, so the first set always runs)
            self.con.execute(f"set variable {name} = ?::{kind}", [value])
            self.installed[key] = value

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
            from .lake import store_report

            return store_report(self.con, self.reader.checked, self.lake)
        if self.reader.checked is not None:
            return self.reader.checked
        if self._loaded is not None:
            from .load import rows_per_file

            if self._loaded.scan is None:
                # The optimistic reader read every line of every file without a fault:
                # nothing was unreadable. The table holds every file's rows, or the window's.
                files = [
                    FileScan(path=p, stream="sessions", rows=n) for p, n in rows_per_file(self, "sessions").items()
                ]
                if self._loaded.replay:
                    files += [
                        FileScan(path=p, stream="replay_runs", rows=n)
                        for p, n in rows_per_file(self, "replay_runs").items()
                    ]
                self._loaded.scan = ScanReport(files)
            return self._loaded.scan
        return self.check()

    def warnings(self) -> list[str]:
        """What to say on stderr about unreadable lines and files: nothing unless one was refused."""
        if self.lake is not None:
            from .lake import tail_report

            return tail_report(self.reader.checked, self.lake).warnings() + self.lake.notes()
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
            # A mistake in the SQL: DuckDB's further lines (candidate bindings, the statement's
            # line with a caret under the mistake) are what helps fix it.
            rest = [line for line in str(exc).strip().splitlines()[1:] if line.strip()]
            raise ForensicsError(f"query failed: {first_line(exc)}", details=rest) from None

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> Result:
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

    def query(self, name: str, params: dict[str, Any] | None = None) -> Result:
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
        from ..read.narrow import columns_named

        given = self.lake.replay_sources if self.lake is not None else self.reader.paths["replay_runs"]
        return not given and "replay_runs" in columns_named(sql_texts)

    def describe(self, view: str) -> list[tuple[str, str]]:
        """(name, type) of a file view's columns."""
        from .lake import PROVENANCE

        known = self._views.get(view, (None, None))[1]
        if known is not None:
            return list(known)
        return [
            (n, t)
            for n, t in self._run(
                lambda: self.con.execute(f"select column_name, column_type from (describe {view})").fetchall()
            )
            if n not in PROVENANCE
        ]

    def columns_read(self, statements: list[tuple[str, dict[str, Any]]]) -> dict[str, set[str]]:
        """The columns of `sessions` and `replay_runs` these (sql, params) statements read."""
        described = {view: self.describe(source) for view, source in VIEWS.items()}
        return columns_read(self.con, described, _MACROS, statements)

    def coverage(self) -> tuple[int, datetime | None, datetime | None]:
        """All session rows read, and the oldest and newest timestamp among them."""
        if self.lake is not None:  # (from the manifest, whatever window was loaded)
            from .lake import coverage

            return self._run(lambda: coverage(self.con, self.lake))
        table = "_sessions_all" if self._loaded is not None else "_sessions_files"
        return self.execute(f'select count(*), min("timestamp"), max("timestamp") from {table}').rows[0]

    # -- loading once ------------------------------------------------------------------

    def materialize(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        replay: bool = False,
        columns: set[str] | dict[str, set[str]] | None = None,
        window_only: bool = False,
        lines: bool = True,
        after_batch: int | None = None,
    ) -> int:
        """Parse the logs once into temp tables behind the same view names; returns rows in the window (see load.py)."""
        from .load import materialize

        return materialize(
            self,
            since,
            until,
            replay=replay,
            columns=columns,
            window_only=window_only,
            lines=lines,
            after_batch=after_batch,
        )

    def _to_physical(self, result: Result) -> None:
        """Turn `line` values (DuckDB's non-blank row numbers) into physical line numbers in place."""
        from .physical import to_physical

        to_physical(self, result)

    def write_rows(self, found: list[dict], path: Path, *, wait: float = 60.0) -> int:
        """Append the full session rows of alarm findings (source_file, line, alarm, ...) to JSONL or Parquet."""
        from .failures import write_rows

        return write_rows(self, found, path, wait=wait)

    def sessions_present(self, ids) -> set[str]:
        """Which of these session ids some session row still has, in every file (not only a window)."""
        ids = sorted({i for i in ids if i is not None})
        if not ids:
            return set()
        if self.lake is not None:
            from .lake import install

            install(self, self.lake)  # a window's load may have pruned the files
        rows = self.execute(
            """select distinct session_id
            from _sessions_files
            where session_id in (select unnest($ids::varchar[]))""",
            {"ids": ids},
        ).rows
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
        raise ForensicsError(
            "DataFrames need pandas, which the default install leaves out: pip install 'forensics[notebook]'"
        ) from exc
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
