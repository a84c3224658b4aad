"""forensics: answer forensic questions about LLM iterate sessions with DuckDB."""

__version__ = "0.1.0"

# The public API: what a notebook or a script may import. The modules named here are public
# with their own __all__ (`from forensics.ingest import ingest`, `from forensics.sample import
# generate`, `from forensics.palette import styles`).
__all__ = [
    "ReplayLogger",
    "SessionLogger",
    "build_session_record",
    "compare",
    "connect",
    "id_paths",
    "ingest",
    "new_session_id",
    "palette",
    "sample",
]

_WRITER_NAMES = {"ReplayLogger", "SessionLogger", "build_session_record", "new_session_id"}
_MODULES = {"ingest", "palette", "sample"}


def __getattr__(name: str):
    # Imported on first use, so the command line does not load the writer to run a query.
    if name in _WRITER_NAMES:
        from .write import loggers

        return getattr(loggers, name)
    if name in _MODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name == "compare":
        from .report.compare import compare

        return compare
    if name == "id_paths":
        from .read.artifacts import id_paths

        return id_paths
    raise AttributeError(f"module 'forensics' has no attribute {name!r}")


def connect(sessions=None, replay_runs=None, *, config=None, queries_dirs=None, store=None, ingest=False):
    """Open the logs (or a store folder and its sources' tails) as a Store with `sessions`,
    `attempts` and `replay_runs` views (see forensics.store)."""
    from .store.connect import connect as _connect

    return _connect(sessions, replay_runs, config=config, queries_dirs=queries_dirs, store=store, ingest=ingest)
