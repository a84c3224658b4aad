"""Asking the logs: `list`, `show`, `run`, `sql` and `export`."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ParameterError
from ..output import counted, escape
from ..store.export import EXPORT_FORMATS, VIEWS
from .common import (
    emit,
    err,
    handle_errors,
    open_engine,
    open_logs,
    parse_params,
    sql_parameters,
    warn_unreadable,
)
from .options import (
    ConfigOpt,
    Engine,
    EngineOpt,
    Format,
    FormatOpt,
    IngestOpt,
    LimitOpt,
    QueriesOpt,
    ReplayOpt,
    SessionsOpt,
    SinceOpt,
    SparkMasterOpt,
    SparkRemoteOpt,
    StoreOpt,
    TablefmtOpt,
    UntilOpt,
)
from .root import app


@app.command("list")
@handle_errors
def list_queries(
    queries_dir: QueriesOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.table,
    tablefmt: TablefmtOpt = "simple",
) -> None:
    """List the named queries: name, kind, severity and description.

    \b
    Example:
      forensics list
      forensics list --queries-dir ./my-queries --format json
    """
    from ..catalog import load_catalog
    from ..output import render
    from ..read.sources import resolve

    src = resolve(config=config, queries_dirs=[str(q) for q in queries_dir or []], streams=False)
    cat = load_catalog(src.queries_dirs)
    rows = [
        (q.name, q.kind, q.severity or "", "built-in" if q.builtin else str(q.path.parent), q.description)
        for q in cat.queries.values()
    ]
    sys.stdout.write(render(fmt.value, ["name", "kind", "severity", "source", "description"], rows, tablefmt=tablefmt))


@app.command()
@handle_errors
def show(
    name: Annotated[str, typer.Argument(metavar="QUERY", help="The query's name, as `forensics list` prints it.")],
    queries_dir: QueriesOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show a query: description, notes, parameters and SQL.

    \b
    Example:
      forensics show first_shot_success_rate
    """
    from ..catalog import load_catalog
    from ..read.sources import resolve

    src = resolve(config=config, queries_dirs=[str(q) for q in queries_dir or []], streams=False)
    q = load_catalog(src.queries_dirs).get(name)
    typer.echo(f"{q.name} ({q.kind}{', ' + q.severity if q.severity else ''})  {q.path}")
    typer.echo(f"\n{q.description}")
    if q.notes:
        typer.echo(f"\n{q.notes}")
    if q.params:
        typer.echo("\nparameters:")
        for p in q.params.values():
            default = "required" if p.required else f"default {p.default if p.default is not None else 'none'}"
            typer.echo(f"  {p.name} ({p.type}, {default})  {p.help}")
    typer.echo(f"\n{q.sql}")


@app.command()
@handle_errors
def run(
    name: Annotated[str, typer.Argument(metavar="QUERY", help="The query's name, as `forensics list` prints it.")],
    param: Annotated[
        Optional[list[str]], typer.Option("--param", "-p", metavar="KEY=VALUE", help="A query parameter (repeatable).")
    ] = None,
    sessions: SessionsOpt = None,
    replay_runs: ReplayOpt = None,
    config: ConfigOpt = None,
    queries_dir: QueriesOpt = None,
    fmt: FormatOpt = Format.table,
    tablefmt: TablefmtOpt = "simple",
    limit: LimitOpt = None,
    store: StoreOpt = None,
    ingest: IngestOpt = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    spark_remote: SparkRemoteOpt = None,
) -> None:
    """Run a named query over the logs.

    \b
    Examples:
      forensics run first_shot_success_rate --sessions logs/
      forensics run top_rejection_errors -s logs/sessions.jsonl -p since=7d -p top=3
      forensics run retrieval_depth_vs_first_shot -s logs/ -r logs/replay_runs.jsonl -f json
      forensics run first_shot_success_rate --store /var/lib/forensics --since 7d
      forensics run model_weekly_summary --engine spark --store s3a://logs/forensics --spark-master yarn
    """
    params = parse_params(param)
    with open_engine(
        engine, sessions, replay_runs, config, queries_dir, store, ingest, spark_master, spark_remote
    ) as store:
        q = store.catalog.get(name)
        for key, value in (("since", since), ("until", until)):
            if value is None:
                continue
            if key not in q.params:
                raise ParameterError(f"query {name} takes no {key} (its parameters: {', '.join(q.params) or 'none'})")
            if key in params:
                raise ParameterError(f"give --{key} or -p {key}=..., not both")
            params[key] = value
        result = store.query(name, params)
        if engine is Engine.duckdb:
            warn_unreadable(store, [store.catalog.get(name).sql])
        else:
            from ..spark.engine import freshness_line

            err(freshness_line(store.freshness()))
    emit(result, fmt, tablefmt, limit)


