"""`forensics alarm`: run every alarm query for cron; never report clean after reading nothing."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .catalog import parse_age, parse_time
from .errors import ColumnNotRead, ForensicsError, ParameterError, UsageError
from .output import escape, iso_utc, plain
from .narrow import columns_named

EXIT_CLEAN, EXIT_VIOLATION, EXIT_USAGE, EXIT_CANNOT_EVALUATE = 0, 1, 2, 3

# Columns every alarm row is reported with; an alarm query should select them.
ROW_KEYS = ("session_id", "timestamp", "model", "kind", "daemon", "source_file", "line")


@dataclass
class AlarmOptions:
    """Everything `forensics alarm` takes, as plain values."""

    sessions: list[str] | None = None
    replay_runs: list[str] | None = None
    config: str | os.PathLike | None = None
    queries_dirs: list[str] = field(default_factory=list)
    since: str | None = None
    max_age: str | None = None
    max_unreadable: int = 0
    fail_on: str = "critical"
    store_failures: str | os.PathLike | None = None
    lock_wait: float = 10.0
    now: datetime | None = None
    store: str | os.PathLike | None = None


@dataclass
class AlarmOutcome:
    """The verdict: status, exit code, what was checked and every violating row."""

    status: str = "clean"
    exit_code: int = EXIT_CLEAN
    reason: str | None = None
    checked: dict[str, Any] = field(default_factory=dict)
    violations: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The JSON status object `--format json` prints."""
        out = {"status": self.status, "exit_code": self.exit_code}
        if self.reason:
            out["reason"] = self.reason
        out["checked"] = self.checked
        out["violations"] = self.violations
        out["warnings"] = self.warnings
        if self.problems:
            out["problems"] = self.problems
        return plain(out)


def lock_path(files: list[Path]) -> Path:
    """A lock file named for the exact set of sources, so two alarms on them never overlap.

    It lives in the user's private cache folder: a name in a shared /tmp could be taken
    by another user first, and the alarm would never run again.
    """
    from .paths import user_dir

    key = "\n".join(sorted(str(Path(f).resolve()) for f in files))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder = user_dir("locks")
    if folder is None:
        raise ForensicsError("no private folder for the alarm's lock: set XDG_CACHE_HOME to a folder "
                             "only this user can write")
    return folder / f"alarm-{digest}.lock"


def evaluate(opts: AlarmOptions) -> AlarmOutcome:
    """Evaluate every alarm query; any failure to evaluate is status 'error', exit 3."""
    from filelock import FileLock, Timeout

    from .sources import resolve

    from .sources import resolve_store

    outcome = AlarmOutcome()
    try:
        # Logs named by flags are evaluated as named: a store from $FORENSICS_STORE or
        # forensics.toml applies only when none is (--store itself always does).
        folder = (resolve_store(opts.store, config=opts.config)
                  if opts.store or not (opts.sessions or opts.replay_runs) else None)
        if folder is None:
            src = resolve(opts.sessions, opts.replay_runs, config=opts.config,
                          queries_dirs=opts.queries_dirs)
        else:
            src = resolve(config=opts.config, queries_dirs=opts.queries_dirs, streams=False)
        if not 0 <= opts.lock_wait <= 86400:  # filelock waits forever on a negative wait (and NaN fails this)
            raise ParameterError(f"--lock-wait takes 0 to 86400 seconds, got {opts.lock_wait}")
        lock = FileLock(str(lock_path(src.files if folder is None else [Path(folder)])))
        try:
            lock.acquire(timeout=opts.lock_wait)
        except Timeout:
            raise ForensicsError(
                f"another forensics alarm is still running on the same logs (lock {lock.lock_file}); "
                f"gave up after {opts.lock_wait:g}s") from None
        try:
            if folder is None:
                _evaluate(src, opts, outcome)
            else:
                _evaluate_store(Path(folder), src, opts, outcome)
        finally:
            lock.release()
    except UsageError as exc:
        outcome.status, outcome.exit_code, outcome.reason = "error", EXIT_USAGE, str(exc)
    except ForensicsError as exc:
        outcome.status, outcome.exit_code, outcome.reason = "error", EXIT_CANNOT_EVALUATE, str(exc)
    except Exception as exc:  # an alarm that crashed has not evaluated anything
        outcome.status, outcome.exit_code = "error", EXIT_CANNOT_EVALUATE
        outcome.reason = f"unexpected {type(exc).__name__}: {exc}"
    return outcome


