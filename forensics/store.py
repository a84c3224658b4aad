"""The DuckDB layer: typed views over both streams, and an honest count of what was unreadable.

How a log is read (docs/SESSION_LOG.md, "How forensics reads a log"):

1. Optimistically, in one scan: ``read_json`` with every key's type given (never sampling)
   and DuckDB's errors left on. A clean file is read once, at raw DuckDB speed, and a
   statement that completes has read every line it needed without a fault.
2. The first time DuckDB refuses a line (invalid JSON or UTF-8, not an object, a torn
   last line, a value of the wrong shape), the store switches to its tolerant reading:
   a check scan counts each file's unreadable lines, Python names the cause and line
   of each, and the views are rebuilt to skip exactly those lines and to read every
   key as text or JSON (a wrong-typed value becomes a NULL cell that `doctor` lists).
   The statement then runs again. A first line unreadable only because of a byte-order
   mark is recovered. Either way a bad line is counted, reported, never a NULL row.
"""

from __future__ import annotations

import codecs
import gzip
import json
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .catalog import Catalog, load_catalog
from .errors import ForensicsError
from .measures import ATTEMPTS_IN_ORDER, ATTEMPTS_TO_ACCEPT, FIRST_SHOT
from .measures import MACROS as _MACROS
from .sources import Sources

# DuckDB's default: its read buffers are sized from it, so a larger default costs every
# scan memory (1 GiB cost 1.3 GiB of RSS on a 1.4 GB log). A file whose lines are longer
# (prompts are any size) gets a larger limit of its own after the check finds them.
MAX_OBJECT_BYTES = 16 << 20

# Every key is read as text or JSON and typed in the view, so a wrong-typed value
# becomes a NULL cell that `doctor` reports, never a whole row lost to a cast error.
_SESSION_COLUMNS = {
    "schema": "VARCHAR", "timestamp": "VARCHAR", "daemon": "VARCHAR", "session_id": "VARCHAR",
    "kind": "VARCHAR", "model": "VARCHAR", "provider": "VARCHAR", "prompt": "VARCHAR",
    "iterations": "JSON", "max_iterations": "JSON", "final_verdict": "VARCHAR",
    "attempts": "JSON", "artifact": "JSON", "grounded_in_roster": "JSON", "duration_ms": "JSON",
}
# The optimistic reader types `attempts` directly; a shape error there stops the
# statement and sends the store to the tolerant reader, which parses it from JSON.
_STRICT_COLUMNS = {**_SESSION_COLUMNS,
                   "attempts": "STRUCT(iteration BIGINT, verdict_kind VARCHAR, error VARCHAR, span_id VARCHAR)[]"}
_ATTEMPTS_SHAPE = '[{"iteration":"BIGINT","verdict_kind":"VARCHAR","error":"VARCHAR","span_id":"VARCHAR"}]'
_RETRIEVAL_SHAPE = '{"query":"VARCHAR","k":"BIGINT","hits":[{"doc_id":"VARCHAR","score":"DOUBLE"}]}'

# A JSON value arrives as its minified text, so an integer is the text that survives a
# round trip through BIGINT (not 1.5, 1e3, "12", true, nor one too large): a third
# cheaper than asking json_type, which parses the text again.
_INT = "case when try_cast({c}::varchar as bigint)::varchar = {c}::varchar then try_cast({c}::varchar as bigint) end"
_BOOL = "case {c}::varchar when 'true' then true when 'false' then false end"

_SESSIONS_TEMPLATE = f"""
    schema,
    try_cast("timestamp" as timestamptz) as "timestamp",
    "timestamp" as timestamp_raw,
    daemon,
    session_id,
    kind,
    model,
    provider,
    prompt,
    {_INT.format(c="iterations")} as iterations,
    {_INT.format(c="max_iterations")} as max_iterations,
    final_verdict,
    {{attempts}} as attempts,
    -- Computed once: `_SESSIONS_COLUMNS_OUT` derives first_shot and attempts_to_accept
    -- from it (DuckDB does not share a lambda between columns).
    {ATTEMPTS_IN_ORDER} as _attempts_in_order,
    case when json_type(artifact) <> 'NULL' then artifact end as artifact,
    {_BOOL.format(c="grounded_in_roster")} as grounded_in_roster,
    grounded_in_roster as grounded_in_roster_raw,
    {_INT.format(c="duration_ms")} as duration_ms"""

# The file view's columns, in order, over the per-file selects above. Defined once here,
# so every query means the same by them (and a materialized table computes them once,
# not once per query). The measures themselves are defined in measures.py.
_SESSIONS_COLUMNS_OUT = f"""
    schema, "timestamp", timestamp_raw, daemon, session_id, kind, model, provider, prompt,
    iterations, max_iterations, final_verdict, attempts,
    {FIRST_SHOT} as first_shot,
    {ATTEMPTS_TO_ACCEPT} as attempts_to_accept,
    artifact, grounded_in_roster, grounded_in_roster_raw, duration_ms, source_file, line"""

