"""A run that could not evaluate at all: its reason remembered as a problem, said once, then reminded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..errors import ForensicsError
from ..timewindow import parse_age
from .memory import Memory
from .options import AlarmOptions
from .outcome import AlarmOutcome, Recalled
from .states import Reconciled, remember


def remember_failure(opts: AlarmOptions, outcome: AlarmOutcome, pending: list, *, wait: float) -> None:
    """A run that could not evaluate at all: its reason is a problem the memory says once, then reminds."""
    from ..read.sources import resolve_store

    problem = [(f"error:{outcome.reason}", outcome.reason or "")]
    memory = None
    try:
        if opts.recall.state:
            memory = Memory.of_file(opts.recall.state)
        elif opts.sources.store or not (opts.sources.sessions or opts.sources.replay_runs):
            folder = resolve_store(opts.sources.store, config=opts.sources.config)
            memory = Memory.of_store(folder) if folder and "://" not in folder else None
    except Exception:  # (whatever stopped the run may stop this too: the failure is then said every run)
        memory = None
    # A memory only where one was kept: a mistyped --store or --state must not be created.
    if memory is None or not memory.state_path.parent.is_dir() or memory.is_new():
        memory = None
    if memory is not None:  # (its receivers' ledger is beside it)
        outcome.paging.memory_path = str(memory.state_path)
    now = opts.checks.now or datetime.now(UTC)

    def said_in(memory: Memory | None, repeat: timedelta, wait: float = 0) -> Reconciled:
        return remember(
            memory,
            [],
            now=now,
            repeat=repeat,
            gone=None,
            batch=None,
            outcome=outcome,
            remind=set(),
            problems=problem,
            whole=False,
            wait=wait,
        )

    try:
        said = said_in(memory, parse_age(opts.recall.repeat), wait)
    except ForensicsError:  # the memory itself is what failed (damaged, unreadable, busy): say it every run
        said = said_in(None, timedelta(hours=24))
    pending.append(said.commit)
    outcome.recalled = Recalled(problems=said.problems, recovered=said.recovered)
