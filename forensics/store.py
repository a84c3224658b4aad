"""The DuckDB layer: typed views over both streams, and an honest count of what was unreadable.

How a file is read (docs/SESSION_LOG.md, "How forensics reads a log"):

1. A check scan (``read_ndjson_objects``) counts the file's non-blank lines and the ones
   DuckDB cannot read as a JSON object.
2. Only when that count is not zero, Python reads those lines to name the cause
   (invalid UTF-8, invalid JSON, not an object, torn last line) and their line numbers.
   A first line that is only unreadable because of a byte-order mark is recovered.
3. The views read every key with an explicit type (``read_json`` with ``columns``, never
   sampling) and leave out exactly the lines the check found unreadable, so a bad line
   is counted, reported, and never becomes a NULL row.
"""

from __future__ import annotations

import bisect
import codecs
import gzip
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .catalog import Catalog, Query, load_catalog
from .errors import ForensicsError
from .sources import Sources

# Lines of tens of MiB exist (prompts are any size); DuckDB's default is 16 MiB.
MAX_OBJECT_BYTES = 1 << 30

# Every key is read as text or JSON and typed in the view, so a wrong-typed value
# becomes a NULL cell that `doctor` reports, never a whole row lost to a cast error.
_SESSION_COLUMNS = {
    "schema": "VARCHAR", "timestamp": "VARCHAR", "daemon": "VARCHAR", "session_id": "VARCHAR",
    "kind": "VARCHAR", "model": "VARCHAR", "provider": "VARCHAR", "prompt": "VARCHAR",
    "iterations": "JSON", "max_iterations": "JSON", "final_verdict": "VARCHAR",
    "attempts": "JSON", "artifact": "JSON", "grounded_in_roster": "JSON", "duration_ms": "JSON",
}
_ATTEMPTS_SHAPE = '[{"iteration":"BIGINT","verdict_kind":"VARCHAR","error":"VARCHAR","span_id":"VARCHAR"}]'
_RETRIEVAL_SHAPE = '{"query":"VARCHAR","k":"BIGINT","hits":[{"doc_id":"VARCHAR","score":"DOUBLE"}]}'

_INT = "case when json_type({c}) in ('UBIGINT', 'BIGINT') then {c}::bigint end"

_SESSIONS_SELECT = f"""
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
    json_transform(attempts, '{_ATTEMPTS_SHAPE}') as attempts,
    case when json_type(artifact) <> 'NULL' then artifact end as artifact,
    case when json_type(grounded_in_roster) = 'BOOLEAN' then grounded_in_roster::boolean end
        as grounded_in_roster,
    grounded_in_roster as grounded_in_roster_raw,
    {_INT.format(c="duration_ms")} as duration_ms"""

_REPLAY_SELECT = f"""
    json ->> 'schema' as schema,
    try_cast(json ->> 'timestamp' as timestamptz) as "timestamp",
    json ->> 'session_id' as session_id,
    json ->> 'task_id' as task_id,
    json ->> 'model' as model,
    json ->> 'provider' as provider,
    json_transform(json -> 'retrieval', '{_RETRIEVAL_SHAPE}') as retrieval,
    json_array_length(json -> 'retrieval' -> 'hits') as hits,
    json ->> 'output' as output,
    try_cast(json ->> 'latency_ms' as bigint) as latency_ms,
    try_cast(json ->> 'tokens_in' as bigint) as tokens_in,
    try_cast(json ->> 'tokens_out' as bigint) as tokens_out,
    json ->> 'status' as status,
    json ->> 'error' as error,
    json as raw"""

_EMPTY_SESSIONS = """select
    null::varchar as schema, null::timestamptz as "timestamp", null::varchar as timestamp_raw,
    null::varchar as daemon, null::varchar as session_id, null::varchar as kind,
    null::varchar as model, null::varchar as provider, null::varchar as prompt,
    null::bigint as iterations, null::bigint as max_iterations, null::varchar as final_verdict,
    json_transform(null::json, '{shape}') as attempts, null::json as artifact,
    null::boolean as grounded_in_roster, null::json as grounded_in_roster_raw,
    null::bigint as duration_ms, null::varchar as source_file, null::bigint as line
where false"""