# A clock this far ahead of ours is wrong: such a row is still evaluated, but never
# makes a log look fresh.
FUTURE_SLACK = timedelta(minutes=5)


STATE_NAME = "alarm-state.json"


def _evaluate_store(root: Path, src, opts: AlarmOptions, outcome: AlarmOutcome) -> None:
    """Ingest, then evaluate the window plus every row that arrived since the last alarm on this store."""
    import json

    from .ingest import ingest
    from .manifest import load
    from .store import Store
    from .storeview import open_lake

    before = load(root)
    report = ingest(root, opts.sessions, opts.replay_runs, config=opts.config)
    outcome.stderr_lines.extend(escape(w) for w in report.warnings)
    state_path = root / STATE_NAME
    try:
        after = json.loads(state_path.read_text(encoding="utf-8"))["batch"]
    except (OSError, ValueError, KeyError, TypeError):
        # The first alarm on a store: what this run ingested is what is new.
        after = before.batch if before is not None else 0
    lake = open_lake(root)
    _evaluate(src, opts, outcome, store=lambda: Store(src, lake=lake), after_batch=after)
    if outcome.exit_code != EXIT_CANNOT_EVALUATE:
        tmp = state_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"batch": report.batch, "at": iso_utc(datetime.now(timezone.utc))}),
                           encoding="utf-8")
            os.replace(tmp, state_path)
        except OSError as exc:
            # The verdict stands; the next run looks again at what this one saw.
            outcome.stderr_lines.append(f"warning: cannot record this alarm in {escape(str(state_path))} "
                                        f"({escape(exc.strerror or str(exc))}): the next run re-evaluates its rows")


def _evaluate(src, opts: AlarmOptions, outcome: AlarmOutcome, *, store=None, after_batch: int | None = None) -> None:
    from .store import Store

    now = opts.now or datetime.now(timezone.utc)
    since = parse_time(opts.since, now=now) if opts.since else None
    max_age = parse_age(opts.max_age) if opts.max_age else None
    with (store() if store is not None else Store(src)) as store:
        outcome.stderr_lines.extend(replaced_alarms(store.catalog))
        # The alarm looks at every line (repeated keys, rows of another stream) before it
        # trusts any; then one parse, of only the columns the alarm queries use, serves
        # the totals and every alarm query.
        scan = store.check()
        try:
            # Numbering lines costs the load most of its threads, and a clean window needs
            # none: the first pass leaves `line` out, and a statement that needs a row's line
            # (a row was found) sends the alarm to the second, which numbers them.
            found = _gather(store, since, now, lines=False, after_batch=after_batch)
        except ColumnNotRead:
            found = _gather(store, since, now, lines=True, after_batch=after_batch)
        (rows, valid, oldest, newest, untimed, future), odd_times, in_window, results = found
        outcome.stderr_lines.extend(store.warnings())
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
            "timestamps": {"missing_or_invalid": untimed, "future": future,
                           "at": [{"source_file": p, "line": ln, "timestamp": t} for p, ln, t in odd_times]},
            "oldest_timestamp": oldest,
            "newest_timestamp": newest,
            "window": {"since": since, "until": None},
        }
        if after_batch is not None:
            # With a store, --max-unreadable counts the lines that arrived since the last alarm:
            # one bad line three weeks ago must not page every five minutes forever.
            outcome.checked["unreadable_lines_new"] = _new_unreadable(store, after_batch)
        every = [rec for _, records in results for rec in records]
        if opts.store_failures and every:
            store.write_rows([(r.get("source_file"), r.get("line")) for r in every],
                             Path(opts.store_failures))
        for q, records in results:
            target = outcome.violations if q.severity == "critical" else outcome.warnings
            for rec in records:
                item = {"alarm": q.name, "severity": q.severity}
                item.update({k: rec.get(k) for k in ROW_KEYS})
                item["row"] = {k: v for k, v in rec.items() if k not in ROW_KEYS}
                target.append(item)

    if untimed or future:
        where = ", ".join(f"{p}:{ln}" for p, ln, _ in odd_times)
        outcome.stderr_lines.append(
            f"warning: {untimed} row(s) without a valid RFC 3339 timestamp and {future} stamped more "
            f"than {int(FUTURE_SLACK.total_seconds() // 60)} minutes ahead: evaluated in every window, "
            f"never counted as fresh (e.g. {escape(where)})")
    # What makes the evaluation untrustworthy, checked after the rows were read so
    # that violations found despite them are still reported.
    window = f" since {iso_utc(since)}" if since else ""
    if valid == 0:
        what = "zero readable session rows" if rows == 0 else \
            f"no session row with a valid timestamp (of {rows} read)"
        outcome.problems.append(f"{what}{window}: nothing was evaluated" if rows == 0 else f"{what}{window}")
    for f in scan.unreadable_files:
        outcome.problems.append(f"{escape(f.path)}: {escape(f.error)}")
    unreadable = outcome.checked.get("unreadable_lines_new", outcome.checked["unreadable_lines"])
    if unreadable > opts.max_unreadable:
        new = " new" if after_batch is not None else ""
        outcome.problems.append(
            f"{unreadable}{new} unreadable line(s), more than "
            f"--max-unreadable {opts.max_unreadable}")
    if max_age is not None and newest is not None and newest < now - max_age:
        outcome.problems.append(
            f"the newest row ({iso_utc(newest)}) is older than --max-age {opts.max_age}")

    failing = outcome.violations + (outcome.warnings if opts.fail_on == "warn" else [])
    if failing:
        outcome.status, outcome.exit_code = "violations", EXIT_VIOLATION
        if outcome.problems:
            outcome.reason = "; ".join(outcome.problems)
    elif outcome.problems:
        outcome.status, outcome.exit_code = "error", EXIT_CANNOT_EVALUATE
        outcome.reason = "; ".join(outcome.problems)


