"""`--engine spark`: the store's Parquet files read by Apache Spark, with the same views and named queries.

Spark reads the files the manifest lists, from a folder or any URL its Hadoop file systems take
(`s3a://`, `hdfs://`, `abfss://`); where it runs is Spark's own configuration (`--spark-master`,
or Spark Connect by `--spark-remote sc://...` / `$SPARK_REMOTE`). It answers over what was
ingested: the lines not ingested yet (the tails DuckDB reads on top) are the ingest's to add.
pyspark is the `[spark]` extra; nothing on the default install or the cron path imports it.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from .errors import ForensicsError
from .sparksql import define_functions, to_spark

# The store's provenance columns, and the day folder Spark may read as a column: not in the views.
_HIDDEN = ("file_id", "fingerprint", "batch", "day")
# Columns of DuckDB's JSON type in the views: JSON output nests them, on either engine.
_JSON_COLUMNS = frozenset({"artifact", "grounded_in_roster_raw", "raw"})

_ATTEMPTS_VIEW = """create or replace temp view attempts as
select
    session_id, `timestamp`, model, provider, kind, daemon, final_verdict, source_file, line,
    attempt.iteration as iteration,
    attempt.verdict_kind as verdict_kind,
    attempt.error as error,
    attempt.span_id as span_id,
    cast(pos + 1 as bigint) as position
from sessions
lateral view posexplode(attempts) numbered as pos, attempt"""


def spark_session(master: str | None = None, remote: str | None = None):
    """A Spark session: Spark Connect at ``remote`` (or $SPARK_REMOTE), else a driver on ``master``."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ForensicsError("--engine spark needs pyspark: pip install 'forensics[spark]' "
                             "(and Java 17 or newer for a local Spark)") from exc
    remote = remote or os.environ.get("SPARK_REMOTE")
    builder = SparkSession.builder.appName("forensics")
    if remote:
        builder = builder.remote(remote)
    else:
        master = master or "local[*]"
        builder = builder.master(master).config("spark.ui.enabled", "false") \
            .config("spark.ui.showConsoleProgress", "false")
        if master.startswith("local"):
            # A laptop's data: a few shuffle partitions, not the cluster default of 200.
            builder = builder.config("spark.sql.shuffle.partitions", "8")
    # The DuckDB semantics the queries are written for: UTC, and NULL (not an error) for an
    # index past the end or a division by zero.
    builder = builder.config("spark.sql.session.timeZone", "UTC").config("spark.sql.ansi.enabled", "false")
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # no Java, a master that does not answer: one clear line
        raise ForensicsError(f"could not start Spark: {_first_line(exc)}") from exc
    if not remote:
        # Spark logs every failed statement with its stack; forensics says it in one line.
        session.sparkContext.setLogLevel("OFF")
    import logging

    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL + 1)
    return session


class SparkStore:
    """A store read by Spark: the `sessions`, `attempts` and `replay_runs` views and the named queries."""

    def __init__(self, root: str | os.PathLike, catalog, *, master: str | None = None, remote: str | None = None,
                 session=None):
        self.root = str(root).rstrip("/")
        self.catalog = catalog
        self.session = session or spark_session(master, remote)
        define_functions(self.session)
        _install(self.session, self.root)

    def execute(self, sql: str, params: dict[str, Any] | None = None, *, name: str = "statement"):
        """Run DuckDB-dialect SQL on Spark (translated, values bound as Spark parameters); fetch the whole result."""
        from .store import Result

        text = to_spark(sql, name=name)
        try:
            df = self.session.sql(text, args=_args(params or {}, text))
            columns = list(df.columns)
            rows = [tuple(_python(v) for v in row) for row in df.collect()]
        except Exception as exc:
            if isinstance(exc, ForensicsError):
                raise
            raise ForensicsError(f"{name} failed on Spark: {_first_line(exc)}") from exc
        return Result(columns, rows, ["JSON" if c in _JSON_COLUMNS else "" for c in columns])

    def query(self, name: str, params: dict[str, Any] | None = None):
        """Run a named catalog query with validated, bound parameters."""
        q = self.catalog.get(name)
        return self.execute(q.sql, q.bind(params or {}), name=name)

    def close(self) -> None:
        """Drop the views; the Spark session itself is Spark's (a local one ends with the process)."""
        for view in ("sessions", "attempts", "replay_runs"):
            self.session.catalog.dropTempView(view)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _install(session, root: str) -> None:
    manifest, names = _manifest(session, root)
    session.createDataFrame([(i + 1, n) for i, n in enumerate(names)], "file_id BIGINT, path STRING") \
        .createOrReplaceTempView("_forensics_files")
    schemas = None
    for stream in ("sessions", "replay_runs"):
        paths = [f"{root}/{f['path']}" for f in manifest.files_of(stream)]
        if paths:
            df = session.read.parquet(*paths)
        else:
            schemas = schemas or store_schemas()
            df = session.createDataFrame([], schemas[stream])
        df.createOrReplaceTempView(f"_{stream}_parquet")
        cols = [c for c in df.columns if c not in _HIDDEN]
        select = ", ".join("coalesce(f.path, p.source_file) as source_file" if c == "source_file" else f"p.`{c}`"
                           for c in cols)
        # Each row shows its file's current name, as the DuckDB view does.
        session.sql(f"create or replace temp view {stream} as select {select} from _{stream}_parquet as p "
                    "left join _forensics_files as f on f.file_id = p.file_id")
    session.sql(_ATTEMPTS_VIEW)


