"""The way in: `demo`, `generate` (sample logs), `notebook` and `roundtrip` (the parity probe)."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ForensicsError
from ..output import counted, escape
from .common import err, handle_errors
from .root import app


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
    from ..sample.demo import run_demo

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
    from ..sample.logs import DEFAULT_END
    from ..sample.logs import generate as gen
    from ..timewindow import parse_time

    result = gen(
        out, sessions=sessions, seed=seed, weeks=weeks, end=parse_time(end) if end else DEFAULT_END, force=force
    )
    typer.echo(f"wrote {counted(result.sessions, 'session row')} to {result.sessions_path}")
    typer.echo(f"wrote {counted(result.replay_runs, 'replay row')} to {result.replay_runs_path}")


class Stream(str, Enum):
    """Which row format `roundtrip` writes."""

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
      forensics notebook ~/analysis && jupyter execute --inplace ~/analysis/exploration.ipynb
    """
    from ..oncall.commands import quote
    from ..paths import shipped_notebook, write_atomic

    source = shipped_notebook()
    target = out / source.name
    if target.exists() and not force:
        raise ForensicsError(f"{target} exists; pass --force to overwrite it")
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(target, source.read_bytes(), locked=False)
    # The advice names what the `notebook` extra installs (nbclient's `jupyter execute`, an
    # IPython kernel); JupyterLab is not in it: a reader who has one opens the file there.
    typer.echo(
        f"wrote {escape(str(target))}: run it with `jupyter execute --inplace {quote(target)}` "
        "(pip install 'forensics[notebook]' gives that), or open it in JupyterLab or VS Code"
    )


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
    from ..write.loggers import encode_line, replay_row, session_row

    text = sys.stdin.read()
    try:
        record = json.loads(text)
    except ValueError as exc:
        err(f"error: stdin is not valid JSON: {exc}")
        raise typer.Exit(1) from None
    if not isinstance(record, dict):
        err(f"error: stdin must hold one JSON object, got {type(record).__name__}")
        raise typer.Exit(1)
    row = session_row(record, daemon=daemon) if stream is Stream.sessions else replay_row(record)
    try:
        line = encode_line(row)
    except (TypeError, ValueError) as exc:
        err(f"error: cannot serialise the record: {exc}")
        raise typer.Exit(1) from None
    sys.stdout.buffer.write(line)
    sys.stdout.flush()
