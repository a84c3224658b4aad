"""`forensics alarm`: run every alarm query for cron; never report clean after reading nothing."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..catalog import load_catalog
from ..errors import ColumnNotRead, ForensicsError, ParameterError, UsageError
from ..output import escape, iso_utc, plain
from ..read.narrow import columns_named
from ..timewindow import parse_age, parse_time
from .memory import Memory, reconcile

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
    state: str | os.PathLike | None = None  # the memory where there is no store
    repeat: str = "24h"  # how long a firing alarm stays quiet before its reminder
    max_rows: int = 20  # rows printed per alarm; JSON and --store-failures carry them all
    lock_file: str | os.PathLike | None = None  # the self-test's own, in its temporary folder
    engine: str = "duckdb"  # or "spark": the store read by Apache Spark
    spark_master: str | None = None
    spark_remote: str | None = None


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
    reminders: list[dict] = field(default_factory=list)
    resolved: list[dict] = field(default_factory=list)
    # How the person paged reaches the same data: `--store DIR` or `-s ... -r ...`, and the
    # memory's own option (for `forensics ack`).
    source_args: str = ""
    memory_args: str | None = None

    @property
    def summary(self) -> dict:
        """How many violating rows are in each state."""
        rows = self.violations + self.warnings
        count = lambda pick: sum(1 for v in rows if pick(v))  # noqa: E731
        return {
            "new_critical": count(lambda v: v["state"] == "new" and v["severity"] == "critical"),
            "new_warnings": count(lambda v: v["state"] == "new" and v["severity"] != "critical"),
            "firing": count(lambda v: v["state"] == "firing"),
            "acknowledged": count(lambda v: v["state"] == "acknowledged"),
            "resolved": len(self.resolved),
        }

    def as_dict(self) -> dict:
        """The JSON status object `--format json` prints: the same keys in every outcome."""
        return plain(
            {
                "status": self.status,
                "exit_code": self.exit_code,
                "reason": self.reason or "",
                "problems": self.problems,
                "summary": self.summary,
                "checked": self.checked,
                "violations": self.violations,
                "warnings": self.warnings,
                "reminders": self.reminders,
                "resolved": self.resolved,
            }
        )


def lock_path(files: list[Path]) -> Path:
    """A lock file named for the exact set of sources, so two alarms on them never overlap.

    It lives in the user's private cache folder: a name in a shared /tmp could be taken
    by another user first, and the alarm would never run again.
    """
    from ..paths import user_dir

    key = "\n".join(sorted(str(Path(f).resolve()) for f in files))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder = user_dir("locks")
    if folder is None:
        raise ForensicsError(
            "no private folder for the alarm's lock: set XDG_CACHE_HOME to a folder only this user can write"
        )
    return folder / f"alarm-{digest}.lock"


def evaluate(opts: AlarmOptions) -> AlarmOutcome:
    """Evaluate every alarm query; any failure to evaluate is status 'error', exit 3."""
    from filelock import FileLock, Timeout

    from ..read.sources import resolve, resolve_store

    outcome = AlarmOutcome()
    try:
        # Logs named by flags are evaluated as named: a store from $FORENSICS_STORE or
        # forensics.toml applies only when none is (--store itself always does).
        folder = (
            resolve_store(opts.store, config=opts.config)
            if opts.store or not (opts.sessions or opts.replay_runs)
            else None
        )
        if opts.engine != "spark" and (opts.spark_master or opts.spark_remote):
            raise ParameterError("--spark-master and --spark-remote go with --engine spark")
        if opts.engine == "spark" and folder is None:
            raise ParameterError("--engine spark reads a store: --store DIR_OR_URL (or $FORENSICS_STORE)")
        if folder is None:
            src = resolve(opts.sessions, opts.replay_runs, config=opts.config, queries_dirs=opts.queries_dirs)
        else:
            src = resolve(config=opts.config, queries_dirs=opts.queries_dirs, streams=False)
        if not 0 <= opts.lock_wait <= 86400:  # filelock waits forever on a negative wait (and NaN fails this)
            raise ParameterError(f"--lock-wait takes 0 to 86400 seconds, got {opts.lock_wait}")
        if opts.state is not None and folder is None and not src.files:
            raise ParameterError("--state needs logs to remember violations of")
        outcome.source_args = _source_args(opts, folder)
        lock = FileLock(str(opts.lock_file or lock_path(src.files if folder is None else [Path(folder)])))
        try:
            lock.acquire(timeout=opts.lock_wait)
        except Timeout:
            raise ForensicsError(
                f"another forensics alarm is still running on the same logs (lock {lock.lock_file}); "
                f"gave up after {opts.lock_wait:g}s"
            ) from None
        try:
            if folder is None:
                memory = Memory.of_file(opts.state) if opts.state else None
                outcome.memory_args = f"--state {_quote(opts.state)}" if opts.state else None
                _evaluate(src, opts, outcome, memory=memory)
            else:
                _evaluate_store(folder, src, opts, outcome)
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


def _evaluate_store(root, src, opts: AlarmOptions, outcome: AlarmOutcome) -> None:
    """Ingest, then evaluate the window plus every row that arrived since the last alarm on this store."""
    from ..store.manifest import load

    remote = opts.engine == "spark" and "://" in str(root)
    if remote:
        # A store at a URL is ingested where its logs are; Spark reads it as it stands.
        if not opts.state:
            raise ParameterError("--engine spark on a store at a URL keeps the alarm's memory in --state FILE")
        if opts.sessions or opts.replay_runs:
            raise ParameterError("a store at a URL is ingested where its logs are: drop -s/-r")
        before = None
        report_batch = None
    else:
        from ..store.ingest import ingest

        root = Path(root)
        before = load(root)
        report = ingest(root, opts.sessions, opts.replay_runs, config=opts.config)
        outcome.stderr_lines.extend(escape(w) for w in report.warnings)
        report_batch = report.batch
    memory = Memory.of_file(opts.state) if opts.state else Memory.of_store(root)
    outcome.memory_args = f"--state {_quote(opts.state)}" if opts.state else f"--store {_quote(root)}"
    remembered = memory.load()
    if opts.engine == "spark":
        store = _spark_store(root, src, opts)
        now_made = store.manifest.created_at
        before = before or store.manifest
        report_batch = report_batch if report_batch is not None else store.manifest.batch
    else:
        from ..store.connection import Store
        from ..store.lake import open_lake

        now_made = (load(root) or before).created_at
        lake = open_lake(root)
        store = lambda: Store(src, lake=lake)  # noqa: E731
    after = remembered["batch"]
    if not isinstance(after, int) or isinstance(after, bool):
        # The first alarm on a store: what this run ingested is what is new.
        after = before.batch if before is not None else 0
    elif remembered["store"] not in (None, now_made) or before is None or after > before.batch:
        # The memory's batch is of another store (this one was rebuilt, its batches counted
        # afresh): which rows are new is unknown, so every row is evaluated.
        after = 0
    _evaluate(src, opts, outcome, store=store, after_batch=after, memory=memory, batch=(report_batch, now_made))


def _spark_store(root, src, opts: AlarmOptions):
    """A store factory: the same store read by Spark."""
    from ..spark.engine import SparkStore

    return _Once(
        SparkStore(str(root), load_catalog(src.queries_dirs), master=opts.spark_master, remote=opts.spark_remote)
    )


class _Once:
    """A store already opened, handed to `_evaluate` as its factory (it asks for one, once)."""

    def __init__(self, store):
        self.store = store
        self.manifest = store.manifest

    def __call__(self):
        return self.store


def _evaluate(
    src,
    opts: AlarmOptions,
    outcome: AlarmOutcome,
    *,
    store=None,
    after_batch: int | None = None,
    memory: Memory | None = None,
    batch: tuple[int, str | None] | None = None,
) -> None:
    from ..store.connection import Store

    now = opts.now or datetime.now(UTC)
    since = parse_time(opts.since, now=now) if opts.since else None
    max_age = parse_age(opts.max_age) if opts.max_age else None
    repeat = parse_age(opts.repeat)
    if repeat.total_seconds() < 0:
        raise ParameterError(f"--repeat takes an age such as 24h or 30m, got {opts.repeat!r}")
    with store() if store is not None else Store(src) as store:
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
            outcome.checked["unreadable_lines_new"] = _new_unreadable(store, after_batch)
        found = []
        for q, records in results:
            for rec in records:
                item = {"alarm": q.name, "severity": q.severity}
                item.update({k: rec.get(k) for k in ROW_KEYS})
                item["row"] = {k: v for k, v in rec.items() if k not in ROW_KEYS}
                found.append(item)
        problems = _problems(
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

        def gone(unseen: dict[str, dict]) -> set[str]:
            # Resolved means the row is gone; an evaluation that was not whole (a window, a
            # problem) cannot say so, so there only an absent session id resolves.
            if since is None and not problems:
                return set(unseen)
            if problems:
                return set()
            present = store.sessions_present(i.get("session_id") for i in unseen.values())
            return {
                k
                for k, i in unseen.items()
                if i.get("alarm") not in alarms or i.get("session_id") is None or i.get("session_id") not in present
            }

        remembered = _remember(
            memory,
            found,
            now=now,
            repeat=repeat,
            gone=gone,
            batch=batch,
            outcome=outcome,
            remind={"critical", "warn"} if opts.fail_on == "warn" else {"critical"},
        )
        for item in remembered.items:
            # With --state, the incident reads that memory too (the store's is found on its own).
            item["incident"] = (
                " ".join(
                    filter(
                        None,
                        (
                            f"forensics incident {_quote(item.get('session_id'))}",
                            outcome.source_args,
                            f"--state {_quote(opts.state)}" if opts.state else "",
                        ),
                    )
                )
                if item.get("session_id") is not None
                else None
            )
            (outcome.violations if item["severity"] == "critical" else outcome.warnings).append(item)
        outcome.reminders, outcome.resolved = remembered.reminders, remembered.resolved
        if opts.store_failures:
            reminded = {r["alarm"] for r in remembered.reminders}
            notified = [
                dict(i, found_at=now)
                for i in remembered.items
                if i.get("in_window", True) and (i["state"] == "new" or i["alarm"] in reminded)
            ]
            try:
                if notified:
                    store.write_rows(notified, Path(opts.store_failures))
            except (OSError, ForensicsError) as exc:
                # The memory already holds these rows as notified: a failures file that cannot
                # be written must not take the mail (and the rows) down with it.
                problems.append(
                    f"cannot append to --store-failures {escape(str(opts.store_failures))}: "
                    f"{escape(getattr(exc, 'strerror', None) or str(exc))}"
                )

    if untimed or future:
        where = ", ".join(f"{p}:{ln}" for p, ln, _ in odd_times)
        outcome.stderr_lines.append(
            f"warning: {untimed} row(s) without a valid RFC 3339 timestamp and {future} stamped more "
            f"than {int(FUTURE_SLACK.total_seconds() // 60)} minutes ahead: evaluated in every window, "
            f"never counted as fresh (e.g. {escape(where)})"
        )
    outcome.problems.extend(problems)
    # An acknowledged row, or a warning (unless --fail-on warn), leaves the exit code alone;
    # a firing one keeps it at 1, so a monitor fed the exit code stays red until it is acknowledged.
    failing = [
        v
        for v in outcome.violations + (outcome.warnings if opts.fail_on == "warn" else [])
        if v["state"] in ("new", "firing")
    ]
    if failing:
        outcome.status, outcome.exit_code = "violations", EXIT_VIOLATION
        if outcome.problems:
            outcome.reason = "; ".join(outcome.problems)
    elif outcome.problems:
        outcome.status, outcome.exit_code = "error", EXIT_CANNOT_EVALUATE
        outcome.reason = "; ".join(outcome.problems)


def _problems(
    scan,
    opts: AlarmOptions,
    outcome: AlarmOutcome,
    *,
    valid: int,
    rows: int,
    newest,
    now: datetime,
    since,
    max_age,
    after_batch,
) -> list[str]:
    """What makes the evaluation untrustworthy (violations found despite it are still reported)."""
    out = []
    window = f" since {iso_utc(since)}" if since else ""
    if valid == 0:
        what = "zero readable session rows" if rows == 0 else f"no session row with a valid timestamp (of {rows} read)"
        out.append(f"{what}{window}: nothing was evaluated" if rows == 0 else f"{what}{window}")
    for f in scan.unreadable_files:
        out.append(f"{escape(f.path)}: {escape(f.error)}")
    unreadable = outcome.checked.get("unreadable_lines_new", outcome.checked["unreadable_lines"])
    if unreadable > opts.max_unreadable:
        new = " new" if after_batch is not None else ""
        out.append(f"{unreadable}{new} unreadable line(s), more than --max-unreadable {opts.max_unreadable}")
    if max_age is not None and newest is not None and newest < now - max_age:
        out.append(f"the newest row ({iso_utc(newest)}) is older than --max-age {opts.max_age}")
    return out


def _remember(memory: Memory | None, found: list[dict], *, now: datetime, repeat, gone, batch, outcome, remind):
    """Reconcile this run's rows with the memory and write it back; without one, every row is new."""
    if memory is None:
        return reconcile({"incidents": {}}, found, now=now, repeat=repeat, remind=remind)
    result = None
    try:
        with memory.lock():
            state = memory.load()
            result = reconcile(state, found, now=now, repeat=repeat, gone=gone, remind=remind)
            if batch is not None:  # (the store's last batch, when the store was made)
                state["batch"], state["store"] = batch
            state["at"] = iso_utc(now)
            memory.save(state)
            memory.log(result.events)
    except OSError as exc:
        # The verdict stands; the next run looks again at what this one saw (and says it anew).
        outcome.stderr_lines.append(
            f"warning: cannot record this alarm in {escape(str(memory.state_path))} "
            f"({escape(exc.strerror or str(exc))}): the next run notifies its rows again"
        )
        if result is None:
            result = reconcile({"incidents": {}}, found, now=now, repeat=repeat, remind=remind)
    return result


