"""`forensics silence`: hush the alarm's incidents that match, for a maintenance window (add, list, expire)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..output import escape
from .common import handle_errors
from .oncall import StateOpt, alarm_memory
from .options import AlarmFormat, ConfigOpt, QueriesOpt
from .root import app

silence_app = typer.Typer(
    name="silence",
    help="Silences: the alarm's incidents that match are not printed and leave the exit code 0 until they end.",
    no_args_is_help=True,
)
app.add_typer(silence_app, name="silence")

MemoryStoreOpt = Annotated[
    Optional[Path], typer.Option("--store", metavar="DIR", help="The store the alarm keeps its memory in.")
]
FormatOpt = Annotated[AlarmFormat, typer.Option("--format", "-f", help="text, or JSON.")]


@silence_app.command("add")
@handle_errors
def add(
    matchers: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="MATCHER...",
            help="label=value, label!=value, label=~regex or label!~regex (fully anchored) over the labels alarm, "
            "severity, model, kind, daemon, session_id; every one must match.",
        ),
    ] = None,
    lasts: Annotated[Optional[str], typer.Option("--for", metavar="AGE", help="How long: 90m, 2h, 1d.")] = None,
    until: Annotated[
        Optional[str], typer.Option(metavar="TIME", help="Until this ISO time, with its offset (Z for UTC).")
    ] = None,
    comment: Annotated[Optional[str], typer.Option(metavar="TEXT", help="Why (required): kept with it.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow a silence with no matcher, or one every critical alarm matches.")
    ] = False,
    store: MemoryStoreOpt = None,
    state: StateOpt = None,
    config: ConfigOpt = None,
    queries_dir: QueriesOpt = None,
    fmt: FormatOpt = AlarmFormat.text,
) -> None:
    """Silence the incidents that match, from now until it ends; prints its id.

    \b
    Examples:
      forensics silence add model=qwen3.5:latest --for 2h --comment "provider maintenance" --store /var/lib/forensics
      forensics silence add alarm=~'ungrounded_.*' daemon=gateway --until 2026-12-08T04:00:00Z --comment "roster reload"
    """
    from ..oncall.silences import add_silence
    from ..read.sources import resolve

    dirs = resolve(config=config, queries_dirs=[str(q) for q in queries_dir or []], streams=False).queries_dirs
    made = add_silence(
        alarm_memory(store, state, config),
        list(matchers or []),
        lasts=lasts,
        until=until,
        comment=comment or "",
        force=force,
        queries_dirs=dirs,
    )
    typer.echo(json.dumps({"id": made["id"]}) if fmt is AlarmFormat.json else made["id"])


@silence_app.command("list")
@handle_errors
def list_(
    every: Annotated[bool, typer.Option("--all", help="Ended silences too.")] = False,
    store: MemoryStoreOpt = None,
    state: StateOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = AlarmFormat.text,
) -> None:
    """The silences active (with --all, ended ones too), the soonest to end first."""
    from ..oncall.silences import list_silences

    rows = list_silences(alarm_memory(store, state, config), every=every)
    if fmt is AlarmFormat.json:
        typer.echo(json.dumps({"silences": rows}, ensure_ascii=False, indent=2))
        return
    for r in rows:
        typer.echo(
            f"{r['id']}  {r['status']:7}  until {r['ends_at']}  by {escape(str(r['created_by']))}  "
            f"{escape(' '.join(r['matchers']))}  # {escape(str(r['comment']))}"
        )
    if not rows:
        typer.echo("no silence" + ("" if every else " active (--all lists ended ones)"))


@silence_app.command("expire")
@handle_errors
def expire(
    silence_id: Annotated[str, typer.Argument(metavar="ID", help="The silence's id, as `add` printed it.")],
    store: MemoryStoreOpt = None,
    state: StateOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = AlarmFormat.text,
) -> None:
    """End a silence now: the alarm's next run says what it covered and still fires, once, and it fires again."""
    from ..oncall.silences import expire_silence

    done = expire_silence(alarm_memory(store, state, config), silence_id)
    if fmt is AlarmFormat.json:
        typer.echo(json.dumps(done, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"silence {done['id']} expired")
