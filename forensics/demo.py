"""`forensics demo`: sample logs and a short tour of what the toolkit shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from .sample import DEFAULT_END, generate


def run_demo(out: Path, *, echo: Callable[[str], None] = print, sessions: int = 2000) -> int:
    """Generate (or reuse) sample logs in ``out`` and print the tour; returns the alarm's exit code."""
    from .alarm import AlarmOptions, evaluate
    from .alarmtext import render_text
    from .output import render
    from .report import build_report, render_report, resolve_week
    from .sources import resolve
    from .store import Store

    s_path, r_path = out / "sessions.jsonl", out / "replay_runs.jsonl"
    if s_path.is_file() and r_path.is_file():
        echo(f"Reusing the sample logs in {out}/ (delete the folder to generate them again).")
    else:
        res = generate(out, sessions=sessions)
        echo(f"Generated {res.sessions} iterate calls and {res.replay_runs} replay runs in {out}/.")
    src = resolve([str(s_path)], [str(r_path)], config=_no_config())
    with Store(src) as store:
        echo("\n== First-shot success per model (forensics run first_shot_success_rate)")
        r = store.query("first_shot_success_rate")
        echo(render("table", r.columns, r.rows).rstrip())
        echo("\n== Did we feed it enough corpus? (forensics run retrieval_depth_vs_first_shot)")
        r = store.query("retrieval_depth_vs_first_shot", {"model": "llama3.1:8b"})
        echo(render("table", r.columns, r.rows).rstrip())
        echo("\n== Calls rejected three times in a row (forensics run three_consecutive_rejections)")
        r = store.query("three_consecutive_rejections")
        echo(f"{len(r.rows)} calls; the first three:")
        echo(render("table", r.columns[:5], [row[:5] for row in r.rows[:3]]).rstrip())
    echo("\n== The cron alarm (forensics alarm)")
    outcome = evaluate(AlarmOptions(sessions=[str(s_path)], replay_runs=[str(r_path)], config=_no_config()))
    echo(render_text(outcome, verbose=True))
    echo(f"exit code {outcome.exit_code}: the sample data plants ungrounded fills for the alarm to find.")
    week = (DEFAULT_END - timedelta(days=1)).isocalendar()
    label = f"{week[0]}-W{week[1]:02d}"
    with Store(src) as store:
        data = build_report(store, resolve_week(label))
    md = render_report(data, "markdown")
    echo(f"\n== The weekly report (forensics report --week {label}), first lines")
    echo("\n".join(md.splitlines()[:12]))
    echo(f"""
== Try next
  forensics list
  forensics run top_rejection_errors -s {s_path}
  forensics doctor -s {s_path} -r {r_path}
  forensics report -s {s_path} -r {r_path} --week {label} --format html --out report.html
  forensics sql "select model, count(*) from sessions group by model" -s {s_path}""")
    return outcome.exit_code


def _no_config() -> str:
    # The demo reads its own sample data, whatever ./forensics.toml says.
    import os

    return os.devnull