# Helpers the named queries share; macros keep each query file short and readable.
_MACROS = r"""
create or replace temp macro wilson_low(k, n) as
    case when n > 0 then greatest(0.0,
        ((k / n) + 1.96 ^ 2 / (2 * n)
         - 1.96 * sqrt((k / n) * (1 - k / n) / n + 1.96 ^ 2 / (4 * n * n)))
        / (1 + 1.96 ^ 2 / n))
    end;
create or replace temp macro wilson_high(k, n) as
    case when n > 0 then least(1.0,
        ((k / n) + 1.96 ^ 2 / (2 * n)
         + 1.96 * sqrt((k / n) * (1 - k / n) / n + 1.96 ^ 2 / (4 * n * n)))
        / (1 + 1.96 ^ 2 / n))
    end;
create or replace temp macro fold_error(e) as
    regexp_replace(regexp_replace(coalesce(e, ''), 'W-[0-9]+', 'W-<n>', 'g'),
                   '\b[0-9]+\b', '<n>', 'g');
"""

_ATTEMPTS_VIEW = """
create or replace temp view attempts as
select
    s.session_id,
    s."timestamp",
    s.model,
    s.provider,
    s.kind,
    s.daemon,
    s.final_verdict,
    s.source_file,
    s.line,
    a.attempt.iteration as iteration,
    a.attempt.verdict_kind as verdict_kind,
    a.attempt.error as error,
    a.attempt.span_id as span_id,
    a.position as position
from sessions as s,
    unnest(s.attempts) with ordinality as a(attempt, position)
"""

UNREADABLE_CAUSES = ("invalid_utf8", "invalid_json", "not_object", "torn_last_line")


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


def classify_lines(path: str, ordinals: set[int]) -> tuple[dict[int, tuple[int, str]], str | None]:
    """Name the cause and physical line of each non-blank line ordinal; recover a BOM first line."""
    found: dict[int, tuple[int, str]] = {}
    fixed_first = None
    ordinal = 0
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            if _is_blank(raw):
                continue
            ordinal += 1
            if ordinal not in ordinals:
                continue
            torn = not raw.endswith(b"\n")
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
                found[ordinal] = (lineno, "torn_last_line" if torn else "invalid_json")
                continue
            if not isinstance(value, dict):
                found[ordinal] = (lineno, "not_object")
            elif body is not raw:
                fixed_first = text.strip()
            # else: DuckDB refused a line Python reads; keep it out and call it invalid.
            else:
                found[ordinal] = (lineno, "invalid_json")
    return found, fixed_first


def physical_lines(path: str, ordinals: list[int]) -> dict[int, int]:
    """Map non-blank line ordinals (DuckDB's row numbers) to physical line numbers."""
    wanted = sorted(set(ordinals))
    if not wanted:
        return {}
    out: dict[int, int] = {}
    ordinal = 0
    i = 0
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            if _is_blank(raw):
                continue
            ordinal += 1
            if ordinal == wanted[i]:
                out[ordinal] = lineno
                i += 1
                if i == len(wanted):
                    break
    return out


