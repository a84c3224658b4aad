"""The store's manifest: its sources, checkpoints and live files, replaced atomically as an ingest's last step.

Readers read the manifest once and then only the Parquet files it lists, which are never
changed in place: they never wait for an ingest and always see one committed state.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ForensicsError
from ..output import counted
from .checkpoints import Checkpoint

FORMAT = 1
NAME = "manifest.json"
STREAMS = ("sessions", "replay_runs")  # the streams a store holds rows of
STREAM_DIRS = ("sessions", "replay_runs", "unreadable")
# How many recent ingests the manifest remembers (for doctor and the alarm).
KEEP_BATCHES = 500
# The names of the store's own Parquet files (an ingest's `b`, a compaction's `c`): every path
# the manifest lists must be one, so a manifest others could edit never names a file elsewhere
# for the store to read or delete (`../`, an absolute path, a link's name).
OWN_FILE = re.compile(r"(sessions|replay_runs)/day=[^/\x00]+/[bc]\d{9}-\d+\.parquet|unreadable/b\d{9}\.parquet")


class StoreError(ForensicsError):
    """The store folder is not a store, or is one this version cannot read."""


@dataclass
class Retention:
    """How long the store keeps rows, and what the alarms reading it have evaluated (retention.py)."""

    days: int | None = None  # days of rows kept (`ingest --retain`)
    # alarm memory (its state file's path) -> {batch, at}: the batch it has evaluated through
    evaluated: dict = field(default_factory=dict)
    unevaluated: bool = False  # retention need not wait for an alarm (`--retain-unevaluated`)


@dataclass
class Manifest:
    """One committed state of a store."""

    batch: int = 0  # the last committed ingest
    sources: dict = field(default_factory=dict)  # stream -> specs, as given to ingest
    files: list = field(default_factory=list)  # {path, stream, day, rows, batch, bytes}
    checkpoints: list[Checkpoint] = field(default_factory=list)
    retired: list = field(default_factory=list)  # {path, at}: replaced by a compaction
    batches: list = field(default_factory=list)  # {batch, at, rows, unreadable, bytes}
    pending: list = field(default_factory=list)  # {path, stream, reason, since}: to retry
    created_at: str | None = None
    retention: Retention = field(default_factory=Retention)
    # one-file source -> [[fp, fp_len]] of the siblings that lay beside it when the store began
    # following it (named.py's history); None: a store made before it was kept
    declined: dict | None = None

    def next_id(self) -> int:
        """The next free checkpoint id."""
        return max((c.id for c in self.checkpoints), default=0) + 1

    def history(self, fresh=frozenset()):
        """Which rotation siblings are history (named.py), ``fresh`` the sources followed from now on."""
        from .named import History

        legacy = self.created_ns() if self.declined is None else None
        return History(declined=self.declined, fresh=frozenset(fresh), legacy_after_ns=legacy)

    def created_ns(self) -> int | None:
        """When the store was made, in nanoseconds since the epoch (a file's mtime's unit)."""
        if not self.created_at:
            return None
        made = datetime.strptime(self.created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return int(made.timestamp()) * 10**9

    def files_of(self, stream: str) -> list[dict]:
        """The live Parquet files of one stream (or of `unreadable`)."""
        return [f for f in self.files if f["stream"] == stream]

    def as_dict(self) -> dict:
        """The JSON document written to manifest.json."""
        return {
            "format": FORMAT,
            "batch": self.batch,
            "created_at": self.created_at,
            "sources": self.sources,
            "files": self.files,
            "checkpoints": [c.as_dict() for c in self.checkpoints],
            "retired": self.retired,
            "batches": self.batches[-KEEP_BATCHES:],
            "pending": self.pending,
            "retain_days": self.retention.days,
            "evaluated": self.retention.evaluated,
            "retain_unevaluated": self.retention.unevaluated,
            "declined": self.declined,
        }


def now_iso() -> str:
    """Now, UTC, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load(root: Path) -> Manifest | None:
    """The committed manifest of a store folder, or None if nothing was ever committed."""
    path = Path(root) / NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise StoreError(f"store {root}: {NAME} is not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise StoreError(f"store {root}: cannot read {NAME}: {exc.strerror}") from exc
    return parse(text, root)


def parse(text: str, root) -> Manifest:
    """A manifest from its JSON text (read from a folder, or through Spark from a URL)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StoreError(f"store {root}: {NAME} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StoreError(
            f"store {root}: {NAME} has format {data.get('format') if isinstance(data, dict) else '?'}"
            f", this forensics reads format {FORMAT}"
        )
    try:
        manifest = Manifest(
            batch=int(data["batch"]),
            sources=dict(data.get("sources", {})),
            files=list(data.get("files", [])),
            checkpoints=[Checkpoint.from_dict(c) for c in data.get("checkpoints", [])],
            retired=list(data.get("retired", [])),
            batches=list(data.get("batches", [])),
            pending=list(data.get("pending", [])),
            created_at=data.get("created_at"),
            retention=Retention(
                days=data.get("retain_days"),
                evaluated=dict(data.get("evaluated") or {}),
                unevaluated=data.get("retain_unevaluated") is True,
            ),
            declined=data.get("declined"),
        )
        days = manifest.retention.days
        if days is not None and not (isinstance(days, int) and not isinstance(days, bool) and days >= 1):
            raise ValueError(f"retain_days {days!r}")
        if manifest.declined is not None and not isinstance(manifest.declined, dict):
            raise ValueError(f"declined {manifest.declined!r}")
        for f in manifest.files:
            if not _own(f["path"]) or f["stream"] not in STREAM_DIRS:
                raise ValueError(f"a file entry {f!r}")
        for r in manifest.retired:
            if not _own(r["path"]):
                raise ValueError(f"a retired file entry {r!r}")
        for c in manifest.checkpoints:
            if not (isinstance(c.id, int) and isinstance(c.path, str) and isinstance(c.identity.fp, str)):
                raise ValueError(f"checkpoint {c.id!r}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StoreError(
            f"store {root}: {NAME} is damaged ({type(exc).__name__}: {exc}); "
            "restore it from a backup, or ingest into a new store"
        ) from exc
    return manifest


def _own(path) -> bool:
    """A path inside the store, of one of its own files."""
    return isinstance(path, str) and OWN_FILE.fullmatch(path) is not None and ".." not in path.split("/")


def damaged(root: Path, manifest: Manifest) -> list[str]:
    """Files the manifest lists that are missing or not the size it recorded."""
    out = []
    for f in manifest.files:
        try:
            size = (Path(root) / f["path"]).stat().st_size
        except OSError:
            out.append(f"{f['path']} is missing")
            continue
        if f.get("bytes") is not None and size != f["bytes"]:
            out.append(f"{f['path']} has {counted(size, 'byte')}, the manifest says {f['bytes']:,}")
    return out


def check_whole(root: Path, manifest: Manifest) -> None:
    """Raise StoreError naming what is missing or changed among the store's own files."""
    bad = damaged(root, manifest)
    if bad:
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        raise StoreError(
            f"store {root} is damaged: {'; '.join(bad[:3])}{more}. Its rows there are "
            "lost to it: restore the files from a backup, or ingest into a new store"
        )


def commit(root: Path, manifest: Manifest) -> None:
    """Write the manifest beside the old one and rename it over it: the ingest's commit."""
    root = Path(root)
    from ..paths import file_mode

    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".json", dir=root)
    try:
        # One policy for every file of the store: the user's file mode, as the Parquet files get
        # (mkstemp's 0600 kept the team's analysts out of a store cron keeps).
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(manifest.as_dict(), fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, root / NAME)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the folder's entry is.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_store(root: Path) -> bool:
    """A folder that holds a committed manifest."""
    return (Path(root) / NAME).is_file()
