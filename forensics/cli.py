"""The `forensics` command line: thin commands over the library's functions."""

from __future__ import annotations

import functools
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import ForensicsError, ParameterError, UsageError
from .output import FORMATS, escape

app = typer.Typer(
    name="forensics",
    help="Forensic questions about LLM iterate sessions, answered with DuckDB.\n\n"
    "Logs come from --sessions / --replay-runs (a file, a glob or a directory), else "
    "FORENSICS_SESSIONS / FORENSICS_REPLAY_RUNS, else ./forensics.toml.\n\n"
    "Start with: forensics demo",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"forensics {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False) -> None:
    """Forensic questions about LLM iterate sessions, answered with DuckDB."""

Format = Enum("Format", {k: k for k in FORMATS}, type=str)


class ReportFormat(str, Enum):
    markdown = "markdown"
    html = "html"


class FailOn(str, Enum):
    critical = "critical"
    warn = "warn"


class AlarmFormat(str, Enum):
    text = "text"
    json = "json"


class Engine(str, Enum):
    duckdb = "duckdb"
    spark = "spark"


# Shared source options, declared once and used by every command that reads logs.
SessionsOpt = Annotated[Optional[list[str]], typer.Option(
    "--sessions", "-s", metavar="PATH",
    help="sessions.jsonl: a file, glob or directory (repeatable). Else $FORENSICS_SESSIONS.")]
ReplayOpt = Annotated[Optional[list[str]], typer.Option(
    "--replay-runs", "-r", metavar="PATH",
    help="replay_runs.jsonl: a file, glob or directory (repeatable). Else $FORENSICS_REPLAY_RUNS.")]
ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", metavar="FILE", help="A forensics.toml or lakehouse.toml (default: ./forensics.toml).")]
QueriesOpt = Annotated[Optional[list[Path]], typer.Option(
    "--queries-dir", "-q", metavar="DIR",
    help="More named queries (repeatable; overrides built-ins of the same name). Also $FORENSICS_QUERIES.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
TablefmtOpt = Annotated[str, typer.Option("--tablefmt", help="tabulate style for --format table.")]
LimitOpt = Annotated[Optional[int], typer.Option(min=0, help="Print at most N rows (stderr says how many were left out).")]
SinceOpt = Annotated[Optional[str], typer.Option(
    metavar="AGE|TIME", help="Only rows at or after this: 15m, 24h, 7d or an ISO time (the query's `since`).")]
UntilOpt = Annotated[Optional[str], typer.Option(
    metavar="AGE|TIME", help="Only rows before this (the query's `until`).")]
StoreOpt = Annotated[Optional[str], typer.Option(
    "--store", metavar="DIR",
    help="A store `forensics ingest` keeps: read it plus each source's live tail. Else $FORENSICS_STORE.")]
IngestOpt = Annotated[bool, typer.Option("--ingest", help="With a store: ingest the new lines first.")]
EngineOpt = Annotated[Engine, typer.Option(
    "--engine", help="duckdb, in this process; or spark: the store's Parquet files read by Apache Spark "
    "(--store DIR or a URL such as s3a://bucket/store; pip install 'forensics[spark]').")]
SparkMasterOpt = Annotated[Optional[str], typer.Option(
    "--spark-master", metavar="URL", help="With --engine spark: where Spark runs (default local[*]).")]
SparkRemoteOpt = Annotated[Optional[str], typer.Option(
    "--spark-remote", metavar="sc://HOST:PORT", help="With --engine spark: a Spark Connect server. Else $SPARK_REMOTE.")]


def _err(message: str) -> None:
    typer.echo(message, err=True)


def handle_errors(fn):
    """Turn a usage error into exit 2, ForensicsError (and anything unexpected) into exit 1, one line on stderr."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except UsageError as exc:
            _err(f"error: {escape(str(exc))}")
            raise typer.Exit(2)
        except ForensicsError as exc:
            _err(f"error: {escape(str(exc))}")
            raise typer.Exit(1)
        except BrokenPipeError:  # `forensics run ... | head` is fine
            raise typer.Exit(0)
        except Exception as exc:  # no traceback for users; FORENSICS_DEBUG=1 shows it
            if os.environ.get("FORENSICS_DEBUG"):
                raise
            _err(f"error: unexpected {type(exc).__name__}: {escape(str(exc))} "
                 "(FORENSICS_DEBUG=1 shows the traceback)")
            raise typer.Exit(1)

    return wrapper


def _open_store(sessions, replay_runs, config, queries_dir, store=None, ingest=False):
    from .sources import resolve, resolve_store
    from .store import Store, open_store

    # Logs named on the command line are read as named: a store from $FORENSICS_STORE or
    # forensics.toml applies only when none is (--store itself always does).
    folder = resolve_store(store, config=config) if store or not (sessions or replay_runs) else None
    if folder is not None:
        return open_store(folder, sessions, replay_runs, config=config,
                          queries_dirs=[str(q) for q in queries_dir or []], ingest=ingest)
    if ingest:
        raise ParameterError("--ingest needs a store: --store DIR, $FORENSICS_STORE or store in forensics.toml")
    src = resolve(sessions, replay_runs, config=config,
                  queries_dirs=[str(q) for q in queries_dir or []])
    return Store(src)


def _open_engine(engine, sessions, replay_runs, config, queries_dir, store=None, ingest=False,
                 master=None, remote=None):
    """A store to query: DuckDB's (logs or a store folder), or a store read by Spark."""
    if engine is not Engine.spark:
        if master or remote:
            raise ParameterError("--spark-master and --spark-remote go with --engine spark")
        return _open_store(sessions, replay_runs, config, queries_dir, store, ingest)
    from .catalog import load_catalog
    from .sources import resolve, resolve_store
    from .spark import SparkStore

    if sessions or replay_runs:
        raise ParameterError("--engine spark reads a store, not logs: forensics ingest --store DIR -s LOGS, "
                             "then --store DIR")
    folder = resolve_store(store, config=config)
    if folder is None:
        raise ParameterError("--engine spark needs a store: --store DIR_OR_URL, $FORENSICS_STORE or store in "
                             "forensics.toml")
    if ingest:
        if "://" in folder:
            raise ParameterError("--ingest needs the store's folder on this machine, not a URL")
        from .ingest import ingest as run_ingest

        run_ingest(folder, config=config)
    src = resolve(config=config, queries_dirs=[str(q) for q in queries_dir or []], streams=False)
    return SparkStore(folder, load_catalog(src.queries_dirs), master=master, remote=remote)


_NO_REPLAY = ("note: no replay runs given (--replay-runs, $FORENSICS_REPLAY_RUNS or replay_runs in "
              "forensics.toml): replay_runs is empty, so what it says about replays is no finding")


def _warn_unreadable(store, sql_texts=()) -> None:
    """Every command that read logs says on stderr what it could not read, and what it was not given."""
    for line in store.warnings():
        _err(line)
    if store.replay_missing(sql_texts):
        _err(_NO_REPLAY)


def _parse_params(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ParameterError(f"--param takes key=value, got {pair!r}")
        if key.strip() in out:
            raise ParameterError(f"-p {key.strip()} is given twice")
        out[key.strip()] = value
    return out


def _sql_parameters(text: str) -> set[str]:
    """The $parameters a statement names, as DuckDB's parser reads it ($x in a string or a comment is text)."""
    import duckdb

    try:
        return {n for st in duckdb.connect().extract_statements(text) for n in st.named_parameters}
    except duckdb.Error:
        return set()  # the statement's own error is DuckDB's to say, when it runs


def _emit(result, fmt: Format, tablefmt: str, limit: int | None) -> None:
    from .output import render

    rows = result.rows if limit is None else result.rows[:limit]
    sys.stdout.write(render(fmt.value, result.columns, rows, tablefmt=tablefmt,
                            json_columns=result.json_columns))
    if len(rows) < len(result.rows):
        _err(f"note: {len(result.rows) - len(rows)} more row(s) not shown (--limit {limit}); "
             f"{len(result.rows)} in all")


@app.command()
@handle_errors
def demo(
    out: Annotated[Path, typer.Option(help="Where the sample logs go.")] = Path("forensics-demo"),
) -> None:
    """Generate sample logs (or reuse them) and show what forensics tells you.

    \b
    Example:
      forensics demo
    """
    from .demo import run_demo

    run_demo(out, echo=typer.echo)


@app.command()
@handle_errors
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for sessions.jsonl and replay_runs.jsonl.")],
    sessions: Annotated[int, typer.Option("--sessions", "-n", min=1, help="How many session rows.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same rows.")] = 7,
    end: Annotated[Optional[str], typer.Option(help="Last instant covered (ISO); default 2026-11-16T00:00Z.")] = None,
    weeks: Annotated[int, typer.Option(min=1, help="How many weeks the rows span.")] = 6,
    force: Annotated[bool, typer.Option("--force", help="Overwrite logs already in the folder.")] = False,
) -> None:
    """Write realistic sample logs through the project's own writer.

    \b
    Example:
      forensics generate --out /tmp/logs --sessions 5000 --seed 3
    """
    from .catalog import parse_time
    from .sample import DEFAULT_END, generate as gen

    result = gen(out, sessions=sessions, seed=seed, weeks=weeks,
                 end=parse_time(end) if end else DEFAULT_END, force=force)
    typer.echo(f"wrote {result.sessions} session rows to {result.sessions_path}")
    typer.echo(f"wrote {result.replay_runs} replay rows to {result.replay_runs_path}")


class Stream(str, Enum):
    sessions = "sessions"
    replay = "replay"


@app.command()
@handle_errors
def notebook(
    out: Annotated[Path, typer.Argument(metavar="DIR", help="Folder to copy the notebook into (made if absent).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite a notebook of the same name.")] = False,
) -> None:
    """Copy the shipped exploration notebook into a folder, to open with Jupyter.

    \b
    Example:
      forensics notebook ~/analysis && jupyter lab ~/analysis/exploration.ipynb
    """
    from .paths import shipped_notebook

    source = shipped_notebook()
    target = out / source.name
    if target.exists() and not force:
        raise ForensicsError(f"{target} exists; pass --force to overwrite it")
    out.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(source.read_bytes())
    tmp.replace(target)
    typer.echo(f"wrote {escape(str(target))}: open it with `jupyter lab {escape(str(target))}` "
               "(it needs pip install 'forensics[notebook]')")


@app.command()
def roundtrip(
    stream: Annotated[Stream, typer.Option(help="Which row format to write.")] = Stream.sessions,
    daemon: Annotated[str, typer.Option(help="Producer name stamped when the record has none.")] = "forensics",
) -> None:
    """Read one record as JSON on stdin; print exactly the line the writer would append.

    The helper for the cross-runtime parity probe.

    \b
    Example:
      echo '{"session_id":"t-1","kind":"fill","iterations":0}' | forensics roundtrip
    """
    from .writer import encode_line, replay_row, session_row

    text = sys.stdin.read()
    try:
        record = json.loads(text)
    except ValueError as exc:
        _err(f"error: stdin is not valid JSON: {exc}")
        raise typer.Exit(1)
    if not isinstance(record, dict):
        _err(f"error: stdin must hold one JSON object, got {type(record).__name__}")
        raise typer.Exit(1)
    row = session_row(record, daemon=daemon) if stream is Stream.sessions else replay_row(record)
    try:
        line = encode_line(row)
    except (TypeError, ValueError) as exc:
        _err(f"error: cannot serialise the record: {exc}")
        raise typer.Exit(1)
    sys.stdout.buffer.write(line)
    sys.stdout.flush()


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
    from .catalog import load_catalog
    from .output import render
    from .sources import resolve

    src = resolve(config=config, queries_dirs=[str(q) for q in queries_dir or []], streams=False)
    cat = load_catalog(src.queries_dirs)
    rows = [(q.name, q.kind, q.severity or "", "built-in" if q.builtin else str(q.path.parent),
             q.description) for q in cat.queries.values()]
    sys.stdout.write(render(fmt.value, ["name", "kind", "severity", "source", "description"], rows,
                            tablefmt=tablefmt))


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
    from .catalog import load_catalog
    from .sources import resolve

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
    param: Annotated[Optional[list[str]], typer.Option(
        "--param", "-p", metavar="KEY=VALUE", help="A query parameter (repeatable).")] = None,
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
    params = _parse_params(param)
    with _open_engine(engine, sessions, replay_runs, config, queries_dir, store, ingest,
                      spark_master, spark_remote) as store:
        q = store.catalog.get(name)
        for key, value in (("since", since), ("until", until)):
            if value is None:
                continue
            if key not in q.params:
                raise ParameterError(f"query {name} takes no {key} (its parameters: "
                                     f"{', '.join(q.params) or 'none'})")
            if key in params:
                raise ParameterError(f"give --{key} or -p {key}=..., not both")
            params[key] = value
        result = store.query(name, params)
        if engine is Engine.duckdb:
            _warn_unreadable(store, [store.catalog.get(name).sql])
    _emit(result, fmt, tablefmt, limit)


@app.command()
@handle_errors
def sql(
    text: Annotated[str, typer.Argument(help="SQL over the sessions, attempts and replay_runs views.")],
    param: Annotated[Optional[list[str]], typer.Option(
        "--param", "-p", metavar="KEY=VALUE", help="Bind $KEY in the SQL to VALUE, as text (repeatable).")] = None,
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
        raise ParameterError("no SQL given: try sql \"select count(*) from sessions\"")
    params = _parse_params(param)
    named = _sql_parameters(text)
    positional = sorted(n for n in named if n.isdigit())
    if positional:
        raise ParameterError(f"the SQL has positional parameters ({', '.join('$' + n for n in positional)}, or ?): "
                             "-p binds names only, so write $name and give -p name=VALUE")
    if named - set(params):
        raise ParameterError(f"the SQL uses {', '.join('$' + n for n in sorted(named - set(params)))}: "
                             "give each with -p NAME=VALUE")
    if set(params) - named:
        raise ParameterError(f"-p {', '.join(sorted(set(params) - named))}: the SQL has no such $parameter")
    with _open_store(sessions, replay_runs, config, None, store, ingest) as store:
        result = store.execute(text, params or None)
        _warn_unreadable(store, [text])
    _emit(result, fmt, tablefmt, limit)


@app.command("ingest")
@handle_errors
def ingest_cmd(
    store: Annotated[Optional[Path], typer.Option(
        "--store", metavar="DIR", help="The store folder (made if absent). Else $FORENSICS_STORE.")] = None,
    sessions: SessionsOpt = None,
    replay_runs: ReplayOpt = None,
    config: ConfigOpt = None,
    compact: Annotated[bool, typer.Option("--compact", help="Merge each day's small files now.")] = False,
    fmt: Annotated[AlarmFormat, typer.Option("--format", "-f", help="text, or one JSON object.")] = AlarmFormat.text,
    lock_wait: Annotated[float, typer.Option(min=0, max=86400, help="Seconds to wait for another ingest.")] = 60.0,
    retain: Annotated[Optional[str], typer.Option(
        metavar="AGE", help="Keep this many days of rows (90d, 12w), dropping older UTC days on every "
        "later ingest too; 0 keeps every day again.")] = None,
) -> None:
    """Append every complete line new since the last ingest to the store; print what was read.

    The store remembers its sources: later runs (and every reading command) need only
    --store. Renamed, copied, compressed and truncated logs are followed (docs/STORE.md).

    \b
    Examples:
      forensics ingest --store /var/lib/forensics -s /var/log/validatord/sessions.jsonl -r /var/log/replay/
      forensics ingest --store /var/lib/forensics --retain 90d
    """
    from .ingest import ingest
    from .sources import resolve_store

    folder = resolve_store(store, config=config)
    if folder is None:
        raise ParameterError("no store given: pass --store DIR, set FORENSICS_STORE or store in forensics.toml")
    report = ingest(folder, sessions, replay_runs, config=config, compact=compact, lock_wait=lock_wait,
                    retain_days=_days(retain))
    for line in report.warnings:
        _err(escape(line))
    if fmt is AlarmFormat.json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    read = [f for f in report.files if f.bytes or f.action == "retry"]
    for f in read:
        what = f"{f.rows} rows, {f.unreadable} unreadable, {f.bytes} bytes" if f.action != "retry" else escape(f.reason)
        typer.echo(f"{f.action:<16} {escape(f.path)}: {what}")
    typer.echo(f"batch {report.batch}: {report.rows['sessions']} session rows, {report.rows['replay_runs']} replay "
               f"rows, {report.unreadable} unreadable lines, {report.bytes} bytes from {len(read)} of "
               f"{len(report.files)} files" + (f"; {report.compacted} small files merged" if report.compacted else "")
               + (f"; {report.expired} files of days past the retention dropped" if report.expired else ""))


def _days(text: str | None) -> int | None:
    """A retention (90d, 12w; 0 for none) in whole days."""
    from .catalog import parse_age

    if text is None:
        return None
    if text.strip() in ("0", "0d"):
        return 0
    days = parse_age(text).total_seconds() / 86400
    if days < 1 or days != int(days):
        raise ParameterError(f"--retain takes whole days such as 90d or 12w (or 0), got {text!r}")
    return int(days)


@app.command()
@handle_errors
def doctor(
    sessions: SessionsOpt = None,
    replay_runs: ReplayOpt = None,
    config: ConfigOpt = None,
    fmt: Annotated[AlarmFormat, typer.Option("--format", "-f", help="text, or one JSON object.")] = AlarmFormat.text,
    store: StoreOpt = None,
    ingest: IngestOpt = False,
    grace: Annotated[Optional[str], typer.Option(
        metavar="AGE", help="With a store: how long a changed source may wait to be ingested "
        "(default twice the ingests' cadence, or 10m).")] = None,
) -> None:
    """Check the health of the logs themselves; exit 0 healthy, 1 with problems.

    Per file: rows, unreadable lines by cause, schema versions, producers, time range;
    rows that break the format's invariants; orphan rates between the two streams.

    \b
    Example:
      forensics doctor -s logs/sessions.jsonl -r logs/replay_runs.jsonl
      forensics doctor --store /var/lib/forensics --grace 15m
    """
    from .doctor import diagnose, render_text

    with _open_store(sessions, replay_runs, config, None, store, ingest) as store:
        health = diagnose(store, grace=_grace(grace))
        _warn_unreadable(store, ["replay_runs"])
    if fmt is AlarmFormat.json:
        typer.echo(json.dumps(health.as_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(render_text(health))
    raise typer.Exit(0 if health.healthy else 1)


def _grace(text: str | None):
    from .catalog import parse_age

    if text is None:
        return None
    grace = parse_age(text)
    if grace.total_seconds() <= 0:
        raise ParameterError(f"--grace takes an age such as 10m or 2h, got {text!r}")
    return grace


@app.command()
@handle_errors
def report(
    sessions: SessionsOpt = None,
    replay_runs: ReplayOpt = None,
    config: ConfigOpt = None,
    queries_dir: QueriesOpt = None,
    week: Annotated[Optional[str], typer.Option(help="ISO week in UTC, e.g. 2026-W46.")] = None,
    last_week: Annotated[bool, typer.Option("--last-week", help="The last complete ISO week (the default).")] = False,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="markdown or standalone html.")] = ReportFormat.markdown,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    trend_weeks: Annotated[int, typer.Option(min=2, max=52, help="Weeks in the first-shot trend.")] = 8,
    store: StoreOpt = None,
    ingest: IngestOpt = False,
    state: Annotated[Optional[Path], typer.Option(
        "--state", metavar="FILE", help="The alarm's memory (`alarm --state`), for the week's incidents; "
        "a store has its own.")] = None,
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    spark_remote: SparkRemoteOpt = None,
) -> None:
    """The weekly per-model success report, in markdown or standalone HTML.

    With the alarm's memory (a store, or --state) it lists the week's incidents and how
    long each went unacknowledged.

    \b
    Examples:
      forensics report -s logs/ -r logs/replay_runs.jsonl            # last week, markdown
      forensics report -s logs/ --week 2026-W45 --format html --out week45.html
    """
    from .report import build_report, render_report, resolve_week

    if week and last_week:
        raise ParameterError("give --week or --last-week, not both")
    from .alarmstate import Memory

    with _open_engine(engine, sessions, replay_runs, config, queries_dir, store, ingest,
                      spark_master, spark_remote) as store:
        memory = Memory.of_file(state) if state else None
        if memory is None and engine is Engine.spark and store.local is not None:
            memory = Memory.of_store(store.local)
        data = build_report(store, resolve_week(week), trend_weeks=trend_weeks, memory=memory)
        if engine is Engine.duckdb:
            _warn_unreadable(store, ["replay_runs"])
    text = render_report(data, fmt.value)
    if out:
        out.write_text(text, encoding="utf-8")
        _err(f"wrote {fmt.value} report for {data['week']} to {out}")
    else:
        sys.stdout.write(text)


class ExportFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"
    jsonl = "jsonl"


class ExportView(str, Enum):
    sessions = "sessions"
    attempts = "attempts"
    replay_runs = "replay_runs"


@app.command()
@handle_errors
def export(
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Folder for <view>.<format>, made if absent.")],
    sessions: SessionsOpt = None,
    replay_runs: ReplayOpt = None,
    config: ConfigOpt = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="The files' format.")] = ExportFormat.parquet,
    view: Annotated[Optional[list[ExportView]], typer.Option(
        "--view", help="Only this view (repeatable). Default: all three, replay_runs when replay logs are given.")] = None,
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
    from .export import export_views

    with _open_store(sessions, replay_runs, config, None, store, ingest) as store:
        files = export_views(store, out, fmt.value, view, force=force)
        _warn_unreadable(store)
        if view is None and store.replay_missing(["replay_runs"]):
            _err("note: no replay runs given (--replay-runs, $FORENSICS_REPLAY_RUNS or replay_runs in "
                 "forensics.toml): replay_runs not exported")
    for f in files:
        typer.echo(f"{escape(str(f.path))}: {f.rows} rows, {f.bytes} bytes")


# The on-call commands (alarm, ack, incident) live in their own module.
from . import cli_oncall  # noqa: E402,F401  (registers its commands)

# The top-level help shows each command's first docstring line whole (click cuts it at ~45 characters).
for _info in app.registered_commands:
    if _info.short_help is None and _info.callback.__doc__:
        _info.short_help = _info.callback.__doc__.strip().splitlines()[0]


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
