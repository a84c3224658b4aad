"""The alarm's text, as cron mails it: the summary first, a capped list, one command per incident."""

from __future__ import annotations

from datetime import datetime

from ..output import counted, escape, iso_utc
from .commands import program, quote
from .groups import GROUP_BY, group

_ORDER = {"critical": 0, "warn": 1}


def render_text(outcome, *, verbose: bool = False, max_rows: int = 20, group_by=None) -> str:
    """The cron mail: '' when nothing changed (clean, or only rows already notified), else the summary first.

    More rows of one kind than ``max_rows`` (a storm) are grouped by ``group_by``: each group
    counted, then its first rows, ``max_rows`` rows in all. Each alarm's description is said once.
    """
    about: set[str] = set()  # the alarms whose description this mail has said
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
        f"{head}: {n['new_critical']:,} new critical, {n['firing']:,} firing, {n['acknowledged']:,} acknowledged, "
        f"{counted(n['new_warnings'], 'new warning')}, {n['resolved']:,} resolved"
        + (f", {len(hushed):,} silenced" if hushed else "")
        + f"; {_checked(outcome.checked)}"
    )
    if outcome.paging.freshness:
        lines.append(outcome.paging.freshness)
    if new_problems and outcome.status != "error":
        lines.append("also: could not evaluate: " + "; ".join(escape(p["text"]) for p in new_problems))
    if outcome.status != "error":
        lines += problem_lines
    ctx = (outcome, max_rows, tuple(group_by or outcome.paging.group_by) or GROUP_BY, about)
    lines += _section("NEW", new, ctx, command=True)
    prog = program()
    if new and outcome.paging.memory_args:
        lines.append(f"  silence them: {prog} ack SESSION_ID... {outcome.paging.memory_args}  (or --all)")
        if any("--identity" in (v.get("incident") or "") for v in new):
            # (an id no shell can pass: its incident is named by the identity its command shows)
            lines.append(f"  one named by its identity: {prog} ack --identity KEY {outcome.paging.memory_args}")
    budget = max_rows  # the sessions reminded of, in all
    for r in outcome.recalled.reminders:
        lines += _about(r["alarm"], outcome, about)
        lines.append(
            f"REMINDER {escape(r['alarm'])}: {counted(r['firing'], 'row')} firing since {r['first_seen']}, not "
            f"acknowledged: {prog} ack --all --alarm {quote(r['alarm'])} {outcome.paging.memory_args or ''}".rstrip()
        )
        # ... and which sessions, each with its incident, so the one paged can start from a session.
        firing = [v for v in rows if v["alarm"] == r["alarm"] and v["state"] == "firing"]
        for v in firing[:budget]:
            lines.append(_row_line("FIRING", v))
            if v.get("incident"):
                lines.append(f"  incident: {v['incident']}")
        budget -= min(budget, len(firing))
    for e in outcome.recalled.expired_silences:
        lines.append(
            f"silence {escape(e['silence'])} expired: {e['still_firing']} still firing "
            f"({escape(', '.join(e['alarms']))}): {prog} alarm --verbose lists them"
        )
    lines += _section("GONE", gone, ctx)
    lines += _section("RESOLVED", outcome.recalled.resolved, ctx)
    if verbose:
        lines += _section("FIRING", [v for v in rows if v["state"] == "firing"], ctx)
        lines += _section("ACKED", [v for v in rows if v["state"] == "acknowledged"], ctx)
        lines += _section("SILENCED", [v for v in rows if v["state"] == "silenced"], ctx)
    return "\n".join(lines)


def _about(alarm: str, outcome, about: set[str]) -> list[str]:
    """The alarm's one-line description, the first time the mail names the alarm."""
    text = outcome.paging.descriptions.get(alarm)
    if alarm in about or not text:
        return []
    about.add(alarm)
    return [f"about {escape(alarm)}: {escape(text)}"]


_EVENT_WORDS = {"NEW": "new", "GONE": "gone", "RESOLVED": "resolved", "FIRING": "firing", "ACKED": "acknowledged"}


def _section(word: str, rows: list[dict], ctx, *, command: bool = False) -> list[str]:
    """One kind of row: listed by alarm; a storm (more than max_rows) grouped, with max_rows rows in all."""
    outcome, max_rows, keys, about = ctx
    if len(rows) <= max_rows:
        return _rows_by_alarm(word, rows, outcome, max_rows, command=command, about=about)
    lines = []
    groups = group(rows, keys, max_rows)
    for g in groups[:max_rows]:
        for alarm in dict.fromkeys([g.labels["alarm"]] if "alarm" in g.labels else [v["alarm"] for v in g.shown]):
            lines += _about(alarm, outcome, about)
        lines.append(escape(g.head(_EVENT_WORDS[word])))
        for v in g.shown:
            lines.append(_row_line(word, v))
            if command and v.get("incident"):
                lines.append(f"  incident: {v['incident']}")
    if len(groups) > max_rows:
        lines.append(f"... and {counted(len(groups) - max_rows, 'more group')}")
    shown: dict[str, int] = {}
    total: dict[str, int] = {}
    for g in groups:
        for v in g.shown:
            shown[v["alarm"]] = shown.get(v["alarm"], 0) + 1
    for v in rows:
        total[v["alarm"]] = total.get(v["alarm"], 0) + 1
    for alarm, n in sorted(total.items()):
        lines += _more(alarm, n - shown.get(alarm, 0), outcome)
    return lines


def _more(alarm: str, rest: int, outcome) -> list[str]:
    """Where the rows not listed are."""
    if rest <= 0:
        return []
    return [
        f"... and {counted(rest, f'more {escape(alarm)} row')}: {program()} run {quote(alarm)} "
        f"{outcome.paging.source_args}; every one is under violations in --format json".replace("  ", " ")
    ]


def _checked(chk: dict) -> str:
    span = ""
    if chk.get("oldest_timestamp"):
        span = f", {iso_utc(chk['oldest_timestamp'])} .. {iso_utc(chk['newest_timestamp'])}"
    return (
        f"checked {counted(len(chk.get('files', [])), 'file')}, {counted(chk.get('rows', 0), 'row')}, "
        f"{counted(chk.get('unreadable_lines', 0), 'unreadable line')}{span}"
    )


def _rows_by_alarm(
    word: str, rows: list[dict], outcome, max_rows: int, *, command: bool = False, about: set[str]
) -> list[str]:
    """Up to max_rows lines per alarm, then where the rest are."""
    by_alarm: dict[str, list[dict]] = {}
    for v in rows:
        by_alarm.setdefault(v["alarm"], []).append(v)
    lines = []
    for alarm, listed in sorted(by_alarm.items(), key=lambda kv: (_ORDER.get(kv[1][0]["severity"], 2), kv[0])):
        lines += _about(alarm, outcome, about)
        for v in listed[:max_rows]:
            lines.append(_row_line(word, v))
            if command and v.get("incident"):
                lines.append(f"  incident: {v['incident']}")
        lines += _more(alarm, len(listed) - max_rows, outcome)
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
