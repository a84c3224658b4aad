"""The alarm's text, as cron mails it: the summary first, a capped list, one command per incident."""

from __future__ import annotations

from datetime import datetime

from ..output import escape, iso_utc

_ORDER = {"critical": 0, "warn": 1}


def render_text(outcome, *, verbose: bool = False, max_rows: int = 20) -> str:
    """The cron mail: '' when nothing changed (clean, or only rows already notified), else the summary first."""
    rows = outcome.violations + outcome.warnings
    new = [v for v in rows if v["state"] == "new"]
    rec = outcome.recalled
    # A problem is said when it starts, reminded once per --repeat, and said again when it
    # recovers; in between the exit code carries it (3, or 1 behind a firing violation).
    new_problems = [p for p in rec.problems if p["state"] == "new"]
    problem_lines = [
        f"REMINDER could not evaluate since {p['since']}: {escape(p['text'])}"
        for p in rec.problems
        if p["state"] == "reminded"
    ] + [f"RECOVERED evaluated again (could not since {r['since']}): {escape(r['text'] or '')}" for r in rec.recovered]
    gone = [v for v in rows if v.get("identity") in set(rec.gone)]
    changed = new or rec.reminders or rec.resolved or gone or rec.expired_silences
    lines = []
    if outcome.status == "error":
        if outcome.exit_code == 2 or new_problems:
            what = "usage error" if outcome.exit_code == 2 else "could not evaluate"
            lines.append(f"forensics alarm: {what}: {escape(outcome.reason or '')}")
        lines += problem_lines
        # A run that could not evaluate may still have recorded rows as said (a new warning):
        # the next run is silent about them, so this one says them.
        if not changed:
            return "\n".join(lines)
    elif not (changed or new_problems or problem_lines or verbose):
        return ""
    n = outcome.summary
    hushed = [v for v in rows if v["state"] == "silenced"]
    head = "ALARM" if outcome.exit_code == 1 else ("WARNING" if n["new_warnings"] else "CLEAN")
    lines.append(
        f"{head}: {n['new_critical']} new critical, {n['firing']} firing, {n['acknowledged']} acknowledged, "
        f"{n['new_warnings']} new warning(s), {n['resolved']} resolved"
        + (f", {len(hushed)} silenced" if hushed else "")
        + f"; {_checked(outcome.checked)}"
    )
    if new_problems and outcome.status != "error":
        lines.append("also: could not evaluate: " + "; ".join(escape(p["text"]) for p in new_problems))
    if outcome.status != "error":
        lines += problem_lines
    lines += _rows_by_alarm("NEW", new, outcome, max_rows, command=True)
    if new and outcome.paging.memory_args:
        lines.append(f"  silence them: forensics ack SESSION_ID... {outcome.paging.memory_args}  (or --all)")
        if any("--identity" in (v.get("incident") or "") for v in new):
            # (an id no shell can pass: its incident is named by the identity its command shows)
            lines.append(f"  one named by its identity: forensics ack --identity KEY {outcome.paging.memory_args}")
    for r in outcome.recalled.reminders:
        lines.append(
            f"REMINDER {escape(r['alarm'])}: {r['firing']} row(s) firing since {r['first_seen']}, not "
            f"acknowledged: forensics ack --all --alarm {escape(r['alarm'])} {outcome.paging.memory_args or ''}".rstrip()
        )
    for e in rec.expired_silences:
        lines.append(
            f"silence {escape(e['silence'])} expired: {e['still_firing']} still firing "
            f"({escape(', '.join(e['alarms']))}): forensics alarm --verbose lists them"
        )
    lines += _rows_by_alarm("GONE", gone, outcome, max_rows)
    lines += _rows_by_alarm("RESOLVED", outcome.recalled.resolved, outcome, max_rows)
    if verbose:
        lines += _rows_by_alarm("FIRING", [v for v in rows if v["state"] == "firing"], outcome, max_rows)
        lines += _rows_by_alarm("ACKED", [v for v in rows if v["state"] == "acknowledged"], outcome, max_rows)
        lines += _rows_by_alarm("SILENCED", [v for v in rows if v["state"] == "silenced"], outcome, max_rows)
    return "\n".join(lines)


