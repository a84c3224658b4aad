"""What every command does the same way: errors to exit codes, opening the logs or a store, printing."""

from __future__ import annotations

import functools
import os
import sys

import typer

from ..errors import ForensicsError, NoSourceError, ParameterError, UsageError
from ..output import counted, escape
from .options import Engine, Format


def err(message: str) -> None:
    """One line on stderr."""
    typer.echo(message, err=True)


def handle_errors(fn):
    """Turn a usage error into exit 2, ForensicsError (and anything unexpected) into exit 1, one line on stderr."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except (UsageError, NoSourceError) as exc:
            _say(exc)
            raise typer.Exit(2) from None
        except ForensicsError as exc:
            _say(exc)
            raise typer.Exit(1) from None
        except BrokenPipeError:  # `forensics run ... | head` is fine
            raise typer.Exit(0) from None
        except Exception as exc:  # no traceback for users; FORENSICS_DEBUG=1 shows it
            if os.environ.get("FORENSICS_DEBUG"):
                raise
            err(f"error: unexpected {type(exc).__name__}: {escape(str(exc))} (FORENSICS_DEBUG=1 shows the traceback)")
            raise typer.Exit(1) from None

    return wrapper


def _say(exc: ForensicsError) -> None:
    """The error on one line, and the lines that help fix it indented under it (each escaped)."""
    err(f"error: {escape(str(exc))}")
    for line in exc.details:
        err(f"  {escape(line)}")


def check_out(out) -> None:
    """An --out file whose folder does not exist is a usage error, said before any work is done."""
    if out is None:
        return
    from pathlib import Path

    path = Path(out)
    if path.is_dir():
        raise ParameterError(f"--out {path} is a folder: give a file name inside it")
    if not path.parent.is_dir():
        raise ParameterError(f"--out {path}: the folder {path.parent} does not exist")


def open_logs(sessions, replay_runs, config, queries_dir, store=None, ingest=False):
    """A DuckDB Store over the logs named, or over a store folder and its sources' tails."""
    from ..read.sources import resolve, resolve_store
    from ..store.connect import open_store
    from ..store.connection import Store

    # Logs named on the command line are read as named: a store from $FORENSICS_STORE or
    # forensics.toml applies only when none is (--store itself always does).
    folder = resolve_store(store, config=config) if store or not (sessions or replay_runs) else None
    if folder is not None:
        return open_store(
            folder,
            sessions,
            replay_runs,
            config=config,
            queries_dirs=[str(q) for q in queries_dir or []],
            ingest=ingest,
        )
    if ingest:
        raise ParameterError("--ingest needs a store: --store DIR, $FORENSICS_STORE or store in forensics.toml")
    src = resolve(sessions, replay_runs, config=config, queries_dirs=[str(q) for q in queries_dir or []])
    return Store(src)


def open_engine(engine, sessions, replay_runs, config, queries_dir, store=None, ingest=False, master=None, remote=None):
    """A store to query: DuckDB's (logs or a store folder), or a store read by Spark."""
    if engine is not Engine.spark:
        if master or remote:
            raise ParameterError("--spark-master and --spark-remote go with --engine spark")
        return open_logs(sessions, replay_runs, config, queries_dir, store, ingest)
    from ..catalog import load_catalog
    from ..read.sources import resolve, resolve_store
    from ..spark.engine import SparkStore

    if sessions or replay_runs:
        raise ParameterError(
            "--engine spark reads a store, not logs: forensics ingest --store DIR -s LOGS, then --store DIR"
        )
    folder = resolve_store(store, config=config)
    if folder is None:
        raise ParameterError(
            "--engine spark needs a store: --store DIR_OR_URL, $FORENSICS_STORE or store in forensics.toml"
        )
    if ingest:
        if "://" in folder:
            raise ParameterError("--ingest needs the store's folder on this machine, not a URL")
        from ..store.ingest import ingest as run_ingest

        run_ingest(folder, config=config, reading=True)
    src = resolve(config=config, queries_dirs=[str(q) for q in queries_dir or []], streams=False)
    return SparkStore(folder, load_catalog(src.queries_dirs), master=master, remote=remote)


_NO_REPLAY = (
    "note: no replay runs given (--replay-runs, $FORENSICS_REPLAY_RUNS or replay_runs in "
    "forensics.toml): replay_runs is empty, so what it says about replays is no finding"
)


def warn_unreadable(store, sql_texts=()) -> None:
    """Every command that read logs says on stderr what it could not read, and what it was not given."""
    for line in store.warnings():
        err(line)
    if store.replay_missing(sql_texts):
        err(_NO_REPLAY)


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """`-p key=value` options as a dict; a pair without `=` or a key given twice is a usage error."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ParameterError(f"--param takes key=value, got {pair!r}")
        if key.strip() in out:
            raise ParameterError(f"-p {key.strip()} is given twice")
        out[key.strip()] = value
    return out


def sql_parameters(text: str) -> set[str]:
    """The $parameters a statement names, as DuckDB's parser reads it ($x in a string or a comment is text)."""
    import duckdb

    try:
        return {n for st in duckdb.connect().extract_statements(text) for n in st.named_parameters}
    except duckdb.Error:
        return set()  # the statement's own error is DuckDB's to say, when it runs


def emit(result, fmt: Format, tablefmt: str, limit: int | None) -> None:
    """Print a result in the chosen format; say on stderr how many rows --limit left out."""
    from ..output import render

    rows = result.rows if limit is None else result.rows[:limit]
    sys.stdout.write(render(fmt.value, result.columns, rows, tablefmt=tablefmt, json_columns=result.json_columns))
    if len(rows) < len(result.rows):
        err(
            f"note: {counted(len(result.rows) - len(rows), 'more row')} not shown (--limit {limit}); {len(result.rows)} in all"
        )