def _quote(value) -> str:
    """A value for a shell command line the alarm prints, which the shell gives back as it is."""
    import shlex

    text = str(value)
    if escape(text) == text:
        return shlex.quote(text)
    # A control or reordering character (it may come from a log) must not reach the terminal,
    # yet escaped inside '...' the command would name another session: bash's $'...' spells
    # each one by its UTF-8 bytes, which the shell turns back into the character in any locale.
    spelled = "".join(
        "\\" + c
        if c in "\\'"
        else c
        if escape(c) == c
        else escape(c)
        if ord(c) < 0x80
        else "".join(f"\\x{b:02x}" for b in c.encode("utf-8", "surrogatepass"))
        for c in text
    )
    return f"$'{spelled}'"


def _source_args(opts: AlarmOptions, folder) -> str:
    """The options that make another command read what this alarm read."""
    if folder is not None:
        parts = [f"--store {_quote(folder)}"]
    else:
        parts = [f"-s {_quote(p)}" for p in opts.sessions or []] + [f"-r {_quote(p)}" for p in opts.replay_runs or []]
    if opts.config:
        parts.append(f"--config {_quote(opts.config)}")
    # Without them a user's alarm is unknown to `run` and missing from the incident's alarms.
    parts += [f"--queries-dir {_quote(q)}" for q in opts.queries_dirs]
    return " ".join(parts)


