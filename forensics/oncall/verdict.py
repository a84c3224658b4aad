"""The alarm's verdict: its queries run on one load, their rows reconciled with the memory, the exit code set."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ..errors import ColumnNotRead, ForensicsError, ParameterError
from ..output import counted, escape
from ..timewindow import parse_age, parse_time
from .commands import incident_command
from .mail import replaced_alarms
from .memory import Memory
from .options import AlarmOptions
from .outcome import EXIT_CANNOT_EVALUATE, EXIT_VIOLATION, AlarmOutcome, Recalled
from .silences import load_silences
from .states import remember
from .thresholds import read_thresholds
from .window import FUTURE_SLACK, gather, new_unreadable
from .window import problems as find_problems

# Columns every alarm row is reported with; an alarm query should select them.
ROW_KEYS = ("session_id", "timestamp", "model", "kind", "daemon", "source_file", "line")


def notice(outcome: AlarmOutcome, *lines: str) -> None:
    """Lines for stderr that the memory says when new, then once per --repeat (every run without one)."""
    outcome.paging.stderr_lines.extend(lines)
    outcome.paging.notices.extend(lines)


def judge(
    src,
    opts: AlarmOptions,
    outcome: AlarmOutcome,
    pending: list,
    *,
    store=None,
    after_batch: int | None = None,
    memory: Memory | None = None,
    batch: tuple[int, str | None] | None = None,
    afresh: bool = False,
    logs: list[str] | None = None,
    saved=None,
) -> None:
    """Evaluate the alarm queries on one store (or the logs' views) and reconcile what they found with the memory."""
    from ..read.sources import live_name
    from ..store.connection import Store

    now = opts.checks.now or datetime.now(UTC)
    since = parse_time(opts.checks.since, now=now) if opts.checks.since else None
    if afresh:
        since = None  # (the window is still parsed: a bad --since is a usage error on every run)
    max_age = parse_age(opts.checks.max_age) if opts.checks.max_age else None
    repeat = parse_age(opts.recall.repeat)
    if repeat.total_seconds() < 0:
        raise ParameterError(f"--repeat takes an age such as 24h or 30m, got {opts.recall.repeat!r}")
    limits = read_thresholds(opts.sources.config)  # (the condition alarms', from forensics.toml)
    span = {"params": limits.params(now), "lookback": limits.lookback(now)}
    with store() if store is not None else Store(src) as store:
        outcome.paging.stderr_lines.extend(replaced_alarms(store.catalog))
        # The alarm looks at every line (repeated keys, rows of another stream) before it
        # trusts any; then one parse, of only the columns the alarm queries use, serves
        # the totals and every alarm query.
        scan = store.check()
        try:
            # Numbering lines costs the load most of its threads, and a clean window needs
            # none: the first pass leaves `line` out, and a statement that needs a row's line
            # (a row was found) sends the alarm to the second, which numbers them.
            found = gather(store, since, now, lines=False, after_batch=after_batch, **span)
        except ColumnNotRead:
            found = gather(store, since, now, lines=True, after_batch=after_batch, **span)
        (rows, valid, oldest, newest, untimed, future), odd_times, in_window, results = found
        notice(outcome, *store.warnings())
        files = []
        for f in scan.files:
            # Per file: its rows in the window, and every unreadable line of the file.
            entry = f.as_dict()
            entry["rows"] = in_window.get(f.path, 0)
            files.append(entry)
        outcome.checked = {
            "files": files,
            "rows": rows,
            "rows_with_valid_time": valid,
            "unreadable_lines": scan.unreadable_lines,
            "unreadable_files": [f.path for f in scan.unreadable_files],
            "timestamps": {
                "missing_or_invalid": untimed,
                "future": future,
                "at": [{"source_file": p, "line": ln, "timestamp": t} for p, ln, t in odd_times],
            },
            "oldest_timestamp": oldest,
            "newest_timestamp": newest,
            "window": {"since": since, "until": None},
        }
        if after_batch is not None:
            # With a store, --max-unreadable counts the lines that arrived since the last alarm:
            # one bad line three weeks ago must not page every five minutes forever.
            outcome.checked["unreadable_lines_new"] = new_unreadable(store, after_batch)
        found = []
        for q, records in results:
            for rec in records:
                item = {"alarm": q.name, "severity": q.severity}
                item.update({k: rec.get(k) for k in ROW_KEYS})
                item["row"] = {k: v for k, v in rec.items() if k not in ROW_KEYS and not k.startswith("_id_")}
                if any(k.startswith("_id_") for k in rec):
                    item["id"] = {k[4:]: v for k, v in rec.items() if k.startswith("_id_")}
                if q.identity:
                    item["keyed_by"] = list(q.identity)
                found.append(item)
        problems = find_problems(
            scan,
            opts,
            outcome,
            valid=valid,
            rows=rows,
            newest=newest,
            now=now,
            since=since,
            max_age=max_age,
            after_batch=after_batch,
        )
        alarms = {q.name for q in store.catalog.alarms()}
        silences = None
        if memory is not None:
            try:
                silences = load_silences(memory)
            except ForensicsError as exc:  # (said as a problem; every row then fires: none is hidden)
                problems.append(("silences", str(exc)))
        outcome.paging.descriptions = {q.name: q.description for q in store.catalog.alarms()}
        unread = {live_name(f.path) for f in scan.unreadable_files}
        if untimed or future:
            where = ", ".join(f"{p}:{ln}" for p, ln, _ in odd_times)
            notice(
                outcome,
                f"warning: {counted(untimed, 'row')} without a valid RFC 3339 timestamp and {future} stamped more "
                f"than {int(FUTURE_SLACK.total_seconds() // 60)} minutes ahead: evaluated in every window, "
                f"never counted as fresh (e.g. {escape(where)})",
            )

        def gone(unseen: dict[str, dict]) -> set[str]:
            # Gone is decided by the data, never by a window or a missing field: a whole
            # evaluation that did not meet the row; else, its session in no row the logs hold.
            # A row with no session (or a user's aggregate) is gone only by a whole evaluation.
            if problems:
                return set()
            if since is None:
                return set(unseen)
            with_session = {k: i for k, i in unseen.items() if i.get("session_id") is not None}
            present = store.sessions_present(i["session_id"] for i in with_session.values())
            return {k for k, i in with_session.items() if i["session_id"] not in present}

        remembered = remember(
            memory,
            found,
            now=now,
            repeat=repeat,
            gone=gone,
            alarms=None if problems else alarms,  # (an evaluation with a problem resolves nothing)
            batch=batch,
            outcome=outcome,
            remind={"critical", "warn"} if opts.recall.fail_on == "warn" else {"critical"},
            problems=problems,
            wait=opts.lock.wait,
            # (a log is evaluated whole once read: one that could not be is still new next run)
            logs=None if logs is None else [log for log in logs if log not in unread],
            # A run that evaluated no row cannot tell that a problem is gone (a stale log's age is
            # no longer measured): it recovers nothing.
            whole=not any(key == "nothing" for key, _ in problems),
            notices=outcome.paging.notices,
            saved=saved,
            silences=silences,
        )
        pending.append(remembered.commit)
        # What the read met and the memory has said lately is not said again (cron mails any output).
        quiet = set(outcome.paging.notices) - set(remembered.notices)
        outcome.paging.stderr_lines = [line for line in outcome.paging.stderr_lines if line not in quiet]
        for item in remembered.items:
            # With --state, the incident reads that memory too (the store's is found on its own).
            item["incident"] = incident_command(item, outcome.paging.source_args, opts.recall.state)
            (outcome.violations if item["severity"] == "critical" else outcome.warnings).append(item)
        outcome.recalled = Recalled(
            remembered.reminders,
            remembered.resolved,
            remembered.problems,
            remembered.recovered,
            remembered.gone,
            remembered.expired_silences,
        )
        if opts.recall.store_failures:
            reminded = {r["alarm"] for r in remembered.reminders}
            notified = [
                dict(i, found_at=now)
                for i in remembered.items
                if i.get("in_window", True) and (i["state"] == "new" or i["alarm"] in reminded)
            ]
            try:
                if notified:
                    store.write_rows(notified, Path(opts.recall.store_failures), wait=opts.lock.wait)
            except (OSError, ForensicsError) as exc:
                # A failures file that cannot be written must not take the mail down with it; nor
                # may its rows be lost: this run is not recorded, so the next notifies them again
                # and writes them (a repeated notification, never a dropped row).
                pending[pending.index(remembered.commit)] = lambda said=True: remembered.commit(said=False)
                text = (
                    f"cannot append to --store-failures {escape(str(opts.recall.store_failures))}: "
                    f"{escape(getattr(exc, 'strerror', None) or str(exc))}; this run is not recorded, and the "
                    "next notifies its rows again"
                )
                problems.append(("store-failures", text))
                outcome.recalled.problems.append({"problem": "store-failures", "text": text, "state": "new"})

    outcome.problems.extend(text for _, text in problems)
    # An acknowledged row, or a warning (unless --fail-on warn), leaves the exit code alone;
    # a firing one keeps it at 1, so a monitor fed the exit code stays red until it is acknowledged.
    failing = [
        v
        for v in outcome.violations + (outcome.warnings if opts.recall.fail_on == "warn" else [])
        if v["state"] in ("new", "firing")
    ]
    if failing:
        outcome.status, outcome.exit_code = "violations", EXIT_VIOLATION
        if outcome.problems:
            outcome.reason = "; ".join(outcome.problems)
    elif outcome.problems:
        outcome.status, outcome.exit_code = "error", EXIT_CANNOT_EVALUATE
        outcome.reason = "; ".join(outcome.problems)
