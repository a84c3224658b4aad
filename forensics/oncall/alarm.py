"""`forensics alarm`: run every alarm query for cron; never report clean after reading nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..catalog import load_catalog
from ..errors import ColumnNotRead, ForensicsError, ParameterError, UsageError
from ..output import escape
from ..timewindow import parse_age, parse_time
from .commands import incident_command, quote, source_args
from .failure import remember_failure
from .mail import replaced_alarms
from .memory import Memory
from .options import AlarmOptions
from .outcome import EXIT_CANNOT_EVALUATE, EXIT_USAGE, EXIT_VIOLATION, AlarmOutcome, Recalled
from .states import MemoryBusy, remember
from .window import FUTURE_SLACK, gather, new_unreadable
from .window import problems as find_problems

# Columns every alarm row is reported with; an alarm query should select them.
ROW_KEYS = ("session_id", "timestamp", "model", "kind", "daemon", "source_file", "line")


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


def evaluate(opts: AlarmOptions, say: Callable[[AlarmOutcome], None] | None = None) -> AlarmOutcome:
    """Evaluate every alarm query; any failure to evaluate is status 'error', exit 3.

    ``say`` prints the outcome (the command line's mail): it runs before the memory is saved,
    so that what the memory records as said has been said; a kill in between repeats a
    notification on the next run, never loses one.
    """
    pending: list[Callable[..., None]] = []  # the memory's saves, held until the outcome is said
    outcome = AlarmOutcome()
    try:
        _run(opts, outcome, pending)
        if say is not None:
            say(outcome)
    except BaseException:
        for commit in pending:
            commit(said=False)
        raise
    for commit in pending:
        commit(said=True)
    return outcome


def _run(opts: AlarmOptions, outcome: AlarmOutcome, pending: list) -> None:
    """The evaluation itself, its verdict in ``outcome``; the memory's saves left in ``pending``."""
    from filelock import FileLock, Timeout

    from ..read.sources import live_name, resolve, resolve_store

    try:
        # Logs named by flags are evaluated as named: a store from $FORENSICS_STORE or
        # forensics.toml applies only when none is (--store itself always does).
        folder = (
            resolve_store(opts.sources.store, config=opts.sources.config)
            if opts.sources.store or not (opts.sources.sessions or opts.sources.replay_runs)
            else None
        )
        if opts.sources.engine != "spark" and (opts.sources.spark_master or opts.sources.spark_remote):
            raise ParameterError("--spark-master and --spark-remote go with --engine spark")
        if opts.sources.engine == "spark" and folder is None:
            raise ParameterError("--engine spark reads a store: --store DIR_OR_URL (or $FORENSICS_STORE)")
        if folder is None:
            src = resolve(
                opts.sources.sessions,
                opts.sources.replay_runs,
                config=opts.sources.config,
                queries_dirs=opts.sources.queries_dirs,
            )
        else:
            src = resolve(config=opts.sources.config, queries_dirs=opts.sources.queries_dirs, streams=False)
        if not 0 <= opts.lock.wait <= 86400:  # filelock waits forever on a negative wait (and NaN fails this)
            raise ParameterError(f"--lock-wait takes 0 to 86400 seconds, got {opts.lock.wait}")
        if opts.recall.state is not None and folder is None and not src.files:
            raise ParameterError("--state needs logs to remember violations of")
        outcome.paging.source_args = source_args(opts, folder, src)
        lock = FileLock(str(opts.lock.file or lock_path(src.files if folder is None else [Path(folder)])))
        try:
            lock.acquire(timeout=opts.lock.wait)
        except Timeout:
            raise ForensicsError(
                f"another forensics alarm is still running on the same logs (lock {lock.lock_file}); "
                f"gave up after {opts.lock.wait:g}s"
            ) from None
        try:
            if folder is None:
                memory = Memory.of_file(opts.recall.state) if opts.recall.state else None
                outcome.paging.memory_args = f"--state {quote(opts.recall.state)}" if opts.recall.state else None
                afresh = memory is not None and memory.is_new()
                if afresh and opts.checks.since:
                    outcome.paging.stderr_lines.append(_afresh_note(memory, "the logs hold"))
                logs = sorted({live_name(f) for f in src.files})
                if memory is not None and not afresh:
                    # A log added since (a daemon's, to the cron line) was never evaluated whole:
                    # its rows older than the window would never be.
                    known = memory.load()["logs"]
                    added = [f for f in logs if known is None or f not in known]
                    if added and opts.checks.since:
                        afresh = True
                        outcome.paging.stderr_lines.append(
                            f"note: {escape(', '.join(added))} new to the alarm's memory "
                            f"{escape(str(memory.state_path))}: this run evaluates every row the logs hold, "
                            "not only the window; later runs evaluate the window"
                        )
                _evaluate(src, opts, outcome, pending, memory=memory, afresh=afresh, logs=logs)
            else:
                _evaluate_store(folder, src, opts, outcome, pending)
        finally:
            lock.release()
    except Exception as exc:
        # A run that stopped has not said what it reconciled: its memory is left as it was.
        for commit in pending:
            commit(said=False)
        pending.clear()
        if isinstance(exc, UsageError):
            outcome.status, outcome.exit_code, outcome.reason = "error", EXIT_USAGE, str(exc)
        elif isinstance(exc, ForensicsError):
            outcome.status, outcome.exit_code, outcome.reason = "error", EXIT_CANNOT_EVALUATE, str(exc)
        else:  # an alarm that crashed has not evaluated anything
            outcome.status, outcome.exit_code = "error", EXIT_CANNOT_EVALUATE
            outcome.reason = f"unexpected {type(exc).__name__}: {exc}"
        busy = isinstance(exc, MemoryBusy)
    else:
        busy = False
    if outcome.exit_code == EXIT_CANNOT_EVALUATE and not outcome.problems:
        remember_failure(opts, outcome, pending, wait=0 if busy else opts.lock.wait)


def _evaluate_store(root, src, opts: AlarmOptions, outcome: AlarmOutcome, pending: list) -> None:
    """Ingest, then evaluate the window plus every row that arrived since the last alarm on this store."""
    from ..store.manifest import load

    remote = opts.sources.engine == "spark" and "://" in str(root)
    if remote:
        # A store at a URL is ingested where its logs are; Spark reads it as it stands.
        if not opts.recall.state:
            raise ParameterError("--engine spark on a store at a URL keeps the alarm's memory in --state FILE")
        if opts.sources.sessions or opts.sources.replay_runs:
            raise ParameterError("a store at a URL is ingested where its logs are: drop -s/-r")
        before = None
        report_batch = None
    else:
        from ..store.ingest import ingest

        root = Path(root)
        before = load(root)
        report = ingest(root, opts.sources.sessions, opts.sources.replay_runs, config=opts.sources.config, reading=True)
        outcome.paging.stderr_lines.extend(escape(w) for w in report.warnings)
        report_batch = report.batch
    memory = Memory.of_file(opts.recall.state) if opts.recall.state else Memory.of_store(root)
    outcome.paging.memory_args = (
        f"--state {quote(opts.recall.state)}" if opts.recall.state else f"--store {quote(root)}"
    )
    remembered = memory.load()
    if opts.sources.engine == "spark":
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
        # A memory new to this store (its first alarm, a damaged state moved aside, a new
        # --state): nothing it holds was evaluated yet, so every row is, not only the window.
        after = 0
        outcome.paging.stderr_lines.append(_afresh_note(memory, "the store holds"))
    elif remembered["store"] not in (None, now_made) or before is None or after > before.batch:
        # The memory's batch is of another store (this one was rebuilt, its batches counted
        # afresh): which rows are new is unknown, so every row is evaluated.
        after = 0
    _evaluate(
        src, opts, outcome, pending, store=store, after_batch=after, memory=memory, batch=(report_batch, now_made)
    )


def _afresh_note(memory: Memory, holds: str) -> str:
    """What a run with a new memory does, said on stderr."""
    return (
        f"note: the alarm's memory {escape(str(memory.state_path))} is new: this run evaluates every row "
        f"{holds}, not only the window; later runs evaluate the window and what arrived since"
    )


def _spark_store(root, src, opts: AlarmOptions):
    """A store factory: the same store read by Spark."""
    from ..spark.engine import SparkStore

    return _Once(
        SparkStore(
            str(root),
            load_catalog(src.queries_dirs),
            master=opts.sources.spark_master,
            remote=opts.sources.spark_remote,
        )
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
    pending: list,
    *,
    store=None,
    after_batch: int | None = None,
    memory: Memory | None = None,
    batch: tuple[int, str | None] | None = None,
    afresh: bool = False,
    logs: list[str] | None = None,
) -> None:
    from ..store.connection import Store

    now = opts.checks.now or datetime.now(UTC)
    since = parse_time(opts.checks.since, now=now) if opts.checks.since else None
    if afresh:
        since = None  # (the window is still parsed: a bad --since is a usage error on every run)
    max_age = parse_age(opts.checks.max_age) if opts.checks.max_age else None
    repeat = parse_age(opts.recall.repeat)
    if repeat.total_seconds() < 0:
        raise ParameterError(f"--repeat takes an age such as 24h or 30m, got {opts.recall.repeat!r}")
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
            found = gather(store, since, now, lines=False, after_batch=after_batch)
        except ColumnNotRead:
            found = gather(store, since, now, lines=True, after_batch=after_batch)
        (rows, valid, oldest, newest, untimed, future), odd_times, in_window, results = found
        outcome.paging.stderr_lines.extend(store.warnings())
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
            logs=None if problems else logs,  # (evaluated whole only when nothing stopped it)
            # A run that evaluated no row cannot tell that a problem is gone (a stale log's age is
            # no longer measured): it recovers nothing.
            whole=not any(key == "nothing" for key, _ in problems),
        )
        pending.append(remembered.commit)
        for item in remembered.items:
            # With --state, the incident reads that memory too (the store's is found on its own).
            item["incident"] = incident_command(item, outcome.paging.source_args, opts.recall.state)
            (outcome.violations if item["severity"] == "critical" else outcome.warnings).append(item)
        outcome.recalled = Recalled(
            remembered.reminders, remembered.resolved, remembered.problems, remembered.recovered, remembered.gone
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
                    store.write_rows(notified, Path(opts.recall.store_failures))
            except (OSError, ForensicsError) as exc:
                # The memory already holds these rows as notified: a failures file that cannot
                # be written must not take the mail (and the rows) down with it.
                text = (
                    f"cannot append to --store-failures {escape(str(opts.recall.store_failures))}: "
                    f"{escape(getattr(exc, 'strerror', None) or str(exc))}"
                )
                # (found after the memory was saved: said on every run while it lasts)
                problems.append(("store-failures", text))
                outcome.recalled.problems.append({"problem": "store-failures", "text": text, "state": "new"})

    if untimed or future:
        where = ", ".join(f"{p}:{ln}" for p, ln, _ in odd_times)
        outcome.paging.stderr_lines.append(
            f"warning: {untimed} row(s) without a valid RFC 3339 timestamp and {future} stamped more "
            f"than {int(FUTURE_SLACK.total_seconds() // 60)} minutes ahead: evaluated in every window, "
            f"never counted as fresh (e.g. {escape(where)})"
        )
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