def _new_unreadable(store, after_batch: int) -> int:
    """Unreadable lines stored by ingests after `after_batch`, and in the tails not ingested yet."""
    from .storeview import tail_report

    lake = store.lake
    stored = 0
    if lake.unreadable:
        stored = store.con.execute("select count(*) from read_parquet(?::varchar[]) where batch > ?",
                                   [lake.unreadable, after_batch]).fetchone()[0]
    return stored + tail_report(store.reader.checked, lake).unreadable_lines


def _gather(store, since: datetime | None, now: datetime, *, lines: bool, after_batch: int | None = None):
    """One load of the window, then the totals, the odd timestamps and every alarm query's rows."""
    store.materialize(since=since, columns=columns_named(q.sql for q in store.catalog.alarms()),
                      window_only=True, lines=lines, after_batch=after_batch)
    future = {"future": now + FUTURE_SLACK}
    totals = store.execute(
        """select
            count(*),
            count(*) filter (where "timestamp" <= $future),
            min("timestamp") filter (where "timestamp" <= $future),
            max("timestamp") filter (where "timestamp" <= $future),
            count(*) filter (where "timestamp" is null),
            count(*) filter (where "timestamp" > $future)
        from sessions""", future).rows[0]
    odd_times = store.execute(
        """select source_file, line, timestamp_raw
        from sessions
        where "timestamp" is null or "timestamp" > $future
        order by source_file, line
        limit 5""", future).rows
    in_window = dict(store.execute("select source_file, count(*) from sessions group by source_file").rows)
    # The loaded table already is the window, so no `since` is passed to the queries.
    results = [(q, store.query(q.name, {}).records()) for q in store.catalog.alarms()]
    return totals, odd_times, in_window, results


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


