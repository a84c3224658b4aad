"""`report`: the weekly per-model success report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ParameterError
from .common import check_out, err, handle_errors, open_engine, warn_unreadable
from .options import (
    ConfigOpt,
    Engine,
    EngineOpt,
    IngestOpt,
    QueriesOpt,
    ReplayOpt,
    ReportFormat,
    SessionsOpt,
    SparkMasterOpt,
    SparkRemoteOpt,
    StoreOpt,
)
from .root import app


@app.command()
@handle_errors
def report(
    sessions: SessionsOpt = None,
    replay_runs: ReplayOpt = None,
    config: ConfigOpt = None,
    queries_dir: QueriesOpt = None,
    week: Annotated[Optional[str], typer.Option(help="ISO week in UTC, e.g. 2026-W46.")] = None,
    last_week: Annotated[bool, typer.Option("--last-week", help="The last complete ISO week (the default).")] = False,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="markdown or standalone html.")
    ] = ReportFormat.markdown,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    trend_weeks: Annotated[int, typer.Option(min=2, max=52, help="Weeks in the first-shot trend.")] = 8,
    store: StoreOpt = None,
    ingest: IngestOpt = False,
    state: Annotated[
        Optional[Path],
        typer.Option(
            "--state",
            metavar="FILE",
            help="The alarm's memory (`alarm --state`), for the week's incidents; a store has its own.",
        ),
    ] = None,
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    spark_remote: SparkRemoteOpt = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Say where the report was written (said anyway on a terminal).")
    ] = False,
) -> None:
    """The weekly per-model success report, in markdown or standalone HTML.

    With the alarm's memory (a store, or --state) it lists the week's incidents and how
    long each went unacknowledged. With --out it is silent when it succeeds, as a cron job
    should be (-v, or a terminal, says where it wrote).

    \b
    Examples:
      forensics report -s logs/ -r logs/replay_runs.jsonl            # last week, markdown
      forensics report -s logs/ --week 2026-W45 --format html --out week45.html
    """
    from ..report.weekly import build_report, render_report
    from ..timewindow import resolve_week

    if week and last_week:
        raise ParameterError("give --week or --last-week, not both")
    check_out(out)
    from ..oncall.memory import Memory

    with open_engine(
        engine, sessions, replay_runs, config, queries_dir, store, ingest, spark_master, spark_remote
    ) as store:
        memory = Memory.of_file(state) if state else None
        if memory is None and engine is Engine.spark and store.local is not None:
            memory = Memory.of_store(store.local)
        data = build_report(store, resolve_week(week), trend_weeks=trend_weeks, memory=memory)
        if engine is Engine.duckdb:
            # Lines it could not read are said; a store without replay runs is said in the
            # report itself, not on stderr every Monday.
            warn_unreadable(store)
        elif verbose or sys.stdout.isatty():
            from ..spark.engine import freshness_line

            err(freshness_line(store.freshness()))
    text = render_report(data, fmt.value)
    if out:
        from ..paths import write_atomic

        # (whole, and never through a link planted at its name: a report cron writes to a shared folder)
        write_atomic(out, text.encode("utf-8"), locked=False)
        if verbose or sys.stdout.isatty():
            err(f"wrote {fmt.value} report for {data['week']} to {out}")
    else:
        sys.stdout.write(text)
