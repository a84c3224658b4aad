"""`forensics ingest`: append every complete line that is new since the last ingest to the store.

One ingest at a time (a lock inside the store). New Parquet files are written under names
no committed manifest lists, and the manifest is replaced as the last step: an ingest
killed at any point leaves the last committed state, and the next ingest removes what the
killed one wrote and reads the same bytes again.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ForensicsError, ParameterError
from .compaction import compact_store, delete_retired, expire_days, needs_compaction, sql_path
from .manifest import STREAM_DIRS, Manifest, StoreError, check_whole, commit, load, now_iso

STREAMS = ("sessions", "replay_runs")
LOCK_NAME = ".lock"
# What an ingest lets DuckDB hold (the process adds some 100 MiB of its own).
INGEST_MEMORY = "2GB"


@dataclass
class FileIngest:
    """What one ingest did with one file."""

    path: str
    stream: str
    action: str
    rows: int = 0
    unreadable: int = 0
    bytes: int = 0
    reason: str = ""

    def as_dict(self) -> dict:
        """A JSON-ready entry."""
        out = {
            "file": self.path,
            "stream": self.stream,
            "action": self.action,
            "rows": self.rows,
            "unreadable_lines": self.unreadable,
            "bytes": self.bytes,
        }
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class IngestReport:
    """What an ingest read and committed."""

    store: str
    batch: int
    files: list[FileIngest] = field(default_factory=list)
    rows: dict = field(default_factory=lambda: {s: 0 for s in STREAMS})
    unreadable: int = 0
    bytes: int = 0
    compacted: int = 0
    expired: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def retried(self) -> list[FileIngest]:
        """Files that could not be read now and are tried again next run."""
        return [f for f in self.files if f.action == "retry"]

    def as_dict(self) -> dict:
        """A JSON-ready summary."""
        return {
            "store": self.store,
            "batch": self.batch,
            "rows": self.rows,
            "unreadable_lines": self.unreadable,
            "bytes": self.bytes,
            "compacted_files": self.compacted,
            "expired_files": self.expired,
            "files": [f.as_dict() for f in self.files],
        }


def store_lock(root: Path, wait: float):
    """The store's own lock, held by one ingest at a time."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(root / LOCK_NAME))
    try:
        lock.acquire(timeout=wait)
    except Timeout:  # (a TimeoutError, so an OSError: caught first)
        raise ForensicsError(
            f"store {root}: another ingest holds {root / LOCK_NAME}; gave up after {wait:g}s"
        ) from None
    except OSError as exc:  # a read-only store, a full disk
        raise StoreError(f"store {root}: cannot take its lock {root / LOCK_NAME}: {exc.strerror or exc}") from exc
    return lock


def ingest(
    store: str | os.PathLike,
    sessions: list[str] | str | None = None,
    replay_runs: list[str] | str | None = None,
    *,
    config: str | os.PathLike | None = None,
    env: dict | None = None,
    compact: bool = False,
    lock_wait: float = 60.0,
    retain_days: int | None = None,
) -> IngestReport:
    """Append every new complete line of the store's sources to it; returns what was read.

    ``retain_days`` (kept in the manifest, so every later ingest applies it; 0 keeps every
    day again) drops the UTC days older than that many days.
    """
    root = Path(store).expanduser()
    if root.exists() and not root.is_dir():
        raise ParameterError(f"--store {root}: not a folder")
    if not 0 <= lock_wait <= 86400:
        raise ParameterError(f"lock wait takes 0 to 86400 seconds, got {lock_wait}")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"store {root}: cannot create it: {exc.strerror}") from exc
    lock = store_lock(root, lock_wait)
    try:
        manifest = load(root)
        if manifest is None:
            if not all(_ours(root, p) for p in root.rglob("*")):
                raise StoreError(
                    f"store {root}: the folder holds other files and no manifest.json; give an empty or new folder"
                )
            manifest = Manifest(created_at=now_iso())
        check_whole(root, manifest)
        _clean(root, manifest)
        retain_changed = retain_days is not None and (retain_days or None) != manifest.retain_days
        if retain_days is not None:
            if retain_days < 0:
                raise ParameterError(f"--retain takes a number of days, got {retain_days}")
            manifest.retain_days = retain_days or None
        before = {s: list(manifest.sources.get(s, [])) for s in STREAMS}
        manifest.sources = _sources(manifest, sessions, replay_runs, config, env)
        try:
            report = _ingest(root, manifest)
        except OSError as exc:  # a full disk, a folder gone: the last committed state stands
            raise StoreError(
                f"store {root}: the ingest stopped ({exc.strerror or exc}); nothing was "
                "committed, and the next ingest reads the same bytes again"
            ) from exc
        if retain_changed:
            commit(root, manifest)
        for stream in STREAMS:
            for spec in before[stream]:
                if spec not in manifest.sources.get(stream, []):
                    # Sources given replace the store's own: say what it stops following.
                    report.warnings.append(
                        f"warning: the store no longer follows {spec} ({stream}); its sources are now "
                        f"{', '.join(manifest.sources.get(stream, [])) or 'none'} (give every source to keep them all)"
                    )
        if compact or needs_compaction(manifest):
            report.compacted = compact_store(root, manifest)
        report.expired = expire_days(root, manifest)
        delete_retired(root, manifest)
        return report
    finally:
        lock.release()


