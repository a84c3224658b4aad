"""The `forensics` Typer app itself and its `--version`; each command module registers on it."""

from __future__ import annotations

from typing import Annotated

import typer

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
        from .. import __version__

        typer.echo(f"forensics {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Forensic questions about LLM iterate sessions, answered with DuckDB."""
