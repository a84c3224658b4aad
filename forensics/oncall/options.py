"""What `forensics alarm` takes, as plain values in four groups: what to read, what makes the
evaluation trusted, what the alarm remembers and says, and its lock."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime

PathLike = str | os.PathLike


@dataclass
class AlarmSources:
    """The logs or the store to evaluate, and the engine that reads them."""

    sessions: list[str] | None = None
    replay_runs: list[str] | None = None
    config: PathLike | None = None
    queries_dirs: list[str] = field(default_factory=list)
    store: PathLike | None = None
    engine: str = "duckdb"  # or "spark": the store read by Apache Spark
    spark_master: str | None = None
    spark_remote: str | None = None


@dataclass
class AlarmChecks:
    """What an evaluation must meet to be trusted: the window, the freshness, the unreadable lines."""

    since: str | None = None
    max_age: str | None = None
    max_unreadable: int = 0
    now: datetime | None = None


@dataclass
class AlarmRecall:
    """What the alarm remembers and what counts against the exit code."""

    state: PathLike | None = None  # the memory where there is no store
    repeat: str = "24h"  # how long a firing alarm stays quiet before its reminder
    fail_on: str = "critical"
    store_failures: PathLike | None = None


@dataclass
class AlarmLock:
    """One alarm at a time on the same sources."""

    wait: float = 10.0
    file: PathLike | None = None  # the self-test's own, in its temporary folder


class AlarmOptions:
    """Everything `forensics alarm` takes; built from the same keywords as its command-line options."""

    def __init__(
        self,
        *,
        sessions: list[str] | None = None,
        replay_runs: list[str] | None = None,
        config: PathLike | None = None,
        queries_dirs: list[str] | None = None,
        store: PathLike | None = None,
        engine: str = "duckdb",
        spark_master: str | None = None,
        spark_remote: str | None = None,
        since: str | None = None,
        max_age: str | None = None,
        max_unreadable: int = 0,
        now: datetime | None = None,
        state: PathLike | None = None,
        repeat: str = "24h",
        fail_on: str = "critical",
        store_failures: PathLike | None = None,
        lock_wait: float = 10.0,
        lock_file: PathLike | None = None,
    ):
        self.sources = AlarmSources(
            sessions, replay_runs, config, list(queries_dirs or []), store, engine, spark_master, spark_remote
        )
        self.checks = AlarmChecks(since, max_age, max_unreadable, now)
        self.recall = AlarmRecall(state, repeat, fail_on, store_failures)
        self.lock = AlarmLock(lock_wait, lock_file)