def _ours(root: Path, path: Path) -> bool:
    """A file a store's ingest writes (a first ingest killed before its commit leaves these)."""
    rel = path.relative_to(root).as_posix()
    if path.is_dir() or rel in (LOCK_NAME,) or rel.startswith(".tmp/") or rel == ".tmp":
        return True
    import re

    return bool(
        re.fullmatch(
            r"(sessions|replay_runs)/day=[^/]+/b\d{9}-\d+\.parquet|unreadable/b\d{9}\.parquet"
            r"|\.manifest-[^/]*\.json",
            rel,
        )
    )


def _sources(manifest: Manifest, sessions, replay_runs, config, env) -> dict:
    """The specs to read: as given, else the store's own, else $FORENSICS_* or forensics.toml."""
    from ..errors import SourceError
    from ..read.sources import as_list, resolve

    if sessions or replay_runs:
        # A stream not given keeps the sources the store remembers for it.
        specs = {
            "sessions": as_list(sessions) or manifest.sources.get("sessions", []),
            "replay_runs": as_list(replay_runs) or manifest.sources.get("replay_runs", []),
        }
    elif manifest.sources.get("sessions") or manifest.sources.get("replay_runs"):
        return manifest.sources
    else:
        try:
            src = resolve(None, None, config=config, env=env)
        except SourceError as exc:
            raise SourceError(f"{exc}; the store remembers its sources after the first ingest") from None
        specs = {
            "sessions": [str(p) for p in src.sessions or []],
            "replay_runs": [str(p) for p in src.replay_runs or []],
        }
    return {k: [os.path.abspath(os.path.expanduser(v)) for v in vs] for k, vs in specs.items()}


def _ingest(root: Path, manifest: Manifest) -> IngestReport:
    from .checkpoints import current_names
    from .lake import Lake
    from .tails import plan_tails, private_folder, remove_folder, source_files

    batch = manifest.batch + 1
    report = IngestReport(store=str(root), batch=batch)
    files, missing = source_files(manifest.sources)
    if not files and not manifest.checkpoints:
        reasons = "; ".join(m.reason for m in missing) or "no files"
        raise ForensicsError(f"store {root}: its sources name no file now ({reasons})")
    copy: set[str] = set()
    tmp = None
    try:
        while True:
            tmp = private_folder(root)
            checkpoints = [type(c).from_dict(c.as_dict()) for c in manifest.checkpoints]
            tails, skipped, new = plan_tails(
                checkpoints,
                files,
                manifest.next_id(),
                tmp,
                consume=True,
                adopt_after_ns=manifest.created_ns(),
                copy=frozenset(copy),
            )
            # A file read in place must not grow while it is read: its rows past the planned
            # end would be stored, then read again. One that did is read again, from a copy
            # of exactly the planned bytes (each pass copies one more file at least: it ends).
            before = {t.read_path: (t.segment.stat.st_size, t.segment.stat.st_mtime_ns) for t in tails if t.direct}
            lake = Lake(
                root=root, tails=tails, checkpoints=checkpoints + new, file_paths=current_names(checkpoints + new)
            )
            if not tails:  # nothing new: the cron run's common case costs no DuckDB at all
                from ..read.scans import ScanReport

                written, scans = [], ScanReport([])
                break
            try:
                written, scans = _write_batch(root, lake, batch, tmp)
            except _ReadFailed as failed:
                # DuckDB read past the planned end of a file that grew meanwhile, into a line
                # still being written: the same case as a grown file, noticed sooner.
                grown = {p for p, s in before.items() if _stamp(p) != s}
                if not grown:
                    raise failed.__cause__ from None
                remove_folder(tmp)
                copy |= grown
                continue
            grown = {p for p, s in before.items() if _stamp(p) != s}
            if not grown:
                break
            _remove(root, written)
            remove_folder(tmp)
            copy |= grown
        _finish(manifest, report, checkpoints, new, tails, skipped + missing, scans, written, batch)
        commit(root, manifest)
    finally:
        if tmp is not None:
            remove_folder(tmp)
    return report