def _checked(chk: dict) -> str:
    span = ""
    if chk.get("oldest_timestamp"):
        span = f", {iso_utc(chk['oldest_timestamp'])} .. {iso_utc(chk['newest_timestamp'])}"
    return (
        f"checked {len(chk.get('files', []))} file(s), {chk.get('rows', 0)} row(s), "
        f"{chk.get('unreadable_lines', 0)} unreadable line(s){span}"
    )


def _rows_by_alarm(word: str, rows: list[dict], outcome, max_rows: int, *, command: bool = False) -> list[str]:
    """Up to max_rows lines per alarm, then where the rest are."""
    by_alarm: dict[str, list[dict]] = {}
    for v in rows:
        by_alarm.setdefault(v["alarm"], []).append(v)
    lines = []
    for alarm, group in sorted(by_alarm.items(), key=lambda kv: (_ORDER.get(kv[1][0]["severity"], 2), kv[0])):
        for v in group[:max_rows]:
            lines.append(_row_line(word, v))
            if command and v.get("incident"):
                lines.append(f"  incident: {v['incident']}")
        if len(group) > max_rows:
            rest = len(group) - max_rows
            lines.append(
                f"... and {rest} more {escape(alarm)} row(s): forensics run {escape(alarm)} "
                f"{outcome.paging.source_args}; every one is under violations in --format json".replace("  ", " ")
            )
    return lines


def _row_line(word: str, v: dict) -> str:
    ts = v.get("timestamp")
    ts = iso_utc(ts) if isinstance(ts, datetime) else (ts or "-")
    # Every field came from a log (a model's output, a producer's name): escaped, so one
    # field stays on its line and cannot forge another.
    f = {
        k: escape(str(v.get(k))) if v.get(k) is not None else "None"
        for k in ("alarm", "session_id", "model", "kind", "daemon", "source_file", "line")
    }
    extra = ""
    if word == "RESOLVED":
        extra = f"  first seen {v.get('first_seen')}"
        if v.get("acknowledged_at"):
            extra += f"; acknowledged by {escape(str(v.get('acknowledged_by')))} at {v.get('acknowledged_at')}"
    elif v.get("state") == "acknowledged":
        extra = f"  acknowledged by {escape(str(v.get('acknowledged_by')))} at {v.get('acknowledged_at')}"
        if v.get("note"):
            extra += f": {escape(str(v['note']))}"
    elif word == "GONE":
        extra = f"  gone from the logs before it was acknowledged; first seen {v.get('first_seen')}"
    elif v.get("silenced_by"):
        extra = f"  silenced by {escape(str(v['silenced_by']))}"
    elif word == "FIRING":
        extra = f"  first seen {v.get('first_seen')}"
        if v.get("alarm_not_run"):
            extra += "; its alarm is not run by this configuration (--queries-dir, FORENSICS_QUERIES, forensics.toml)"
    if v.get("keyed_by"):  # a condition: its measurements, not a call's place
        measured = "  ".join(f"{escape(str(k))}={escape(_short(x))}" for k, x in (v.get("row") or {}).items())
        return f"{word:8} {v['severity'].upper():8} {f['alarm']}  model={f['model']}  {measured}{extra}".rstrip()
    return (
        f"{word:8} {v['severity'].upper():8} {f['alarm']}  {escape(str(ts))}  session={f['session_id']}  "
        f"model={f['model']}  kind={f['kind']}  daemon={f['daemon']}  at={f['source_file']}:{f['line']}{extra}"
    )


def _short(x) -> str:
    """A measurement as the mail shows it: a rate to 3 places, a time in UTC."""
    if isinstance(x, float):
        return f"{x:.3f}"
    return iso_utc(x) if isinstance(x, datetime) else str(x)


def replaced_alarms(catalog) -> list[str]:
    """One stderr line per built-in alarm that a user query replaces, demotes or turns into a report."""
    out = []
    for name, builtin in catalog.replaced.items():
        if builtin.kind != "alarm":
            continue
        now = catalog.queries[name]
        what = "replaced"
        if now.kind != "alarm":
            what = f"turned into a {now.kind} query (it no longer alarms)"
        elif now.severity != builtin.severity:
            what = f"demoted from {builtin.severity} to {now.severity}"
        out.append(f"warning: the built-in alarm {name} ({builtin.severity}) is {what} by {escape(str(now.path))}")
    return out