def render_text(outcome: AlarmOutcome, *, verbose: bool = False) -> str:
    """The compact human report: one line per violating row, then the totals; '' when clean."""
    if outcome.status == "error":
        return f"forensics alarm: could not evaluate: {escape(outcome.reason or '')}"
    chk = outcome.checked
    span = ""
    if chk.get("oldest_timestamp"):
        span = f", {iso_utc(chk['oldest_timestamp'])} .. {iso_utc(chk['newest_timestamp'])}"
    summary = (f"checked {len(chk.get('files', []))} file(s), {chk.get('rows', 0)} row(s), "
               f"{chk.get('unreadable_lines', 0)} unreadable line(s){span}")
    if outcome.status == "clean" and not verbose:
        return ""
    lines = []
    for v in outcome.violations + outcome.warnings:
        ts = iso_utc(v["timestamp"]) if isinstance(v["timestamp"], datetime) else (v["timestamp"] or "-")
        # Every field came from a log (a model's output, a producer's name): escaped, so
        # one field stays on its line and cannot forge another.
        f = {k: escape(str(v[k])) if v[k] is not None else "None" for k in
             ("alarm", "session_id", "model", "kind", "daemon", "source_file", "line")}
        lines.append(
            f"{v['severity'].upper():8} {f['alarm']}  {escape(ts)}  session={f['session_id']}  "
            f"model={f['model']}  kind={f['kind']}  daemon={f['daemon']}  "
            f"at={f['source_file']}:{f['line']}")
    crit, warn = len(outcome.violations), len(outcome.warnings)
    head = "CLEAN" if outcome.status == "clean" else "ALARM"
    lines.append(f"{head}: {crit} critical, {warn} warning(s); {summary}")
    if outcome.reason:
        lines.append(f"also: {escape(outcome.reason)}")
    return "\n".join(lines)


def self_test(opts: AlarmOptions | None = None) -> tuple[int, str]:
    """Plant one violation among clean rows in a temporary log and run the real alarm on it.

    The alarm runs with the caller's configuration and query folders (``opts``), so a user
    query that replaces a built-in alarm and misses the planted row fails the self-test.
    """
    from .writer import SessionLogger, build_session_record

    opts = opts or AlarmOptions()
    with tempfile.TemporaryDirectory(prefix="forensics-selftest-") as tmp:
        path = Path(tmp) / "sessions.jsonl"
        replay = Path(tmp) / "replay_runs.jsonl"
        replay.write_text("")
        log = SessionLogger(path, daemon="selftest")
        req = {"kind": "fill", "model": "selftest-model", "provider": "none", "prompt": "self-test",
               "max_iterations": 3}
        history = [{"iteration": 0, "verdict_kind": "accepted", "span_id": "sp-0"}]
        for i in range(10):
            log.append(build_session_record(
                {**req, "trace_id": f"selftest-clean-{i}"},
                response={"artifact": {"fills": [{"candidate_id": "W-1"}]}, "iterations": 1,
                          "history": history}, roster_check=lambda a: True, duration_ms=10))
        log.append(build_session_record({**req, "trace_id": "selftest-exhausted"}, failure={
            "iterations": 1, "history": [{"iteration": 0, "verdict_kind": "no_json"}]}))
        log.append(build_session_record({**req, "trace_id": "selftest-infra"},
                                        error=TimeoutError("probe timed out")))
        planted = "selftest-planted-violation"
        log.append(build_session_record(
            {**req, "trace_id": planted},
            response={"artifact": {"fills": [{"candidate_id": "W-404"}]}, "iterations": 1,
                      "history": history}, roster_check=lambda a: False))
        log.close()
        if log.errors:
            return EXIT_CANNOT_EVALUATE, f"self-test FAILED: the writer reported {log.errors} error(s)"
        outcome = evaluate(AlarmOptions(sessions=[str(path)], replay_runs=[str(replay)], config=opts.config,
                                        queries_dirs=opts.queries_dirs, lock_wait=5))
    found = [v["session_id"] for v in outcome.violations]
    if outcome.exit_code == EXIT_VIOLATION and found == [planted] and not outcome.warnings:
        return EXIT_CLEAN, (f"self-test passed: the planted violation was found, "
                            f"{outcome.checked['rows'] - 1} clean rows were not flagged")
    return EXIT_CANNOT_EVALUATE, (
        f"self-test FAILED: exit {outcome.exit_code}, status {outcome.status}, flagged {found}, "
        f"warnings {[w['session_id'] for w in outcome.warnings]}, reason {outcome.reason}")