def _manifest(session, root: str):
    """The committed manifest, and each file's name by checkpoint id - 1."""
    from .checkpoints import current_names
    from .manifest import NAME, StoreError, parse

    if "://" not in root or root.startswith("file://"):
        # A folder: the names DuckDB's view shows (the store's sources looked at now).
        from .storeview import open_lake

        local = Path(root.removeprefix("file://"))
        lake = open_lake(local)
        try:
            from .manifest import load

            return load(local), list(lake.file_paths)
        finally:
            lake.close()
    try:
        text = session.read.text(f"{root}/{NAME}", wholetext=True).collect()[0][0]
    except Exception as exc:
        raise StoreError(f"store {root}: cannot read {NAME} through Spark: {_first_line(exc)}") from exc
    manifest = parse(text, root)
    return manifest, current_names(manifest.checkpoints)


def store_schemas() -> dict[str, str]:
    """Each stream's Parquet schema as Spark DDL, derived from the DuckDB view's declared types."""
    import duckdb

    from .columns import READ_MACROS, empty_replay, empty_sessions
    from .measures import MACROS

    con = duckdb.connect()
    try:
        con.execute(READ_MACROS + MACROS)
        out = {}
        for stream, body in (("sessions", empty_sessions()), ("replay_runs", empty_replay())):
            described = con.execute(f"select column_name, column_type from (describe {body})").fetchall()
            fields = [f"`{n}` {spark_type(t)}" for n, t in described]
            fields += ["`file_id` BIGINT", "`fingerprint` STRING", "`batch` BIGINT"]
            out[stream] = ", ".join(fields)
        return out
    finally:
        con.close()


_SIMPLE = {"VARCHAR": "STRING", "JSON": "STRING", "BIGINT": "BIGINT", "INTEGER": "INT", "BOOLEAN": "BOOLEAN",
           "DOUBLE": "DOUBLE", "FLOAT": "FLOAT", "DATE": "DATE", "SMALLINT": "SMALLINT", "TINYINT": "TINYINT",
           "TIMESTAMP WITH TIME ZONE": "TIMESTAMP", "TIMESTAMP": "TIMESTAMP_NTZ", "HUGEINT": "DECIMAL(38,0)",
           "UBIGINT": "DECIMAL(20,0)", "UINTEGER": "BIGINT"}


def spark_type(duck: str) -> str:
    """A DuckDB type as Spark DDL: STRUCT(a T, ...) to STRUCT<a: T, ...>, T[] to ARRAY<T>."""
    duck = duck.strip()
    if duck.endswith("[]"):
        return f"ARRAY<{spark_type(duck[:-2])}>"
    if duck.upper().startswith("STRUCT(") and duck.endswith(")"):
        fields, depth, start, inner = [], 0, 0, duck[7:-1]
        for i, ch in enumerate(inner + ","):
            depth += ch == "("
            depth -= ch == ")"
            if ch == "," and depth == 0:
                part = inner[start:i].strip()
                m = re.match(r'^("(?:[^"]|"")*"|\S+)\s+(.*)$', part)
                field = m.group(1).strip('"').replace('""', '"')
                fields.append(f"`{field}`: {spark_type(m.group(2))}")
                start = i + 1
        return f"STRUCT<{', '.join(fields)}>"
    try:
        return _SIMPLE[duck.upper()]
    except KeyError:
        raise ForensicsError(f"no Spark type for DuckDB's {duck}") from None


def _args(params: dict[str, Any], text: str) -> dict[str, Any]:
    """The bound values the Spark statement names (sqlglot turned each $name into :name)."""
    return {k: v for k, v in params.items() if f":{k}" in text}


def _python(value: Any) -> Any:
    """A Spark value as the DuckDB engine returns it: rows as dicts, times aware in UTC."""
    if isinstance(value, datetime):
        # PySpark hands a TIMESTAMP back as a naive local time of this process.
        return value.astimezone(timezone.utc) if value.tzinfo is None else value
    if isinstance(value, date):
        return value
    if hasattr(value, "asDict"):
        return {k: _python(v) for k, v in value.asDict(recursive=False).items()}
    if isinstance(value, list):
        return [_python(v) for v in value]
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    return value


def _first_line(exc: BaseException) -> str:
    lines = [x for x in str(exc).strip().splitlines() if x.strip()]
    return lines[0] if lines else type(exc).__name__
