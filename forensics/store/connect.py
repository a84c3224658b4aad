"""`connect`: the logs, or a store folder and its sources' tails, opened as a `Store`.

Above both the Store and the ingest, so that `connect(..., ingest=True)` can run one before opening
the other without the two importing each other.
"""

from __future__ import annotations

from pathlib import Path

from .connection import Store


def connect(
    sessions: str | list[str] | None = None,
    replay_runs: str | list[str] | None = None,
    *,
    config: str | None = None,
    queries_dirs: list[str] | None = None,
    store: str | Path | None = None,
    ingest: bool = False,
) -> Store:
    """Open the logs (flags, then FORENSICS_* variables, then forensics.toml) as a Store.

    With ``store`` (a folder `forensics ingest` writes), the views are the store plus the
    live tail of each of its sources; ``ingest`` appends the new lines to it first.
    """
    from ..read.sources import resolve

    if store is None:
        src = resolve(sessions, replay_runs, config=config, queries_dirs=queries_dirs)
        return Store(src)
    return open_store(store, sessions, replay_runs, config=config, queries_dirs=queries_dirs, ingest=ingest)


def open_store(
    store, sessions=None, replay_runs=None, *, config=None, queries_dirs=None, ingest: bool = False
) -> Store:
    """A Store over a store folder and its sources' tails (sources given here override its own)."""
    from ..read.sources import as_list, resolve
    from .lake import open_lake

    if ingest:
        from .ingest import ingest as run_ingest

        run_ingest(store, sessions, replay_runs, config=config, reading=True)
    src = resolve(config=config, queries_dirs=queries_dirs, streams=False)
    specs = None
    if sessions or replay_runs:
        specs = {"sessions": as_list(sessions), "replay_runs": as_list(replay_runs)}
    return Store(src, lake=open_lake(Path(store).expanduser(), specs))