class Store:
    """One DuckDB connection with the `sessions`, `attempts` and `replay_runs` views."""

    def __init__(self, sources: Sources, catalog: Catalog | None = None, *, threads: int | None = None):
        import duckdb  # imported here so `forensics --help` stays fast

        self.sources = sources
        self.catalog = catalog or load_catalog(sources.queries_dirs)
        self.con = duckdb.connect(":memory:")
        self.con.execute("set TimeZone = 'UTC'")
        if threads:
            self.con.execute(f"set threads = {int(threads)}")
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._blank_lines: dict[str, int] = {}
        self.scan = ScanReport()
        self._vars = 0
        self._build()

    # -- building ---------------------------------------------------------------------

    def _var(self, value: str) -> str:
        """Bind a value as a DuckDB variable so view text never holds a formatted literal."""
        self._vars += 1
        name = f"forensics_v{self._vars}"
        self.con.execute(f"set variable {name} = ?", [value])
        return f"getvariable('{name}')"

    def _check(self, paths: list[str], stream: str) -> list[FileScan]:
        """Count each file's lines and the unreadable ones in one statement."""
        if not paths:
            return []
        refs = [self._var(p) for p in paths]
        parts = [
            f"""select {i} as i,
                count(*) as lines,
                count(*) filter (where json is null or not starts_with(ltrim(json::varchar), '{{'))
                    as bad
            from read_ndjson_objects({ref}, ignore_errors = true,
                maximum_object_size = {MAX_OBJECT_BYTES})"""
            for i, ref in enumerate(refs)
        ]
        counts = {i: (lines, bad) for i, lines, bad in self.con.execute(" union all ".join(parts)).fetchall()}
        scans = []
        for i, path in enumerate(paths):
            lines, bad = counts[i]
            scan = FileScan(path=path, stream=stream, rows=lines)
            if bad:
                ordinals = [r[0] for r in self.con.execute(
                    f"""select ordinality from read_ndjson_objects({refs[i]}, ignore_errors = true,
                            maximum_object_size = {MAX_OBJECT_BYTES}) with ordinality
                        where json is null or not starts_with(ltrim(json::varchar), '{{')""").fetchall()]
                found, fixed = classify_lines(path, set(ordinals))
                for ordinal in ordinals:
                    lineno, cause = found.get(ordinal, (None, None))
                    if cause is None:  # the BOM line, recovered
                        scan.bom = True
                        scan._fixed_first_line = fixed
                        continue
                    scan.unreadable[cause] += 1
                    scan.bad_lines.append((ordinal, lineno, cause))
                scan.rows = lines - scan.unreadable_total
            scans.append(scan)
        return scans

    def _file_branch(self, scan: FileScan, ref: str, select: str, reader: str) -> str:
        where = ""
        if scan.bad_lines or scan.bom:
            skip = [o for o, _, _ in scan.bad_lines] + ([1] if scan.bom else [])
            self.con.execute("insert into _forensics_skip select ?, unnest(?)", [scan.path, skip])
            where = f"where ordinality not in (select ordinal from _forensics_skip where file = {ref})"
        branch = f"select {select}, {ref} as source_file, ordinality as line from {reader} with ordinality {where}"
        if scan.bom and scan._fixed_first_line is not None:
            # The first line, less its byte-order mark, read by the same typed reader.
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="forensics-")
            fixed = Path(self._tmp.name) / f"bom-{self._vars}.jsonl"
            fixed.write_text(scan._fixed_first_line + "\n", encoding="utf-8")
            fixed_reader = reader.replace(ref, self._var(str(fixed)))
            branch += f" union all select {select}, {ref} as source_file, 1 as line from {fixed_reader}"
        return branch

    def _build(self) -> None:
        con = self.con
        con.execute("create temp table _forensics_skip (file varchar, ordinal bigint)")
        con.execute(_MACROS)
        s_paths = [str(p) for p in self.sources.sessions or []]
        r_paths = [str(p) for p in self.sources.replay_runs or []]
        s_scans = self._check(s_paths, "sessions")
        r_scans = self._check(r_paths, "replay_runs")
        self.scan = ScanReport(s_scans + r_scans)

        columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _SESSION_COLUMNS.items()) + "}"
        branches = []
        for scan in s_scans:
            ref = self._var(scan.path)
            reader = (f"read_json({ref}, format = 'newline_delimited', records = true, "
                      f"columns = {columns}, ignore_errors = true, "
                      f"maximum_object_size = {MAX_OBJECT_BYTES})")
            branches.append(self._file_branch(scan, ref, _SESSIONS_SELECT, reader))
        body = "\nunion all\n".join(branches) if branches else _EMPTY_SESSIONS.format(shape=_ATTEMPTS_SHAPE)
        con.execute(f"create or replace temp view sessions as {body}")
        con.execute(_ATTEMPTS_VIEW)

        branches = []
        for scan in r_scans:
            ref = self._var(scan.path)
            reader = (f"read_ndjson_objects({ref}, ignore_errors = true, "
                      f"maximum_object_size = {MAX_OBJECT_BYTES})")
            branches.append(self._file_branch(scan, ref, _REPLAY_SELECT, reader))
        if branches:
            body = "\nunion all\n".join(branches)
        else:
            body = (f"select {_REPLAY_SELECT}, null::varchar as source_file, null::bigint as line "
                    "from (select null::json as json) where false")
        con.execute(f"create or replace temp view replay_runs as {body}")

    # -- querying ---------------------------------------------------------------------

    def query(self, name: str, params: dict[str, Any] | None = None, *, physical: bool = True) -> "Result":
        """Run a named catalog query with validated, bound parameters and fetch the result."""
        q = self.catalog.get(name)
        bound = q.bind(params or {})
        return self.execute(q.sql, bound, physical=physical)

    def materialize(self, since: datetime | None = None, until: datetime | None = None,
                    *, replay: bool = False) -> int:
        """Parse the logs once into temp tables behind the same view names; returns session rows.

        Rows whose timestamp could not be parsed stay in any window: a broken timestamp
        must not hide a violation.
        """
        self.con.execute(
            """create or replace temp table _sessions_mat as
            select * from sessions
            where "timestamp" is null
                or (($since::timestamptz is null or "timestamp" >= $since::timestamptz)
                    and ($until::timestamptz is null or "timestamp" < $until::timestamptz))""",
            {"since": since.isoformat() if since else None,
             "until": until.isoformat() if until else None})
        self.con.execute("create or replace temp view sessions as select * from _sessions_mat")
        if replay:
            self.con.execute("create or replace temp table _replay_mat as select * from replay_runs")
            self.con.execute("create or replace temp view replay_runs as select * from _replay_mat")
        return self.con.execute("select count(*) from _sessions_mat").fetchone()[0]

    def write_rows(self, keys: list[tuple[str, int]], path: Path) -> int:
        """Write the full session rows at (source_file, line) keys to JSONL, or Parquet by extension."""
        self.con.execute("create or replace temp table _wanted (source_file varchar, line bigint)")
        if keys:
            self.con.executemany("insert into _wanted values (?, ?)", [list(k) for k in keys])
        rel = self.con.sql(
            """select s.* from sessions as s
            semi join _wanted as w on w.source_file = s.source_file and w.line = s.line
            order by s.source_file, s.line""")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            rel.write_parquet(str(path))
            return len(keys)
        from .output import plain

        columns = rel.columns
        rows = rel.fetchall()
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
        import duckdb

        try:
            cur = self.con.execute(sql, params or None) if params else self.con.execute(sql)
            columns = [d[0] for d in cur.description] if cur.description else []
            types = [str(d[1]) for d in cur.description] if cur.description else []
            rows = cur.fetchall()
        except duckdb.Error as exc:
            raise ForensicsError(f"query failed: {str(exc).splitlines()[0]}") from None
        result = Result(columns, rows, types)
        if physical:
            self.to_physical(result)
        return result

    def sql(self, text: str):
        """A DuckDB relation over the views, for notebooks and ad-hoc work."""
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
        scan = next((s for s in self.scan.files if s.path == path), None)
        if scan is None:
            return False
        if path not in self._blank_lines:
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


def now_utc() -> datetime:
    """The current time, in UTC."""
    return datetime.now(timezone.utc)