_SESSIONS_SELECT = {
    "strict": _SESSIONS_TEMPLATE.format(attempts="attempts"),
    "tolerant": _SESSIONS_TEMPLATE.format(attempts=f"json_transform(attempts, '{_ATTEMPTS_SHAPE}')"),
}

# One shape for every known replay key: parsed once per line (DuckDB folds the repeated
# json_transform below into one call); `json ->> key` per column would parse it each time.
_REPLAY_SHAPE = ('{"schema":"VARCHAR","timestamp":"VARCHAR","session_id":"VARCHAR","task_id":"VARCHAR",'
                 '"model":"VARCHAR","provider":"VARCHAR","retrieval":' + _RETRIEVAL_SHAPE + ','
                 '"output":"VARCHAR","latency_ms":"BIGINT","tokens_in":"BIGINT","tokens_out":"BIGINT",'
                 '"status":"VARCHAR","error":"VARCHAR"}')
_R = f"json_transform(json, '{_REPLAY_SHAPE}')"
_RETRIEVAL_TYPE = "STRUCT(query VARCHAR, k BIGINT, hits STRUCT(doc_id VARCHAR, score DOUBLE)[])"
_REPLAY_COLUMNS = (
    "{'schema': 'VARCHAR', 'timestamp': 'VARCHAR', 'session_id': 'VARCHAR', 'task_id': 'VARCHAR', "
    "'model': 'VARCHAR', 'provider': 'VARCHAR', "
    f"'retrieval': '{_RETRIEVAL_TYPE}', "
    "'output': 'VARCHAR', 'latency_ms': 'BIGINT', 'tokens_in': 'BIGINT', 'tokens_out': 'BIGINT', "
    "'status': 'VARCHAR', 'error': 'VARCHAR'}")
_REPLAY_SELECT = f"""
    {_R}.schema as schema,
    try_cast({_R}."timestamp" as timestamptz) as "timestamp",
    {_R}.session_id as session_id,
    {_R}.task_id as task_id,
    {_R}.model as model,
    {_R}.provider as provider,
    {_R}.retrieval as retrieval,
    len({_R}.retrieval.hits) as hits,
    {_R}.output as output,
    {_R}.latency_ms as latency_ms,
    {_R}.tokens_in as tokens_in,
    {_R}.tokens_out as tokens_out,
    {_R}.status as status,
    {_R}.error as error,
    json as raw"""

_EMPTY_SESSIONS = """select
    null::varchar as schema, null::timestamptz as "timestamp", null::varchar as timestamp_raw,
    null::varchar as daemon, null::varchar as session_id, null::varchar as kind,
    null::varchar as model, null::varchar as provider, null::varchar as prompt,
    null::bigint as iterations, null::bigint as max_iterations, null::varchar as final_verdict,
    json_transform(null::json, '{shape}') as attempts, null::boolean as first_shot,
    null::bigint as attempts_to_accept, null::json as artifact,
    null::boolean as grounded_in_roster, null::json as grounded_in_roster_raw,
    null::bigint as duration_ms, null::varchar as source_file, null::bigint as line
where false"""

# The call's columns every attempt row carries.
_CALL_COLUMNS = ('session_id', '"timestamp"', 'model', 'provider', 'kind', 'daemon', 'final_verdict',
                 'source_file', 'line')
# unnest() in the select list: a lateral join (`from sessions, unnest(...)`) is 60x
# slower in DuckDB on a million rows.
_ATTEMPTS_VIEW = f"""
create or replace temp view attempts as
select
    {", ".join(_CALL_COLUMNS)},
    attempt.iteration as iteration,
    attempt.verdict_kind as verdict_kind,
    attempt.error as error,
    attempt.span_id as span_id,
    position
from (
    select
        {", ".join(_CALL_COLUMNS)},
        unnest(attempts) as attempt,
        generate_subscripts(attempts, 1) as position
    from sessions
)
"""

# Starts the error a stand-in column raises (see Store._view_select).
_NOT_READ = "forensics: column "


def _sql_text(value: str) -> str:
    """A constant string as an SQL literal (only for text this module writes itself)."""
    return "'" + value.replace("'", "''") + "'"


# Kept in every narrow materialization: what an alarm row is reported with.
_ALWAYS_KEPT = frozenset({"session_id", "timestamp", "timestamp_raw", "model", "kind", "daemon",
                          "source_file"})


def _scanned_columns(plan: list | dict, read: dict[str, set[str]]) -> bool:
    """Add each stand-in table's scanned columns in an EXPLAIN (FORMAT JSON) plan to `read`.

    False if a scan of one of them does not list its columns plainly.
    """
    for node in plan if isinstance(plan, list) else [plan]:
        info = node.get("extra_info") or {}
        table = str(info.get("Table", "")).rsplit(".", 1)[-1].strip('"')
        if table in read:
            projections = info.get("Projections")
            if info.get("Filters") or projections is None:
                return False
            read[table] |= set([projections] if isinstance(projections, str) else projections)
        if not _scanned_columns(node.get("children") or [], read):
            return False
    return True


