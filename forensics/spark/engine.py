"""`--engine spark`: the store's Parquet files read by Apache Spark, with the same views and named queries.

Spark reads the files the manifest lists, from a folder or any URL its Hadoop file systems take
(`s3a://`, `hdfs://`, `abfss://`); where it runs is Spark's own configuration (`--spark-master`,
or Spark Connect by `--spark-remote sc://...` / `$SPARK_REMOTE`). It answers over what was
ingested: the lines not ingested yet (the tails DuckDB reads on top) are the ingest's to add.
pyspark is the `[spark]` extra; nothing on the default install or the cron path imports it.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..errors import ForensicsError, first_line
from ..measures import ERROR_CLASS
from ..output import counted
from ..read.columns import COMPUTED_ON_READ, session_view_columns
from .schema import store_schemas
from .session import regex_flavour, spark_session
from .translate import described_query, expression_to_spark, to_spark

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
    {error_class} as error_class,
    attempt.span_id as span_id,
    cast(pos + 1 as bigint) as position
from sessions
lateral view posexplode(attempts) numbered as pos, attempt"""


def freshness_line(fresh: dict) -> str:
    """How fresh a Spark answer is (`SparkStore.freshness`), in a line: "as of ingest batch 28, 4 min ago:
    12 rows not yet ingested"; what `run` and `report` say on stderr and the alarm in its mail."""
    if fresh["at"] is None:
        return "note: Spark answers over an empty store (no ingest has run)"
    age = fresh["age_s"]
    ago = f"{age} s" if age < 120 else f"{age // 60} min" if age < 7200 else f"{age // 3600} h"
    pending = fresh["pending_rows"]
    if pending is None:
        rest = "lines written since are not counted (the store is not on this machine, or its sources cannot be read)"
    elif pending == 0:
        rest = "every line the sources hold is ingested"
    else:
        rest = f"{counted(pending, 'row')} not yet ingested (forensics ingest, or --ingest)"
    return f"note: Spark answers as of ingest batch {fresh['batch']}, {ago} ago: {rest}"


def _pending_rows(folder: Path, manifest) -> int | None:
    """Rows the store's sources hold past its checkpoints: DuckDB's answer over the store and its
    tails less what the store holds (None when the sources cannot be read now)."""
    from ..store.connect import open_store

    stored = sum(f.get("rows", 0) for f in manifest.files if f.get("stream") in ("sessions", "replay_runs"))
    try:
        with open_store(folder) as st:
            total = st.execute("select (select count(*) from sessions) + (select count(*) from replay_runs)").rows[0][0]
    except ForensicsError:
        return None
    return max(0, int(total) - stored)


