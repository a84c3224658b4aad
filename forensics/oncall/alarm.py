"""`forensics alarm`: run every alarm query for cron; never report clean after reading nothing."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..catalog import load_catalog
from ..errors import ForensicsError, ParameterError, UsageError
from ..output import escape
from .commands import quote, source_args
from .failure import remember_failure
from .memory import Memory, behind
from .options import AlarmOptions
from .outcome import EXIT_CANNOT_EVALUATE, EXIT_USAGE, AlarmOutcome
from .states import MemoryBusy
from .verdict import judge, notice


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


def evaluate(
    opts: AlarmOptions,
    say: Callable[[AlarmOutcome], None] | None = None,
    *,
    record: bool | Callable[[], bool] = True,
) -> AlarmOutcome:
    """Evaluate every alarm query; any failure to evaluate is status 'error', exit 3.

    ``say`` prints the outcome (the command line's mail): it runs before the memory is saved,
    so that what the memory records as said has been said; a kill in between repeats a
    notification on the next run, never loses one. Without ``record`` (a dry run; or a callable
    that says so once ``say`` ran) the memory is left as it was: the next run says the same again.
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
    said = record() if callable(record) else record
    for commit in pending:
        commit(said=said)
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
                outcome.paging.memory_path = str(memory.state_path) if memory is not None else None
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
                        # (a notice: a log that cannot be read whole stays new, and is not said every run)
                        notice(
                            outcome,
                            f"note: {escape(', '.join(added))} new to the alarm's memory "
                            f"{escape(str(memory.state_path))}: this run evaluates every row the logs hold, "
                            "not only the window; later runs evaluate the window",
                        )
                judge(src, opts, outcome, pending, memory=memory, afresh=afresh, logs=logs)
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
        notice(outcome, *(escape(w) for w in report.warnings))
        report_batch = report.batch
    memory = Memory.of_file(opts.recall.state) if opts.recall.state else Memory.of_store(root)
    outcome.paging.memory_args = (
        f"--state {quote(opts.recall.state)}" if opts.recall.state else f"--store {quote(root)}"
    )
    outcome.paging.memory_path = str(memory.state_path)
    remembered = memory.load()
    if opts.sources.engine == "spark":
        from ..spark.engine import freshness_line

        store = _spark_store(root, src, opts)
        catalog = None
        # (after the ingest above: on a store on this machine, what a line written since adds)
        outcome.freshness = store.store.freshness()
        outcome.paging.freshness = freshness_line(outcome.freshness)
        now_made = store.manifest.created_at
        before = before or store.manifest
        report_batch = report_batch if report_batch is not None else store.manifest.batch
    else:
        from ..store.connection import Store
        from ..store.lake import open_lake

        now_made = (load(root) or before).created_at
        lake = open_lake(root)
        catalog = load_catalog(src.queries_dirs)  # (once: its alarms' names below, and the store's)
        store = lambda: Store(src, catalog, lake=lake)  # noqa: E731
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
    names = {q.name for q in (catalog if catalog is not None else load_catalog(src.queries_dirs)).alarms()}
    ran, unrun = behind(remembered, names, now=opts.checks.now or datetime.now(UTC)) if after else ([], [])
    # An alarm query a run without it (by hand, without cron's --queries-dir) left behind evaluates
    # from its own batch; rows a query run lately has not evaluated are held from retention.
    after = min([after, *ran])
    saved = None
    if not remote and report_batch is not None:
        from ..store.retention import mark_evaluated

        # Once the memory holds this run, the store's retention may drop the rows it evaluated.
        key, through = os.path.abspath(memory.state_path), min([report_batch, *unrun])
        saved = lambda: mark_evaluated(root, key, through, now_made)  # noqa: E731
    judge(
        src,
        opts,
        outcome,
        pending,
        store=store,
        after_batch=after,
        memory=memory,
        batch=(report_batch, now_made, names),
        saved=saved,
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
    """A store already opened, handed to `judge` as its factory (it asks for one, once)."""

    def __init__(self, store):
        self.store = store
        self.manifest = store.manifest

    def __call__(self):
        return self.store