@app.command()
@handle_errors
def compare(
    cohorts: Annotated[
        Optional[list[str]],
        typer.Argument(metavar="[A B]", help="The two values of --by to compare (none with --split-at)."),
    ] = None,
    by: Annotated[str, typer.Option("--by", metavar="COLUMN", help="A column of the sessions view.")] = "model",
    split_at: Annotated[
        Optional[str],
        typer.Option(
            "--split-at", metavar="TIME", help="Compare the calls before TIME with those after, per value of --by."
        ),
    ] = None,
    sessions: SessionsOpt = None,
    replay_runs: ReplayOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.table,
    tablefmt: TablefmtOpt = "simple",
    limit: LimitOpt = None,
    store: StoreOpt = None,
    ingest: IngestOpt = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    spark_remote: SparkRemoteOpt = None,
) -> None:
    """Compare two cohorts of calls on every per-call measure: the difference, its 95% interval, a verdict.

    Cohort B minus cohort A (after minus before): first-shot, accepted, exhausted and
    infra-error rates (Newcombe's interval), attempts per accepted call (Welch's), p50 and p95
    duration (a seeded bootstrap). The verdict is up, down, no real change, or too few calls
    (fewer than the report's minimum on either side).

    \b
    Examples:
      forensics compare --by model qwen3.5:latest gpt-oss:20b -s logs/
      forensics compare --split-at 2026-11-20T08:00:00Z -s logs/ --since 14d
      forensics compare --by prompt_template 8dad8f34 0ab34e7b --store /var/lib/forensics -f json
    """
    from ..report.compare import compare as compare_cohorts

    values = list(cohorts or [])
    if split_at is None and len(values) != 2:
        raise ParameterError("compare takes two cohorts: --by COLUMN A B (or --split-at TIME)")
    a, b = (values + [None, None])[:2] if values else (None, None)
    if split_at is not None and values:
        raise ParameterError("--split-at compares before with after for each value of --by: give no A or B")
    with open_engine(engine, sessions, replay_runs, config, None, store, ingest, spark_master, spark_remote) as st:
        result = compare_cohorts(st, by=by, a=a, b=b, split_at=split_at, since=since, until=until)
        if engine is Engine.duckdb:
            warn_unreadable(st)
    emit(result, fmt, tablefmt, limit)


@app.command()
@handle_errors
def sql(
    text: Annotated[str, typer.Argument(help="SQL over the sessions, attempts and replay_runs views.")],
    param: Annotated[
        Optional[list[str]],
        typer.Option("--param", "-p", metavar="KEY=VALUE", help="Bind $KEY in the SQL to VALUE, as text (repeatable)."),
    ] = None,
    sessions: SessionsOpt = None,
    replay_runs: ReplayOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.table,
    tablefmt: TablefmtOpt = "simple",
    limit: LimitOpt = None,
    store: StoreOpt = None,
    ingest: IngestOpt = False,
) -> None:
    """Run ad-hoc SQL over the same views the named queries use.

    \b
    Examples:
      forensics sql "select model, count(*) from sessions group by model" -s logs/
      forensics sql 'select count(*) from sessions where model = $m and "timestamp" >= $t::timestamptz' -p m=qwen3.5:latest -p t=2026-11-01 -s logs/
    """
    if not text.strip():
        raise ParameterError('no SQL given: try sql "select count(*) from sessions"')
    params = parse_params(param)
    named = sql_parameters(text)
    positional = sorted(n for n in named if n.isdigit())
    if positional:
        raise ParameterError(
            f"the SQL has positional parameters ({', '.join('$' + n for n in positional)}, or ?): "
            "-p binds names only, so write $name and give -p name=VALUE"
        )
    if named - set(params):
        raise ParameterError(
            f"the SQL uses {', '.join('$' + n for n in sorted(named - set(params)))}: give each with -p NAME=VALUE"
        )
    if set(params) - named:
        raise ParameterError(f"-p {', '.join(sorted(set(params) - named))}: the SQL has no such $parameter")
    with open_logs(sessions, replay_runs, config, None, store, ingest) as store:
        result = store.execute(text, params or None)
        warn_unreadable(store, [text])
    emit(result, fmt, tablefmt, limit)


# The choices are the library's own: a format or view added there is offered here.
ExportFormat = Enum("ExportFormat", {k: k for k in EXPORT_FORMATS}, type=str)
ExportView = Enum("ExportView", {k: k for k in VIEWS}, type=str)


@app.command()
@handle_errors
def export(
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="DIR", help="Folder for <view>.<format>, made if absent.")
    ],
    sessions: SessionsOpt = None,
    replay_runs: ReplayOpt = None,
    config: ConfigOpt = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="The files' format.")] = ExportFormat.parquet,
    view: Annotated[
        Optional[list[ExportView]],
        typer.Option(
            "--view", help="Only this view (repeatable). Default: all three, replay_runs when replay logs are given."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files already in the folder.")] = False,
    store: StoreOpt = None,
    ingest: IngestOpt = False,
) -> None:
    """Write the sessions, attempts and replay_runs views as files for other tools, streamed.

    Every line is checked first: what could not be read is said on stderr, never exported.
    Rows come in no particular order (sort by source_file, line). One line per file written
    on stdout: path, rows, bytes.

    \b
    Examples:
      forensics export -s logs/ -r logs/ --out /tmp/export
      forensics export -s logs/sessions.jsonl -o /tmp/export -f csv --view sessions --force
      forensics export --store /var/lib/forensics -o /tmp/export
    """
    from ..store.export import export_views

    with open_logs(sessions, replay_runs, config, None, store, ingest) as store:
        files = export_views(store, out, fmt.value, view, force=force)
        warn_unreadable(store)
        if view is None and store.replay_missing(["replay_runs"]):
            err(
                "note: no replay runs given (--replay-runs, $FORENSICS_REPLAY_RUNS or replay_runs in "
                "forensics.toml): replay_runs not exported"
            )
    for f in files:
        typer.echo(f"{escape(str(f.path))}: {counted(f.rows, 'row')}, {counted(f.bytes, 'byte')}")
