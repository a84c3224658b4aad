"""The on-call commands: `alarm` for cron, `ack` for the person paged, `incident` for what they read next."""

from __future__ import annotations

import contextlib
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ParameterError
from ..output import counted, escape
from .common import err, handle_errors, open_logs
from .options import (
    AlarmFormat,
    ConfigOpt,
    Engine,
    EngineOpt,
    FailOn,
    IngestOpt,
    QueriesOpt,
    ReplayOpt,
    SessionsOpt,
    SparkMasterOpt,
    SparkRemoteOpt,
    StoreOpt,
)
from .root import app

StateOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--state",
        metavar="FILE",
        help="The alarm's memory where there is no store (with --store it lives in the store).",
    ),
]


class IncidentFormat(str, Enum):
    """How `forensics incident` prints."""

    markdown = "markdown"
    html = "html"
    json = "json"


@app.command()
def alarm(
    sessions: SessionsOpt = None,
    replay_runs: ReplayOpt = None,
    config: ConfigOpt = None,
    queries_dir: QueriesOpt = None,
    since: Annotated[
        Optional[str], typer.Option(metavar="AGE|TIME", help="Only rows newer than this: 15m, 24h, 7d or an ISO time.")
    ] = None,
    max_age: Annotated[
        Optional[str], typer.Option(metavar="AGE", help="Exit 3 when the newest row is older than this (e.g. 2h).")
    ] = None,
    max_unreadable: Annotated[int, typer.Option(min=0, help="Exit 3 when more lines than this are unreadable.")] = 0,
    fail_on: Annotated[FailOn, typer.Option(help="Exit 1 on critical only, or on warnings too.")] = FailOn.critical,
    fmt: Annotated[
        AlarmFormat, typer.Option("--format", "-f", help="text, or one JSON status object.")
    ] = AlarmFormat.text,
    store_failures: Annotated[
        Optional[Path],
        typer.Option(
            help="Append the full rows notified (new, or reminded) here, with alarm, severity, state and "
            "found_at (.jsonl, or .parquet)."
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Say so on stdout even when nothing changed.")
    ] = False,
    lock_wait: Annotated[
        float, typer.Option(min=0, max=86400, help="Seconds to wait for another running alarm.")
    ] = 10.0,
    self_test: Annotated[
        bool,
        typer.Option(
            "--self-test",
            help="Plant a violation in a temporary log and check the alarm finds it, once; silent on success.",
        ),
    ] = False,
    store: Annotated[
        Optional[str],
        typer.Option(
            "--store",
            metavar="DIR",
            help="Ingest into this store first, then evaluate the window plus every row new since the last "
            "alarm; the alarm's memory lives there. With --engine spark, also a URL.",
        ),
    ] = None,
    state: StateOpt = None,
    repeat: Annotated[
        str, typer.Option(metavar="AGE", help="How long a firing alarm stays quiet before one reminder line.")
    ] = "24h",
    max_rows: Annotated[
        int,
        typer.Option(
            min=1,
            help="Rows printed per alarm; past it, a storm is grouped and this many rows shown in all "
            "(JSON carries them all).",
        ),
    ] = 20,
    engine: EngineOpt = Engine.duckdb,
    spark_master: SparkMasterOpt = None,
    spark_remote: SparkRemoteOpt = None,
    notify: Annotated[
        Optional[list[str]],
        typer.Option(
            "--notify",
            metavar="URL",
            help="Also send the news here (repeatable): http(s)://… (a webhook), alertmanager+http://HOST:PORT, "
            "or exec:COMMAND; added to forensics.toml's [[notify]] receivers.",
        ),
    ] = None,
    notify_test: Annotated[
        bool,
        typer.Option("--notify-test", help="Send a planted incident through every receiver; print which answered."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print what each receiver would be sent this run; send nothing, record nothing."
        ),
    ] = False,
) -> None:
    """Run every alarm query; silent when nothing changed, loud once per new violation.

    With a memory (--store, or --state FILE) a violating row is printed once, when new;
    while it stays unacknowledged it keeps exit 1 (so a monitor fed the exit code stays
    red) and is reminded once per --repeat; `forensics ack` silences it; a row gone from
    the logs is said resolved once. Without a memory every violating row is new on every run.

    \b
    Exit codes:
      0  evaluated, no new or firing critical violation
      1  a new or firing critical violation (or a warning, with --fail-on warn)
      2  usage error
      3  could not evaluate: no source, a file missing, a glob matching nothing,
         zero readable rows in the window, newest row older than --max-age,
         more unreadable lines than --max-unreadable, or any unexpected error
    \b
    Examples:
      forensics alarm --store /var/lib/forensics --max-age 2h
      forensics alarm -s /var/log/validatord/sessions.jsonl --state ~/.alarm.json --max-age 2h
      forensics alarm --store /var/lib/forensics --format json
      forensics alarm --self-test
      forensics alarm --store /var/lib/forensics --notify https://hooks.example.com/T0/B0/XXXX
      forensics alarm --notify-test
    """
    from ..notify.deliver import alarm as alarm_and_deliver
    from ..oncall.alarm import AlarmOptions
    from ..oncall.mail import render_text

    if notify_test:
        _notify_test(config, notify or [], fmt)

    opts = AlarmOptions(
        sessions=sessions,
        replay_runs=replay_runs,
        config=config,
        queries_dirs=[str(q) for q in queries_dir or []],
        since=since,
        max_age=max_age,
        max_unreadable=max_unreadable,
        fail_on=fail_on.value,
        store_failures=store_failures,
        lock_wait=lock_wait,
        store=store,
        state=state,
        repeat=repeat,
        engine=engine.value,
        spark_master=spark_master,
        spark_remote=spark_remote,
    )
    if self_test:
        from ..oncall.selftest import self_test as run_self_test

        code, message = run_self_test(opts)
        if fmt is AlarmFormat.json:
            typer.echo(
                json.dumps(
                    {
                        "status": "passed" if code == 0 else "failed",
                        "exit_code": code,
                        "reason": "" if code == 0 else message,
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
        elif code != 0 or verbose:  # a cron line too: silent when it passes
            typer.echo(message, err=code != 0)
        raise typer.Exit(code)
    said = 0

    def say(outcome) -> None:
        # Printed (and flushed) before the memory records it as said.
        nonlocal said
        for line in outcome.paging.stderr_lines:
            err(line)
        said = len(outcome.paging.stderr_lines)
        if fmt is AlarmFormat.json:
            typer.echo(json.dumps(outcome.as_dict(), ensure_ascii=False, indent=2))
        else:
            text = render_text(outcome, verbose=verbose, max_rows=max_rows)
            if text:
                typer.echo(text, err=outcome.status == "error")
        sys.stdout.flush()
        sys.stderr.flush()

    try:
        outcome, delivered = alarm_and_deliver(
            opts, notify=notify, dry_run=dry_run, max_rows=max_rows, say=None if dry_run else say
        )
    except OSError as exc:  # (from `say`: everything else is the outcome's) nothing was recorded as said
        with contextlib.suppress(OSError):
            err(
                f"error: the alarm cannot write what it found ({escape(exc.strerror or str(exc))}); "
                "its memory recorded nothing as said: the next run says it again"
            )
        raise typer.Exit(3) from None
    for line in outcome.paging.stderr_lines[said:]:  # (the memory could not be saved)
        err(line)
    for line in delivered.preview:
        typer.echo(line)
    for line in delivered.lines:  # (a receiver that failed: said, never the exit code)
        err(line)
    raise typer.Exit(outcome.exit_code)


@handle_errors
def _notify_test(config, notify: list[str], fmt) -> None:
    """`forensics alarm --notify-test`: which receivers answered, and how; exit 1 if any did not."""
    from ..notify.deliver import notify_test

    results = notify_test(config, notify)
    if fmt is AlarmFormat.json:
        typer.echo(
            json.dumps(
                [
                    {"receiver": r.name, "kind": r.kind, "ok": a.ok, "how": a.how, "seconds": round(a.seconds, 3)}
                    for r, a in results
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for r, a in results:
            typer.echo(f"{'ok    ' if a.ok else 'FAILED'} {escape(r.name)} ({r.kind}): {a.said()}")
    raise typer.Exit(0 if all(a.ok for _, a in results) else 1)


def alarm_memory(store: Path | None, state: Path | None, config):
    """The alarm's memory `ack` and `silence` change: --state FILE, else the store's (--store, $FORENSICS_STORE, config)."""
    from ..oncall.memory import Memory
    from ..read.sources import resolve_store

    if state is not None:
        return Memory.of_file(state)
    folder = resolve_store(store, config=config)
    if folder is None:
        raise ParameterError("no alarm memory given: pass --store DIR (or $FORENSICS_STORE) or --state FILE")
    return Memory.of_store(folder)


@app.command()
@handle_errors
def ack(
    session_ids: Annotated[
        Optional[list[str]],
        typer.Argument(metavar="[SESSION_ID]...", help="The sessions whose open violations to acknowledge."),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Acknowledge every open violation (of --alarm, if given).")
    ] = False,
    alarm_name: Annotated[
        Optional[str], typer.Option("--alarm", metavar="NAME", help="Only this alarm's violations.")
    ] = None,
    identities: Annotated[
        Optional[list[str]],
        typer.Option(
            "--identity",
            metavar="KEY",
            help="An incident by the identity the alarm printed (for an id no shell can pass); repeatable.",
        ),
    ] = None,
    note: Annotated[Optional[str], typer.Option(metavar="TEXT", help="Why: kept with the acknowledgement.")] = None,
    store: Annotated[
        Optional[Path], typer.Option("--store", metavar="DIR", help="The store the alarm keeps its memory in.")
    ] = None,
    state: StateOpt = None,
    config: ConfigOpt = None,
    fmt: Annotated[AlarmFormat, typer.Option("--format", "-f", help="text, or JSON.")] = AlarmFormat.text,
) -> None:
    """Acknowledge open violations: the alarm stops reminding and exits 0 for them.

    A later violation of the same session is new again. A session id with no open
    violation is an error, and then nothing is acknowledged.

    \b
    Examples:
      forensics ack 18abbabdc2306a83-c2306aa9 --note "roster sync lagged; fixed" --store /var/lib/forensics
      forensics ack --all --alarm unverified_accepted_fill --store /var/lib/forensics
    """
    from ..oncall.states import acknowledge

    done = acknowledge(
        alarm_memory(store, state, config),
        list(session_ids or []),
        alarm=alarm_name,
        every=every,
        note=note,
        identities=list(identities or []),
    )
    if fmt is AlarmFormat.json:
        typer.echo(json.dumps({"acknowledged": done}, ensure_ascii=False, indent=2))
        return
    for d in done:
        typer.echo(
            f"acknowledged {escape(d['alarm'])}  session={escape(str(d['session_id']))}  first seen {d['first_seen']}"
        )
    typer.echo(f"{counted(len(done), 'violation')} acknowledged")


@app.command()
@handle_errors
def incident(
    session_id: Annotated[
        Optional[str], typer.Argument(help="The coordinator session (trace) id (one that starts with - goes after --).")
    ] = None,
    identity: Annotated[
        Optional[str],
        typer.Option(
            "--identity",
            metavar="KEY",
            help="The incident the alarm printed, by its identity (for an id no shell can pass).",
        ),
    ] = None,
    sessions: SessionsOpt = None,
    replay_runs: ReplayOpt = None,
    config: ConfigOpt = None,
    queries_dir: QueriesOpt = None,
    store: StoreOpt = None,
    ingest: IngestOpt = False,
    state: StateOpt = None,
    fmt: Annotated[
        IncidentFormat, typer.Option("--format", "-f", help="markdown, standalone HTML, or one JSON object.")
    ] = IncidentFormat.markdown,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", metavar="PATH", help="Write here instead of stdout.")
    ] = None,
    around: Annotated[int, typer.Option(min=0, max=1000, help="Calls of the same model shown before and after.")] = 5,
) -> None:
    """Everything about one session: its calls, attempts, artifact, replay runs, alarms and neighbours.

    \b
    Examples:
      forensics incident 18abbabdc2306a83-c2306aa9 --store /var/lib/forensics
      forensics incident 18abbabdc2306a83-c2306aa9 -s logs/ -r logs/ --format html --out incident.html
      forensics incident --store /var/lib/forensics -- -a-session-id-with-a-leading-dash
      forensics incident --identity 3f1c0e9a2b7d4c5e6f708192 --store /var/lib/forensics
    """
    from ..oncall.incident import build_incident, render_incident, session_of
    from ..oncall.memory import Memory

    if (session_id is None) == (identity is None):
        raise ParameterError("name the session, or the incident by --identity KEY (not both)")
    with open_logs(sessions, replay_runs, config, queries_dir, store, ingest) as st:
        memory = Memory.of_file(state) if state else (Memory.of_store(st.lake.root) if st.lake is not None else None)
        if identity is not None:
            session_id = session_of(st, memory, identity)
        data = build_incident(st, session_id, memory=memory, around=around)
    text = render_incident(data, fmt.value)
    if out is None:
        typer.echo(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    from ..paths import write_atomic

    write_atomic(out, (text + "\n").encode("utf-8"), locked=False)
    err(f"wrote {escape(str(out))}")
