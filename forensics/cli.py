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


# The other commands live in modules of their own, one per idea; importing them registers them.
from . import cli_query, cli_store, cli_report, cli_oncall  # noqa: E402,F401

# The top-level help shows each command's first docstring line whole (click cuts it at ~45 characters).
for _info in app.registered_commands:
    if _info.short_help is None and _info.callback.__doc__:
        _info.short_help = _info.callback.__doc__.strip().splitlines()[0]


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