def _new_unreadable(store, after_batch: int) -> int:
    """Unreadable lines stored by ingests after `after_batch`, and in the tails not ingested yet."""
    from ..store.lake import tail_report

    if store.lake is None:  # Spark: the store's own files, no tails
        return store.new_unreadable(after_batch)
    lake = store.lake
    stored = 0
    if lake.stored.unreadable:
        stored = store.con.execute(
            "select count(*) from read_parquet(?::varchar[]) where batch > ?", [lake.stored.unreadable, after_batch]
        ).fetchone()[0]
    return stored + tail_report(store.reader.checked, lake).unreadable_lines


def _gather(store, since: datetime | None, now: datetime, *, lines: bool, after_batch: int | None = None):
    """One load of the window, then the totals, the odd timestamps and every alarm query's rows."""
    store.materialize(
        since=since,
        columns=columns_named(q.sql for q in store.catalog.alarms()),
        window_only=True,
        lines=lines,
        after_batch=after_batch,
    )
    future = {"future": now + FUTURE_SLACK}
    totals = store.execute(
        """select
            count(*),
            count(*) filter (where "timestamp" <= $future),
            min("timestamp") filter (where "timestamp" <= $future),
            max("timestamp") filter (where "timestamp" <= $future),
            count(*) filter (where "timestamp" is null),
            count(*) filter (where "timestamp" > $future)
        from sessions""",
        future,
    ).rows[0]
    odd_times = store.execute(
        """select source_file, line, timestamp_raw
        from sessions
        where "timestamp" is null or "timestamp" > $future
        order by source_file, line
        limit 5""",
        future,
    ).rows
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
