"""`forensics demo`: sample logs and a short tour of what the toolkit shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from .logs import DEFAULT_END, generate


def run_demo(out: Path, *, echo: Callable[[str], None] = print, sessions: int = 2000) -> int:
    """Generate (or reuse) sample logs in ``out`` and print the tour; returns the alarm's exit code."""
    from ..oncall.alarm import AlarmOptions, evaluate
    from ..oncall.mail import render_text
    from ..output import render
    from ..read.sources import resolve
    from ..report.compare import compare
    from ..report.weekly import build_report, render_report
    from ..store.connection import Store
    from ..timewindow import resolve_week

    s_path, r_path = out / "sessions.jsonl", out / "replay_runs.jsonl"
    if s_path.is_file() and r_path.is_file():
        echo(f"Reusing the sample logs in {out}/ (delete the folder to generate them again).")
    else:
        res = generate(out, sessions=sessions)
        echo(f"Generated {res.sessions} iterate calls and {res.replay_runs} replay runs in {out}/.")
    config = _no_config()
    src = resolve([str(s_path)], [str(r_path)], config=config)
    # Every command the tour names is the one that prints what it shows: same files, same options.
    logs = f"-s {s_path} -r {r_path}" + (f" --config {config}" if config else "")
    with Store(src) as store:
        echo(f"\n== First-shot success per model ($ forensics run first_shot_success_rate {logs})")
        r = store.query("first_shot_success_rate")
        echo(render("table", r.columns, r.rows).rstrip())
        echo(
            f"\n== Did we feed it enough corpus? ($ forensics run retrieval_depth_vs_first_shot {logs} "
            "-p model=llama3.1:8b)"
        )
        r = store.query("retrieval_depth_vs_first_shot", {"model": "llama3.1:8b"})
        echo(render("table", r.columns, r.rows).rstrip())
        r = store.query("three_consecutive_rejections")
        echo(
            f"\n== Calls rejected three times in a row: {len(r.rows)}, the first three "
            f"($ forensics run three_consecutive_rejections {logs} --limit 3)"
        )
        echo(render("table", r.columns, r.rows[:3]).rstrip())
        r = compare(store, by="model", a="qwen3.5:latest", b="gpt-oss:20b")
        echo(f"\n== Two models side by side ($ forensics compare --by model qwen3.5:latest gpt-oss:20b {logs})")
        echo(render("table", r.columns, r.rows).rstrip())
    echo(f"\n== The cron alarm ($ forensics alarm {logs} --verbose)")
    outcome = evaluate(AlarmOptions(sessions=[str(s_path)], replay_runs=[str(r_path)], config=config))
    echo(render_text(outcome, verbose=True))
    echo(f"exit code {outcome.exit_code}: the sample data plants ungrounded fills for the alarm to find.")
    week = (DEFAULT_END - timedelta(days=1)).isocalendar()
    label = f"{week[0]}-W{week[1]:02d}"
    with Store(src) as store:
        data = build_report(store, resolve_week(label))
    md = render_report(data, "markdown")
    echo(f"\n== The weekly report, its first lines ($ forensics report {logs} --week {label} | head -12)")
    echo("\n".join(md.splitlines()[:12]))
    echo(f"""
== Try next
  forensics list
  forensics run top_rejection_errors {logs}
  forensics doctor {logs}
  forensics report {logs} --week {label} --format html --out report.html
  forensics sql "select model, count(*) from sessions group by model" {logs}""")
    return outcome.exit_code


def _no_config() -> str | None:
    """An empty config when ./forensics.toml exists: the demo reads its own sample data, whatever it says."""
    import os

    from ..read.sources import CONFIG_NAME

    return os.devnull if Path(CONFIG_NAME).is_file() else None