class SparkStore:
    """A store read by Spark: the `sessions`, `attempts` and `replay_runs` views and the named queries."""

    lake = None  # no DuckDB store view: what reads a store's own files asks `root`

    def __init__(
        self, root: str | os.PathLike, catalog, *, master: str | None = None, remote: str | None = None, session=None
    ):
        self.root = str(root).rstrip("/")
        self.catalog = catalog
        self.session = session or spark_session(master, remote)
        # Before the views: a store written before prompt_template computes it with a regex.
        self.regex = regex_flavour(self.session)
        self.manifest, self._columns = _install(self.session, self.root, self.regex)
        self.sources = _Sources(
            bool(self.manifest.files_of("replay_runs")) or bool(self.manifest.sources.get("replay_runs"))
        )

    @property
    def local(self) -> Path | None:
        """The store's folder when it is one on this machine (its alarm memory lives there)."""
        return None if "://" in self.root else Path(self.root)

    # -- what the report and the alarm ask of a store --------------------------------------

    def materialize(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        after_batch: int | None = None,
        **_ignored,
    ) -> None:
        """Put the window behind `sessions` (Spark reads Parquet columnar: nothing is loaded)."""
        _window(self.session, self._columns, since, until, after_batch, self.regex)

    def columns_read(self, statements) -> None:
        """Spark reads only the columns a statement names by itself."""
        return None

    def check(self):
        """What each stored file holds (Spark reads no log, so nothing more is checked)."""
        return self.scan

    @property
    def scan(self):
        """Every file's stored rows and unreadable lines, from the manifest's checkpoints."""
        from ..read.scans import FileScan, ScanReport

        files = {}
        for ck in self.manifest.checkpoints:
            f = files.setdefault((ck.stream, ck.path), FileScan(path=ck.path, stream=ck.stream))
            f.rows += ck.progress.rows
            if ck.progress.unreadable:
                f.unreadable["stored"] += ck.progress.unreadable
        return ScanReport(list(files.values()))

    def warnings(self) -> list[str]:
        """Nothing to say: the unreadable lines were counted when they were ingested."""
        return []

    def freshness(self, now: datetime | None = None) -> dict:
        """How fresh Spark's answer is: the last ingest's batch and age, and (a store on this machine)
        the complete lines its sources hold that no ingest has read yet."""
        now = now or datetime.now(UTC)
        last = self.manifest.batches[-1] if self.manifest.batches else None
        at = datetime.strptime(last["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if last else None
        return {
            "batch": self.manifest.batch,
            "at": at,
            "age_s": None if at is None else max(0, int((now - at).total_seconds())),
            "pending_rows": _pending_rows(self.local, self.manifest) if self.local is not None else None,
        }

    def coverage(self):
        """All session rows, and the oldest and newest timestamp among them."""
        return self.execute('select count(*), min("timestamp"), max("timestamp") from _sessions_all').rows[0]

    def sessions_present(self, ids) -> set[str]:
        """Which of these session ids some stored session row still has."""
        ids = sorted({i for i in ids if i is not None})
        if not ids:
            return set()
        rows = self.session.sql(
            "select distinct session_id from _sessions_all where array_contains(:ids, session_id)", args={"ids": ids}
        ).collect()
        return {r[0] for r in rows}

    def new_unreadable(self, after_batch: int) -> int:
        """Unreadable lines stored by ingests after ``after_batch``."""
        paths = [f"{self.root}/{f['path']}" for f in self.manifest.files_of("unreadable")]
        if not paths:
            return 0
        return self.session.read.parquet(*paths).where(f"batch > {int(after_batch)}").count()

    def write_rows(self, found: list[dict], path: Path, *, wait: float = 60.0) -> int:
        """Append the full stored rows of alarm findings, with alarm, severity, state and found_at (JSONL or Parquet)."""
        from ..store.failures import append_records

        keys = {(f.get("source_file"), f.get("line")) for f in found}
        if not keys:
            return 0
        wanted = self.session.createDataFrame([list(k) for k in keys], "source_file STRING, line BIGINT")
        wanted.createOrReplaceTempView("_forensics_wanted")
        rows = self.session.sql(
            "select s.* from _sessions_all as s join _forensics_wanted as w "
            "on w.source_file = s.source_file and w.line = s.line"
        ).collect()
        by_key = {
            (r["source_file"], r["line"]): {k: _json(k, _python(v)) for k, v in r.asDict().items() if k != "_batch"}
            for r in rows
        }
        records = [
            {
                "alarm": f["alarm"],
                "severity": f["severity"],
                "state": f["state"],
                "found_at": f["found_at"],
                **by_key[(f.get("source_file"), f.get("line"))],
            }
            for f in found
            if (f.get("source_file"), f.get("line")) in by_key
        ]
        return append_records(records, Path(path), wait=wait)

    def execute(self, sql: str, params: dict[str, Any] | None = None, *, name: str = "statement"):
        """Run DuckDB-dialect SQL on Spark (translated, values bound as Spark parameters); fetch the whole result."""
        from ..store.connection import Result

        text = to_spark(sql, name=name, regex=self.regex)
        described = described_query(text)
        try:
            if described is not None:
                # A query's columns from its plan, never run: a server may refuse DESCRIBE's bound
                # values (Sail: "command with parameters"); the rows are Spark's own DESCRIBE QUERY's.
                fields = self.session.sql(described, args=_args(params or {}, described)).schema.fields
                columns = ["col_name", "data_type", "comment"]
                rows = [(f.name, f.dataType.simpleString(), None) for f in fields]
                return Result(columns, rows, ["", "", ""])
            df = self.session.sql(text, args=_args(params or {}, text))
            columns = list(df.columns)
            rows = [tuple(_python(v) for v in row) for row in df.collect()]
        except Exception as exc:
            if isinstance(exc, ForensicsError):
                raise
            raise ForensicsError(f"{name} failed on Spark: {first_line(exc)}") from exc
        return Result(columns, rows, ["JSON" if c in _JSON_COLUMNS else "" for c in columns])

    def query(self, name: str, params: dict[str, Any] | None = None):
        """Run a named catalog query with validated, bound parameters."""
        q = self.catalog.get(name)
        return self.execute(q.sql, q.bind(params or {}), name=name)

    def close(self) -> None:
        """Drop the views; the Spark session itself is Spark's (a local one ends with the process)."""
        for view in ("sessions", "attempts", "replay_runs"):
            # a view already gone (another store on the same session closed first): Apache Spark
            # says so by returning False, Sail by raising
            try:
                self.session.catalog.dropTempView(view)
            except Exception:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _install(session, root: str, regex):
    """The views over the manifest's files; returns the manifest and the `sessions` view's columns."""
    manifest, names = _manifest(session, root)
    session.createDataFrame(
        [(i + 1, n) for i, n in enumerate(names)], "file_id BIGINT, path STRING"
    ).createOrReplaceTempView("_forensics_files")
    schemas = None
    columns = {}
    for stream in ("sessions", "replay_runs"):
        paths = [f"{root}/{f['path']}" for f in manifest.files_of(stream)]
        if paths:
            df = session.read.parquet(*paths)
        else:
            schemas = schemas or store_schemas()
            df = session.createDataFrame([], schemas[stream])
        df.createOrReplaceTempView(f"_{stream}_parquet")
        cols = [c for c in df.columns if c not in _HIDDEN]
        select = ", ".join(_stored(c) for c in cols)
        if stream == "sessions":
            # The columns a store does not keep, computed from those it does, each in its place.
            computed = [c for c in COMPUTED_ON_READ if c not in cols]
            select += "".join(f", {expression_to_spark(COMPUTED_ON_READ[c], regex)} as `{c}`" for c in computed)
            order = session_view_columns()
            cols = sorted(cols + computed, key=lambda c: order.index(c) if c in order else len(order))
        columns[stream] = cols
        # Each row shows its file's current name, as the DuckDB view does.
        session.sql(
            f"create or replace temp view _{stream}_all as select {select}, p.batch as _batch "
            f"from _{stream}_parquet as p left join _forensics_files as f on f.file_id = p.file_id"
        )
    session.sql(
        "create or replace temp view replay_runs as select "
        + ", ".join(f"`{c}`" for c in columns["replay_runs"])
        + " from _replay_runs_all"
    )
    _window(session, columns, None, None, None, regex)
    return manifest, columns


def _stored(c: str) -> str:
    """A stored column as the view shows it (each row's file by its current name)."""
    return "coalesce(f.path, p.source_file) as source_file" if c == "source_file" else f"p.`{c}`"


def _window(session, columns: dict, since, until, after_batch, regex) -> None:
    """`sessions` (and `attempts`) over the rows of a window, as the DuckDB store's load keeps them:
    rows without a valid time are in every window, and so is every row ingested after ``after_batch``."""

    def stamp(t: datetime) -> str:  # our own datetime, never text from a log or a user
        return "timestamp '" + t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "'"

    inside = ["true"]
    if since is not None:
        inside.append(f"`timestamp` >= {stamp(since)}")
    if until is not None:
        inside.append(f"`timestamp` < {stamp(until)}")
    where = f"`timestamp` is null or ({' and '.join(inside)})"
    if after_batch is not None:
        where += f" or coalesce(_batch > {int(after_batch)}, true)"
    session.sql(
        "create or replace temp view sessions as select "
        + ", ".join(f"`{c}`" for c in columns["sessions"])
        + f" from _sessions_all where {where}"
    )
    # (the class is DuckDB's macro, inlined and translated as every statement is)
    session.sql(_ATTEMPTS_VIEW.format(error_class=expression_to_spark(ERROR_CLASS, regex)))


class _Sources:
    """What the report asks of a store's sources: whether replay runs were given."""

    def __init__(self, replay: bool):
        self.replay_runs = ["(stored)"] if replay else []
        self.sessions = ["(stored)"]
        self.queries_dirs = []


def _manifest(session, root: str):
    """The committed manifest, and each file's name by checkpoint id - 1."""
    from ..store.checkpoints import current_names
    from ..store.manifest import NAME, StoreError, parse

    if "://" not in root:
        # A folder: the names DuckDB's view shows (the store's sources looked at now).
        from ..store.lake import open_lake

        local = Path(root)
        lake = open_lake(local)
        try:
            from ..store.manifest import load

            return load(local), list(lake.file_paths)
        finally:
            lake.close()
    try:
        text = session.read.text(f"{root}/{NAME}", wholetext=True).collect()[0][0]
    except Exception as exc:
        raise StoreError(f"store {root}: cannot read {NAME} through Spark: {first_line(exc)}") from exc
    manifest = parse(text, root)
    return manifest, current_names(manifest.checkpoints)


def _args(params: dict[str, Any], text: str) -> dict[str, Any]:
    """The bound values the Spark statement names (sqlglot turned each $name into :name)."""
    return {k: v for k, v in params.items() if f":{k}" in text}


def _python(value: Any) -> Any:
    """A Spark value as the DuckDB engine returns it: rows as dicts, times aware in UTC."""
    if isinstance(value, datetime):
        # PySpark hands a TIMESTAMP back as a naive local time of this process.
        return value.astimezone(UTC) if value.tzinfo is None else value
    if isinstance(value, date):
        return value
    if hasattr(value, "asDict"):
        return {k: _python(v) for k, v in value.asDict(recursive=False).items()}
    if isinstance(value, list):
        return [_python(v) for v in value]
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    return value


def _json(column: str, value: Any) -> Any:
    """A JSON column's text as the structure it holds (as the DuckDB engine writes it)."""
    import json

    if column in _JSON_COLUMNS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