def _stamp(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _write_batch(root: Path, lake, batch: int, tmp: Path):
    """Read the tails (every line checked) and write them as this batch's Parquet files."""
    import duckdb

    written: list[dict] = []
    try:
        return _write_streams(root, lake, batch, tmp, written)
    except duckdb.Error as exc:
        _remove(root, written)  # this batch's files placed so far: never committed
        raise _ReadFailed() from exc


class _ReadFailed(Exception):
    """DuckDB refused what it read of a tail (the cause); the batch's placed files are removed."""


def _write_streams(root: Path, lake, batch: int, tmp: Path, written: list[dict]):
    """Each stream's tails to Parquet by day, placed in the store; `written` lists what was placed."""
    from ..read.sources import Sources
    from .connection import Store
    from .lake import tail_report

    with Store(Sources(), lake=lake) as st:
        scans = tail_report(st.reader.checked, lake)
        con = st.con
        con.execute("set preserve_insertion_order = false")
        # A partitioned write keeps every day's rows in memory until its file closes: without
        # a limit an ingest's memory grows with the log (bench/README.md). With one, DuckDB
        # flushes and spills instead, whatever the log's size.
        con.execute("set partitioned_write_flush_threshold = 32768")
        con.execute(f"set memory_limit = '{INGEST_MEMORY}'")
        for stream in STREAMS:
            view = "_sessions_files" if stream == "sessions" else "_replay_files"
            cols = [
                c
                for c, _ in con.execute(f"select column_name, column_type from (describe {view})").fetchall()
                if not c.startswith("_")
            ]
            select = ", ".join(f'"{c}"' for c in cols)
            stage = tmp / f"stage-{stream}"
            con.execute(
                f"""copy (
                    select {select}, _file_id as file_id, _fingerprint as fingerprint, $batch::bigint as batch,
                        coalesce(strftime("timestamp", '%Y-%m-%d'), 'unknown') as day
                    from {view}
                ) to '{sql_path(stage)}' (format parquet, partition_by (day), compression zstd)""",
                {"batch": batch},
            )
            written += _place(con, root, stage, stream, batch)
        bad = _unreadable_rows(scans, lake, batch)
        if bad:
            con.execute(
                "create temp table _forensics_bad (batch bigint, stream varchar, source_file varchar, "
                "file_id bigint, line bigint, cause varchar, starts varchar)"
            )
            con.executemany("insert into _forensics_bad values (?, ?, ?, ?, ?, ?, ?)", bad)
            rel = f"unreadable/b{batch:09d}.parquet"
            (root / "unreadable").mkdir(exist_ok=True)
            con.execute(f"copy _forensics_bad to '{sql_path(root / rel)}' (format parquet)")
            written.append(
                {
                    "path": rel,
                    "stream": "unreadable",
                    "day": None,
                    "rows": len(bad),
                    "batch": batch,
                    "bytes": (root / rel).stat().st_size,
                }
            )
    return written, scans


def _place(con, root: Path, stage: Path, stream: str, batch: int) -> list[dict]:
    """Move the staged day folders' files into the store under this batch's names."""
    out = []
    if not stage.exists():
        return out
    for day_dir in sorted(stage.iterdir()):
        day = day_dir.name.split("=", 1)[1]
        target = root / stream / day_dir.name
        target.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(sorted(day_dir.glob("*.parquet"))):
            rel = f"{stream}/{day_dir.name}/b{batch:09d}-{i}.parquet"
            rows = con.execute("select coalesce(sum(num_rows), 0) from parquet_file_metadata(?)", [str(f)]).fetchone()[
                0
            ]
            os.replace(f, root / rel)
            out.append(
                {
                    "path": rel,
                    "stream": stream,
                    "day": day,
                    "rows": int(rows),
                    "batch": batch,
                    "bytes": (root / rel).stat().st_size,
                }
            )
    return out


def _unreadable_rows(scans, lake, batch: int) -> list[list[Any]]:
    by_path = {t.segment.path: t for t in lake.tails}
    rows = []
    for scan in scans.files:
        t = by_path.get(scan.path)
        if t is None:
            continue
        for _, line, cause in scan.bad.at:
            rows.append(
                [batch, scan.stream, scan.path, t.segment.checkpoint.id, line, cause, scan.bad.previews.get(line, "")]
            )
    return rows


def _finish(manifest: Manifest, report: IngestReport, checkpoints, new, tails, skipped, scans, written, batch):
    """Advance the checkpoints past what was read, and record the batch in the manifest."""
    at = now_iso()
    by_path = scans.by_path()
    last: dict[int, object] = {}  # a segment read in pieces: its last piece says how far
    for t in tails:
        last[id(t.segment)] = t
    for t in last.values():
        seg, ck = t.segment, t.segment.checkpoint
        scan = by_path.get(seg.path)
        if scan is not None and scan.error:
            report.files.append(FileIngest(seg.path, seg.stream, "retry", reason=scan.error))
            continue
        rows = scan.rows if scan else 0
        bad = scan.unreadable_total if scan else 0
        ck.offset, ck.lines = t.end, t.base + t.lines
        ck.fp, ck.fp_len = t.fp, t.fp_len
        ck.rows += rows
        ck.unreadable += bad
        ck.ingested_at = ck.seen_at = at
        if seg.compressed:
            ck.copies.append([seg.stat.st_dev, seg.stat.st_ino, seg.stat.st_size, seg.stat.st_mtime_ns])
        else:
            ck.dev, ck.ino = seg.stat.st_dev, seg.stat.st_ino
            real = os.path.realpath(seg.path)
            ck.real = real if real != os.path.abspath(seg.path) else None
            ck.size, ck.mtime_ns = seg.stat.st_size, seg.stat.st_mtime_ns
        report.files.append(FileIngest(seg.path, seg.stream, seg.action, rows, bad, t.end - seg.start))
        report.rows[seg.stream] += rows
        report.unreadable += bad
        report.bytes += t.end - seg.start
    pending = {p["path"]: p for p in manifest.pending}
    manifest.pending = []
    for sk in skipped:
        if sk.checkpoint is not None:
            sk.checkpoint.seen_at = at
        if sk.action == "retry":
            since = pending.get(sk.path, {}).get("since", at)
            manifest.pending.append({"path": sk.path, "stream": sk.stream, "reason": sk.reason, "since": since})
            report.warnings.append(f"warning: {sk.path}: not read now, retried next run: {sk.reason}")
        if sk.action in ("retry", "empty") or (
            sk.action == "unchanged" and sk.path not in {f.path for f in report.files}
        ):
            report.files.append(FileIngest(sk.path, sk.stream, sk.action, reason=sk.reason))
    # A new file is known once something of it was read.
    manifest.checkpoints = checkpoints + [c for c in new if c.fp_len]
    manifest.files += written
    manifest.batch = batch
    manifest.batches.append(
        {"batch": batch, "at": at, "rows": dict(report.rows), "unreadable": report.unreadable, "bytes": report.bytes}
    )
    report.warnings += scans.warnings()


def _clean(root: Path, manifest: Manifest) -> None:
    """Remove what an ingest killed before its commit left: files no committed manifest lists."""
    live = {f["path"] for f in manifest.files} | {r["path"] for r in manifest.retired}
    for sub in STREAM_DIRS:
        folder = root / sub
        if not folder.is_dir():
            continue
        for f in folder.rglob("*.parquet"):
            rel = f.relative_to(root).as_posix()
            if rel not in live:
                f.unlink()
    # Only an ingest's own leftovers: a reader's tail copies are elsewhere, and in use.
    for f in (root / ".tmp").glob("ingest-*"):
        shutil.rmtree(f, ignore_errors=True)
    for f in root.glob(".manifest-*.json"):
        f.unlink()


def _remove(root: Path, written: list[dict]) -> None:
    for f in written:
        try:
            (root / f["path"]).unlink()
        except FileNotFoundError:
            pass
