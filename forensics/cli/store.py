"""Keeping the logs: `ingest` into the store, and `doctor` on the logs' and the store's health."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ParameterError
from ..output import counted, escape
from .common import err, handle_errors, open_logs, warn_unreadable
from .options import AlarmFormat, ConfigOpt, IngestOpt, ReplayOpt, SessionsOpt, StoreOpt
from .root import app


@app.command("ingest")
@handle_errors
def ingest_cmd(
    store: Annotated[
        Optional[Path],
        typer.Option("--store", metavar="DIR", help="The store folder (made if absent). Else $FORENSICS_STORE."),
    ] = None,
    sessions: SessionsOpt = None,
    replay_runs: ReplayOpt = None,
    config: ConfigOpt = None,
    compact: Annotated[bool, typer.Option("--compact", help="Merge each day's small files now.")] = False,
    fmt: Annotated[AlarmFormat, typer.Option("--format", "-f", help="text, or one JSON object.")] = AlarmFormat.text,
    lock_wait: Annotated[float, typer.Option(min=0, max=86400, help="Seconds to wait for another ingest.")] = 60.0,
    retain: Annotated[
        Optional[str],
        typer.Option(
            metavar="AGE",
            help="Keep this many days of rows (90d, 12w), dropping older UTC days on every "
            "later ingest too; 0 keeps every day again.",
        ),
    ] = None,
    retain_unevaluated: Annotated[
        bool,
        typer.Option(
            "--retain-unevaluated",
            help="For a store no alarm reads: drop days past --retain without waiting for an alarm "
            "to evaluate their rows (undone by the first alarm on the store).",
        ),
    ] = False,
) -> None:
    """Append every complete line new since the last ingest to the store; print what was read.

    The store remembers its sources: later runs (and every reading command) need only
    --store. Renamed, copied, compressed and truncated logs are followed (docs/STORE.md).

    \b
    Examples:
      forensics ingest --store /var/lib/forensics -s /var/log/validatord/sessions.jsonl -r /var/log/replay/
      forensics ingest --store /var/lib/forensics --retain 90d
    """
    from ..read.sources import resolve_store
    from ..store.ingest import ingest

    folder = resolve_store(store, config=config)
    if folder is None:
        raise ParameterError("no store given: pass --store DIR, set FORENSICS_STORE or store in forensics.toml")
    report = ingest(
        folder,
        sessions,
        replay_runs,
        config=config,
        compact=compact,
        lock_wait=lock_wait,
        retain_days=_days(retain),
        retain_unevaluated=True if retain_unevaluated else None,
    )
    for line in report.warnings:
        err(escape(line))
    if report.held:
        err(
            f"note: {counted(report.held, 'file')} of days past the retention {'is' if report.held == 1 else 'are'} kept: no alarm has evaluated their "
            "rows yet (they go once `forensics alarm --store` has; for a store no alarm reads, "
            "ingest once with --retain-unevaluated)"
        )
    if fmt is AlarmFormat.json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    read = [f for f in report.files if f.bytes or f.action == "retry"]
    for f in read:
        what = (
            f"{counted(f.rows, 'row')}, {f.unreadable:,} unreadable, {counted(f.bytes, 'byte')}"
            if f.action != "retry"
            else escape(f.reason)
        )
        typer.echo(f"{f.action:<16} {escape(f.path)}: {what}")
    typer.echo(report.summary())


def _days(text: str | None) -> int | None:
    """A retention (90d, 12w; 0 for none) in whole days."""
    from ..timewindow import parse_age

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
    grace: Annotated[
        Optional[str],
        typer.Option(
            metavar="AGE",
            help="With a store: how long a changed source may wait to be ingested "
            "(default twice the ingests' cadence, or 10m).",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every check, not only the problems.")] = False,
) -> None:
    """Check the health of the logs themselves; exit 0 healthy, 1 with problems.

    Per file: rows, unreadable lines by cause, schema versions, producers, time range;
    rows that break the format's invariants; orphan rates between the two streams.

    \b
    Example:
      forensics doctor -s logs/sessions.jsonl -r logs/replay_runs.jsonl
      forensics doctor --store /var/lib/forensics --grace 15m
    """
    from ..doctor.logs import diagnose, render_text

    with open_logs(sessions, replay_runs, config, None, store, ingest) as store:
        health = diagnose(store, grace=_grace(grace))
        warn_unreadable(store, ["replay_runs"])
    if fmt is AlarmFormat.json:
        typer.echo(json.dumps(health.as_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(render_text(health, verbose=verbose))
    raise typer.Exit(0 if health.healthy else 1)


def _grace(text: str | None):
    from ..timewindow import parse_age

    if text is None:
        return None
    grace = parse_age(text)
    if grace.total_seconds() <= 0:
        raise ParameterError(f"--grace takes an age such as 10m or 2h, got {text!r}")
    return grace