def columns_named(sql_texts) -> set[str]:
    """Columns some SQL could name (any word of it), plus what the `attempts` view needs."""
    words: set[str] = set()
    for text in sql_texts:
        words |= set(re.findall(r"[a-z_][a-z0-9_]*", text.lower()))
    if "attempts" in words:
        words |= {"attempts"} | {c.strip('"') for c in _CALL_COLUMNS}
    return words


@dataclass
class FileScan:
    """What reading one file found: rows, unreadable lines by cause, and where they are."""

    path: str
    stream: str
    rows: int = 0
    unreadable: Counter = field(default_factory=Counter)
    bad_lines: list[tuple[int, int, str]] = field(default_factory=list)  # (ordinal, line, cause)
    bom: bool = False
    _fixed_first_line: str | None = None

    @property
    def unreadable_total(self) -> int:
        """All unreadable lines in this file."""
        return sum(self.unreadable.values())

    def as_dict(self) -> dict:
        """A JSON-ready summary of this file."""
        return {
            "file": self.path, "stream": self.stream, "rows": self.rows,
            "unreadable_lines": self.unreadable_total, "unreadable": dict(self.unreadable),
            "unreadable_at": [{"line": ln, "cause": c} for _, ln, c in self.bad_lines[:20]],
        }


@dataclass
class ScanReport:
    """Every file's scan: the basis of every figure a command prints."""

    files: list[FileScan] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Readable session rows."""
        return sum(f.rows for f in self.files if f.stream == "sessions")

    @property
    def unreadable_lines(self) -> int:
        """Unreadable lines across both streams."""
        return sum(f.unreadable_total for f in self.files)

    def warnings(self) -> list[str]:
        """One line per file that held unreadable lines, for stderr."""
        out = []
        for f in self.files:
            if f.unreadable_total:
                causes = ", ".join(f"{c}: {n}" for c, n in sorted(f.unreadable.items()))
                where = ", ".join(str(ln) for _, ln, _ in f.bad_lines[:5])
                more = "" if len(f.bad_lines) <= 5 else ", ..."
                out.append(f"warning: {f.path}: {f.unreadable_total} unreadable line(s) skipped "
                           f"({causes}; line {where}{more})")
        return out

    def as_dict(self) -> dict:
        """A JSON-ready summary of all files."""
        return {"files": [f.as_dict() for f in self.files], "rows": self.rows,
                "unreadable_lines": self.unreadable_lines}


def _open_binary(path: str):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def _is_blank(raw: bytes) -> bool:
    return not raw.strip(b" \t\r\n")


def _nonblank_lines(path: str):
    """Yield (ordinal, physical line number, raw bytes) for each non-blank line, as DuckDB numbers them."""
    ordinal = 0
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not _is_blank(raw):
                ordinal += 1
                yield ordinal, lineno, raw


def classify_lines(path: str, ordinals: set[int]) -> tuple[dict[int, tuple[int, str]], str | None]:
    """Name the cause and physical line of each non-blank line ordinal; recover a BOM first line.

    A line that is a good JSON object DuckDB refused only for its size gets the cause
    ``too_large`` with its length in bytes in place of the line number.
    """
    found: dict[int, tuple[int, str]] = {}
    fixed_first = None
    for ordinal, lineno, raw in _nonblank_lines(path):
        if ordinal not in ordinals:
            continue
        body = raw
        if ordinal == 1 and body.startswith(codecs.BOM_UTF8):
            body = body[len(codecs.BOM_UTF8):]
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            found[ordinal] = (lineno, "invalid_utf8")
            continue
        try:
            value = json.loads(text)
        except ValueError:
            torn = not raw.endswith(b"\n")
            found[ordinal] = (lineno, "torn_last_line" if torn else "invalid_json")
            continue
        if not isinstance(value, dict):
            found[ordinal] = (lineno, "not_object")
        elif body is not raw:
            fixed_first = text.strip()
        elif len(raw) >= MAX_OBJECT_BYTES:
            found[ordinal] = (len(raw), "too_large")
        else:  # DuckDB refused a line Python reads: keep it out and call it invalid
            found[ordinal] = (lineno, "invalid_json")
    return found, fixed_first


def physical_lines(path: str, ordinals: list[int]) -> dict[int, int]:
    """Map non-blank line ordinals (DuckDB's row numbers) to physical line numbers."""
    wanted = sorted(set(ordinals))
    if not wanted:
        return {}
    out: dict[int, int] = {}
    i = 0
    for ordinal, lineno, _ in _nonblank_lines(path):
        if ordinal == wanted[i]:
            out[ordinal] = lineno
            i += 1
            if i == len(wanted):
                break
    return out


class Store:
    """One DuckDB connection with the `sessions`, `attempts` and `replay_runs` views."""

    def __init__(self, sources: Sources, catalog: Catalog | None = None):
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
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._blank_lines: dict[str, int] = {}
        self._vars = 0
        self._refs: dict[str, str] = {}
        self._max_object: dict[str, int] = {}
        self._checked: ScanReport | None = None
        self._materialized = False
        self._materialized_replay = False
        self._window_only = False
        self._scan_cache: ScanReport | None = None
        self._described: dict[str, list[tuple[str, str]]] = {}
        self.mode = "strict"
        self.con.execute("create temp table _forensics_skip (file varchar, ordinal bigint)")
        self.con.execute(_MACROS)
        self._build_views()

    # -- building ---------------------------------------------------------------------

    def _ref(self, value: str) -> str:
        """Bind a path as a DuckDB variable so view text never holds a formatted literal."""
        if value not in self._refs:
            self._vars += 1
            name = f"forensics_v{self._vars}"
            self.con.execute(f"set variable {name} = ?", [value])
            self._refs[value] = f"getvariable('{name}')"
        return self._refs[value]

    @property
    def _session_paths(self) -> list[str]:
        return [str(p) for p in self.sources.sessions or []]

    @property
    def _replay_paths(self) -> list[str]:
        return [str(p) for p in self.sources.replay_runs or []]

    def _check(self, paths: list[str], stream: str) -> list[FileScan]:
        """Count each file's lines and the unreadable ones, then name each unreadable line."""
        if not paths:
            return []
        parts = [
            f"""select {i} as i,
                count(*) as lines,
                count(*) filter (where json is null or not starts_with(ltrim(json::varchar), '{{'))
                    as bad
            from read_ndjson_objects({self._ref(p)}, ignore_errors = true,
                maximum_object_size = {MAX_OBJECT_BYTES})"""
            for i, p in enumerate(paths)
        ]
        counts = {i: (lines, bad) for i, lines, bad in self.con.execute(" union all ".join(parts)).fetchall()}
        scans = []
        for i, path in enumerate(paths):
            lines, bad = counts[i]
            scan = FileScan(path=path, stream=stream, rows=lines)
            if bad:
                ordinals = [r[0] for r in self.con.execute(
                    f"""select ordinality from read_ndjson_objects({self._ref(path)}, ignore_errors = true,
                            maximum_object_size = {MAX_OBJECT_BYTES}) with ordinality
                        where json is null or not starts_with(ltrim(json::varchar), '{{')""").fetchall()]
                found, fixed = classify_lines(path, set(ordinals))
                for ordinal in ordinals:
                    lineno, cause = found.get(ordinal, (None, None))
                    if cause is None:  # the BOM line, recovered
                        scan.bom = True
                        scan._fixed_first_line = fixed
                        continue
                    if cause == "too_large":  # readable: this file gets a larger limit
                        need = 1 << (lineno * 2).bit_length()
                        self._max_object[path] = max(self._max_object.get(path, 0), need)
                        continue
                    scan.unreadable[cause] += 1
                    scan.bad_lines.append((ordinal, lineno, cause))
                scan.rows = lines - scan.unreadable_total
            scans.append(scan)
        return scans

    def _file_branch(self, path: str, select: str, reader: str, scan: FileScan | None) -> str:
        ref = self._ref(path)
        where = ""
        if scan is not None and (scan.bad_lines or scan.bom):
            skip = [o for o, _, _ in scan.bad_lines] + ([1] if scan.bom else [])
            self.con.execute("insert into _forensics_skip select ?, unnest(?)", [scan.path, skip])
            where = f"where ordinality not in (select ordinal from _forensics_skip where file = {ref})"
        branch = f"select {select}, {ref} as source_file, ordinality as line from {reader} with ordinality {where}"
        if scan is not None and scan.bom and scan._fixed_first_line is not None:
            # The first line, less its byte-order mark, read by the same typed reader.
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="forensics-")
            fixed = Path(self._tmp.name) / f"bom-{self._vars}.jsonl"
            fixed.write_text(scan._fixed_first_line + "\n", encoding="utf-8")
            fixed_reader = reader.replace(ref, self._ref(str(fixed)))
            branch += f" union all select {select}, {ref} as source_file, 1 as line from {fixed_reader}"
        return branch

    def _build_views(self) -> None:
        """(Re)create the three views for the current mode: strict, or tolerant after a check."""
        self._described = {}
        strict = self.mode == "strict"
        scans = {f.path: f for f in (self._checked.files if self._checked else [])}
        columns = _STRICT_COLUMNS if strict else _SESSION_COLUMNS
        spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
        tolerance = "" if strict else ", ignore_errors = true"
        branches = []
        for path in self._session_paths:
            size = self._max_object.get(path, MAX_OBJECT_BYTES)
            reader = (f"read_json({self._ref(path)}, format = 'newline_delimited', records = true, "
                      f"columns = {spec}{tolerance}, maximum_object_size = {size})")
            branches.append(self._file_branch(path, _SESSIONS_SELECT[self.mode], reader, scans.get(path)))
        if branches:
            body = f"select {_SESSIONS_COLUMNS_OUT}\nfrom (\n" + "\nunion all\n".join(branches) + "\n)"
        else:
            body = _EMPTY_SESSIONS.format(shape=_ATTEMPTS_SHAPE)
        self.con.execute(f"create or replace temp view _sessions_files as {body}")
        self.con.execute("create or replace temp view sessions as select * from _sessions_files")
        self.con.execute(_ATTEMPTS_VIEW)

        branches = []
        for path in self._replay_paths:
            size = self._max_object.get(path, MAX_OBJECT_BYTES)
            reader = f"read_ndjson_objects({self._ref(path)}{tolerance}, maximum_object_size = {size})"
            select = _REPLAY_SELECT
            if strict:
                # ndjson_objects accepts any JSON value; a line that is not an object must
                # stop the optimistic read like any other unreadable line.
                select = _REPLAY_SELECT.replace(
                    f"{_R}.schema as schema",
                    f"case when json_type(json) = 'OBJECT' then {_R}.schema "
                    "else error('forensics: a replay line is not a JSON object') end as schema")
            branches.append(self._file_branch(path, select, reader, scans.get(path)))
        if branches:
            body = "\nunion all\n".join(branches)
        else:
            body = (f"select {_REPLAY_SELECT}, null::varchar as source_file, null::bigint as line "
                    "from (select null::json as json) where false")
        self.con.execute(f"create or replace temp view _replay_files as {body}")
        self.con.execute("create or replace temp view replay_runs as select * from _replay_files")
        self._materialized = self._materialized_replay = False

    def check(self) -> ScanReport:
        """Run the check scan (once) and switch to the tolerant views; returns every file's scan."""
        if self._checked is None:
            self._checked = ScanReport(self._check(self._session_paths, "sessions")
                                       + self._check(self._replay_paths, "replay_runs"))
            self.mode = "tolerant"
            self._build_views()
        return self._checked

    @property
    def scan(self) -> ScanReport:
        """Every file's rows and unreadable lines (runs the check scan if nothing has yet)."""
        if self._checked is not None:
            return self._checked
        if self._materialized and self._scan_cache is not None:
            return self._scan_cache
        if self._materialized:
            # The optimistic reader read every line of every file without a fault: nothing
            # was unreadable. The table holds every file's rows, or (window_only) the window's.
            counts = self._rows_per_file("_sessions_all", self._session_paths)
            files = [FileScan(path=p, stream="sessions", rows=counts.get(p, 0)) for p in self._session_paths]
            if self._materialized_replay:
                rcounts = self._rows_per_file("_replay_mat", self._replay_paths)
                files += [FileScan(path=p, stream="replay_runs", rows=rcounts.get(p, 0))
                          for p in self._replay_paths]
            self._scan_cache = ScanReport(files)
            return self._scan_cache
        return self.check()

    def warnings(self) -> list[str]:
        """What to say on stderr about unreadable lines: nothing unless a line was refused."""
        return self._checked.warnings() if self._checked is not None else []

    # -- querying ---------------------------------------------------------------------

    def _run(self, fn):
        """Run fn(); if DuckDB refuses a line under the optimistic reader, check and run again."""
        import duckdb

        try:
            return fn()
        except (duckdb.InvalidInputException, duckdb.ConversionException) as first:
            # What DuckDB raises for a line it cannot read; SQL mistakes go straight out.
            exc: Exception = first
            if _NOT_READ in str(first):
                raise ForensicsError("column " + str(first).split(_NOT_READ, 1)[1]) from None
            if self.mode == "strict" and (self._session_paths or self._replay_paths):
                self.check()
                try:
                    return fn()
                except duckdb.Error as again:
                    exc = again
            raise ForensicsError(f"query failed: {str(exc).splitlines()[0]}") from None
        except duckdb.Error as exc:
            raise ForensicsError(f"query failed: {str(exc).splitlines()[0]}") from None

    def query(self, name: str, params: dict[str, Any] | None = None, *, physical: bool = True) -> "Result":
        """Run a named catalog query with validated, bound parameters and fetch the result."""
        q = self.catalog.get(name)
        bound = q.bind(params or {})
        return self.execute(q.sql, bound, physical=physical)

    def columns_read(self, statements: list[tuple[str, dict[str, Any]]]) -> dict[str, set[str]]:
        """The columns of `sessions` and `replay_runs` these (sql, params) statements read.

        Asked of DuckDB's own optimizer: each statement is explained against empty stand-in
        tables on a second connection, with filter pushdown off so that filtered columns
        show as read. Where the plan cannot say, every column the SQL text names is kept,
        so a column is never missing, at worst read needlessly.
        """
        sources = {"sessions": "_sessions_files", "replay_runs": "_replay_files"}
        views = {view: self._columns_of(source) for view, source in sources.items()}
        named = columns_named(sql for sql, _ in statements)
        fallback = {v: {c for c in cols if c in named} for v, cols in views.items()}
        import duckdb

        probe = self.con.cursor()
        # The optimizer settings are global to the database, so they are put back after.
        (disabled,) = self.con.execute("select current_setting('disabled_optimizers')").fetchone()
        try:
            for view, source in sources.items():
                cols = self._describe(source)
                probe.execute(f"create temp table {view} (" + ", ".join(f'"{n}" {t}' for n, t in cols) + ")")
            probe.execute(_MACROS)
            probe.execute(_ATTEMPTS_VIEW)
            # Statistics on an empty table would fold every filter away, and pushed-down
            # filters would hide the columns they read.
            probe.execute("set disabled_optimizers = "
                          "'statistics_propagation,empty_result_pullup,filter_pushdown'")
            read: dict[str, set[str]] = {v: set() for v in views}
            for sql, params in statements:
                plan = probe.execute("explain (format json) " + sql, params).fetchall()[0][1]
                if not _scanned_columns(json.loads(plan), read):
                    return fallback
            return read
        except (duckdb.Error, KeyError, TypeError, ValueError, IndexError):
            return fallback
        finally:
            probe.close()
            self.con.execute("set disabled_optimizers = ?", [disabled])

    def materialize(self, since: datetime | None = None, until: datetime | None = None,
                    *, replay: bool = False, columns: set[str] | dict[str, set[str]] | None = None,
                    window_only: bool = False) -> int:
        """Parse the logs once into temp tables behind the same view names; returns rows in the window.

        Every row is kept with its file and time (so totals and coverage need no second
        read); the wide values stay only for rows in the window. ``columns`` keeps only
        those columns and leaves ``line`` empty, because numbering lines makes DuckDB read a
        file on one thread: `locate_lines` fills it afterwards for the few rows that need
        it. A set of names (the alarm's narrow read) keeps them in both views, plus what an
        alarm row is reported with; a mapping (from `columns_read`) keeps exactly each
        view's own. Rows whose timestamp could not be parsed are in every window: a broken
        timestamp must not hide a violation.
        """
        # The window lives in two variables, so the views filter by it (DuckDB folds them
        # into constants) instead of the load storing a flag per row.
        self.con.execute("set variable forensics_since = ?::timestamptz", [since])
        self.con.execute("set variable forensics_until = ?::timestamptz", [until])
        in_window = """("timestamp" is null
            or ((getvariable('forensics_since') is null or "timestamp" >= getvariable('forensics_since'))
                and (getvariable('forensics_until') is null or "timestamp" < getvariable('forensics_until'))))"""
        if columns is None:
            select = (f"* replace (case when {in_window} then prompt end as prompt, "
                      f"case when {in_window} then attempts end as attempts, "
                      f"case when {in_window} then artifact end as artifact)")
            replay_select = "*"
            replay_keep: set[str] = set()
        else:
            if isinstance(columns, dict):
                session_keep = set(columns.get("sessions", ())) | {"timestamp", "source_file"}
                replay_keep = set(columns.get("replay_runs", ())) | {"source_file"}
            else:
                session_keep = set(columns) | _ALWAYS_KEPT
                replay_keep = set(columns) | {"session_id", "source_file"}
            # A stream read from one file needs no file name per row: its views say it once.
            if len(self._session_paths) == 1:
                session_keep.discard("source_file")
            if len(self._replay_paths) == 1:
                replay_keep.discard("source_file")
            # Named columns only (no `select *` in between), so DuckDB reads just these.
            keep = [c for c in self._columns_of("_sessions_files") if c in session_keep and c != "line"]
            select = ", ".join(f'"{c}"' for c in keep)
            # Even when no statement reads a replay column, its rows are still counted.
            rkeep = [c for c in self._columns_of("_replay_files") if c in replay_keep and c != "line"]
            replay_select = ", ".join(f'"{c}"' for c in rkeep or ["session_id"])

        def build():
            where = f" where {in_window}" if window_only else ""
            self.con.execute(f"create or replace temp table _sessions_all as select {select} from _sessions_files{where}")
            source = "_replay_files"
            if columns is not None and "raw" not in replay_keep and self.mode == "strict" and self._replay_paths:
                source = self._typed_replay_view(hits_only="retrieval" not in replay_keep)
            self.con.execute(f"create or replace temp table _replay_mat as select {replay_select} from "
                             + (source if replay else "_replay_files where false"))

        # Row order in the table is never relied on (queries order explicitly, lines are
        # numbered by the reader), and keeping it costs a fifth of the load.
        self.con.execute("set preserve_insertion_order = false")
        try:
            self._run(build)
        finally:
            self.con.execute("reset preserve_insertion_order")
        # A narrow table has no `line` (see above): the views give it empty until
        # `locate_lines` fills it. With a mapping, every other column of the view stays
        # nameable, so the statements still bind; one that was not read raises if a row
        # ever needs its value, rather than reading NULL.
        strict_names = isinstance(columns, dict)
        session_view = self._view_select("_sessions_files", "_sessions_all", self._session_paths,
                                         stand_ins=strict_names)
        replay_view = self._view_select("_replay_files", "_replay_mat", self._replay_paths,
                                        stand_ins=strict_names)
        self.con.execute(
            f"create or replace temp view sessions as select {session_view} from _sessions_all where {in_window}")
        if replay:
            self.con.execute(f"create or replace temp view replay_runs as select {replay_view} from _replay_mat")
        self._materialized = True
        self._materialized_replay = replay
        self._window_only = window_only
        self._scan_cache = None
        return self.con.execute("select count(*) from sessions").fetchall()[0][0]

    def _view_select(self, source: str, table: str, paths: list[str], *, stand_ins: bool) -> str:
        """The select list of a view over a (narrow) table, in the file view's column order.

        The table's own columns; `source_file` as a constant if the stream is one file;
        `line`, empty, if the table has none; and, with ``stand_ins``, every other column
        as a stand-in that raises when evaluated.
        """
        have = self._table_columns(table)
        out = []
        for name, kind in self._describe(source):
            if name in have:
                out.append(f'"{name}"')
            elif name == "source_file" and len(paths) == 1:
                out.append(f'{self._ref(paths[0])} as "source_file"')
            elif name == "line":
                out.append('null::bigint as "line"')
            elif stand_ins:
                message = f"{_NOT_READ}{name} was not read: the store parsed only what its statements use"
                out.append(f"error({_sql_text(message)})::{kind} as \"{name}\"")
        return ", ".join(out)

    def _typed_replay_view(self, *, hits_only: bool = False) -> str:
        """The replay files read by typed read_json: half the cost, when `raw` is not wanted.

        With ``hits_only`` the retrieval is read only as far as counting its hits.
        """
        columns = _REPLAY_COLUMNS
        if hits_only:
            columns = columns.replace(_RETRIEVAL_TYPE, "STRUCT(hits JSON[])")
        branches = []
        for path in self._replay_paths:
            ref = self._ref(path)
            branches.append(
                f"""select schema, try_cast("timestamp" as timestamptz) as "timestamp", session_id, task_id,
                    model, provider, retrieval, len(retrieval.hits) as hits, output, latency_ms, tokens_in,
                    tokens_out, status, error, null::json as raw, {ref} as source_file, null::bigint as line
                from read_json({ref}, format = 'newline_delimited', records = true,
                    columns = {columns},
                    maximum_object_size = {self._max_object.get(path, MAX_OBJECT_BYTES)})""")
        self.con.execute("create or replace temp view _replay_typed as " + " union all ".join(branches))
        return "_replay_typed"

    def _table_columns(self, table: str) -> set[str]:
        return {r[0] for r in self.con.execute(f"select column_name from (describe {table})").fetchall()}

    def _rows_per_file(self, table: str, paths: list[str]) -> dict[str, int]:
        """Rows of a materialized table by file (a one-file stream's table has no file column)."""
        if "source_file" in self._table_columns(table):
            return dict(self.con.execute(f"select source_file, count(*) from {table} group by source_file").fetchall())
        return {paths[0]: self.con.execute(f"select count(*) from {table}").fetchall()[0][0]} if paths else {}

    def _describe(self, view: str) -> list[tuple[str, str]]:
        """(name, type) of a file view's columns, kept until the views are rebuilt."""
        if view not in self._described:
            self._described[view] = self.con.execute(
                f"select column_name, column_type from (describe {view})").fetchall()
        return self._described[view]

    def _columns_of(self, view: str) -> list[str]:
        return [name for name, _ in self._describe(view)]

    def locate_lines(self, records: list[dict]) -> None:
        """Fill `line` (DuckDB's row number) in place for records read without one, by file, id and time."""
        missing = [r for r in records if r.get("line") is None and r.get("source_file")]
        if not missing:
            return
        # The file views, so a recovered first line and skipped bad lines count as usual.
        found = self.execute(
            """select source_file, coalesce(session_id, '') as sid, "timestamp", line from _sessions_files
            where coalesce(session_id, '') in (select unnest($ids::varchar[]))""",
            {"ids": sorted({r.get("session_id") or "" for r in missing})}, physical=False)
        lines: dict[tuple, list[int]] = {}
        for path, sid, ts, line in sorted(found.rows, key=lambda r: (r[0], r[3])):
            lines.setdefault((path, sid, ts), []).append(line)
        for r in missing:
            candidates = lines.get((r["source_file"], r.get("session_id") or "", r.get("timestamp")), [])
            if candidates:
                r["line"] = candidates.pop(0)

    def coverage(self) -> tuple[int, datetime | None, datetime | None]:
        """All session rows read, and the oldest and newest timestamp among them."""
        table = "_sessions_all" if self._materialized else "_sessions_files"
        return self.execute(f'select count(*), min("timestamp"), max("timestamp") from {table}').rows[0]

    def write_rows(self, keys: list[tuple[str, int]], path: Path) -> int:
        """Write the full session rows at (source_file, line) keys to JSONL, or Parquet by extension."""
        self.con.execute("create or replace temp table _wanted (source_file varchar, line bigint)")
        if keys:
            self.con.executemany("insert into _wanted values (?, ?)", [list(k) for k in keys])
        # From the files, not the (possibly narrow) materialized table: the full rows.
        rel = self.con.sql(
            """select s.* from _sessions_files as s
            semi join _wanted as w on w.source_file = s.source_file and w.line = s.line
            order by s.source_file, s.line""")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            self._run(lambda: rel.write_parquet(str(path)))
            return len(keys)
        from .output import plain

        columns = rel.columns
        rows = self._run(rel.fetchall)
        with open(path, "w", encoding="utf-8") as fh:
            for row in rows:
                rec = dict(zip(columns, row))
                for k in ("artifact", "grounded_in_roster_raw"):
                    if isinstance(rec.get(k), str):
                        rec[k] = json.loads(rec[k])
                fh.write(json.dumps(plain(rec), ensure_ascii=False) + "\n")
        return len(rows)

    def execute(self, sql: str, params: dict[str, Any] | None = None, *, physical: bool = True) -> "Result":
        """Execute SQL with bound parameters and fetch the whole result."""

        def fetch():
            cur = self.con.execute(sql, params) if params else self.con.execute(sql)
            desc = cur.description or []
            return [d[0] for d in desc], [str(d[1]) for d in desc], cur.fetchall()

        columns, types, rows = self._run(fetch)
        result = Result(columns, rows, types)
        if physical:
            self.to_physical(result)
        return result

    def sql(self, text: str):
        """A DuckDB relation over the views, for notebooks and ad-hoc work (checks the logs first)."""
        # A relation runs later, out of reach of the optimistic retry: read tolerantly.
        self.check()
        return self.con.sql(text)

    def run(self, name: str, **params: Any):
        """Run a named query and return it as a pandas DataFrame (pandas imported only here)."""
        import pandas as pd

        res = self.query(name, params)
        return pd.DataFrame(res.rows, columns=res.columns)

    def df(self, text: str, **params: Any):
        """Run ad-hoc SQL (with $name parameters) and return a pandas DataFrame."""
        import pandas as pd

        res = self.execute(text, params or None)
        return pd.DataFrame(res.rows, columns=res.columns)

    def physical_records(self, records: list[dict]) -> None:
        """Turn the `line` of dicts with a `source_file` into physical line numbers, in place."""
        if not records:
            return
        res = Result(["source_file", "line"], [(r.get("source_file"), r.get("line")) for r in records])
        self.to_physical(res)
        for r, (_, line) in zip(records, res.rows):
            r["line"] = line

    def to_physical(self, result: "Result") -> None:
        """Turn `line` values (DuckDB's non-blank row numbers) into physical line numbers in place."""
        # DuckDB numbers non-blank lines; people open files at physical lines. Blank lines
        # are rare, so the mapping is only computed for files a result actually names.
        if "source_file" not in result.columns or "line" not in result.columns:
            return
        fi, li = result.columns.index("source_file"), result.columns.index("line")
        wanted: dict[str, list[int]] = {}
        for row in result.rows:
            if row[fi] is not None and row[li] is not None:
                wanted.setdefault(row[fi], []).append(row[li])
        maps = {}
        for path, ordinals in wanted.items():
            if self._has_blank_lines(path):
                maps[path] = physical_lines(path, ordinals)
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

    def _has_blank_lines(self, path: str) -> bool:
        if self._checked is None and self._materialized and self._window_only:
            # The file's count of non-blank lines is not known here: map by reading it,
            # rather than count its newlines only to compare them with nothing.
            return True
        if path not in self._blank_lines:
            scan = next((s for s in self.scan.files if s.path == path), None)
            if scan is None:
                return False
            newlines = 0
            last = b"\n"
            with _open_binary(path) as fh:
                while chunk := fh.read(1 << 24):
                    newlines += chunk.count(b"\n")
                    last = chunk[-1:]
            total = newlines + (0 if last == b"\n" else 1)
            self._blank_lines[path] = total - (scan.rows + scan.unreadable_total)
        return self._blank_lines[path] > 0

    def close(self) -> None:
        """Close the connection and remove temporary files."""
        self.con.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
) -> Store:
    """Open the logs (flags, then FORENSICS_* variables, then forensics.toml) as a Store."""
    from .sources import resolve

    src = resolve(sessions, replay_runs, config=config, queries_dirs=queries_dirs)
    return Store(src)
