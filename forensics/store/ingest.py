"""`forensics ingest`: append every complete line that is new since the last ingest to the store.

One ingest at a time (a lock inside the store). New Parquet files are written under names
no committed manifest lists, and the manifest is replaced as the last step: an ingest
killed at any point leaves the last committed state, and the next ingest removes what the
killed one wrote and reads the same bytes again.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ..errors import ForensicsError, ParameterError
from .batch import ReadFailed, remove_written, write_batch
from .compaction import compact_store, delete_retired, needs_compaction
from .lock import LOCK_NAME, store_lock
from .manifest import OWN_FILE, STREAM_DIRS, STREAMS, Manifest, StoreError, check_whole, commit, load, now_iso
from .record import IngestReport, record_batch, settled, stamp
from .retention import expire_days


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
    retain_unevaluated: bool | None = None,
    reading: bool = False,
) -> IngestReport:
    """Append every new complete line of the store's sources to it; returns what was read.

    ``retain_days`` (kept in the manifest, so every later ingest applies it; 0 keeps every
    day again) drops the UTC days older than that many days, once every alarm reading the
    store has evaluated their rows (``retain_unevaluated``: also before any alarm has).
    ``reading``: the ingest a reading command runs first (the alarm, `--ingest`), which makes
    no store without sources given, and never points the store at a source that names nothing.
    """
    root = Path(store).expanduser()
    if root.exists() and not root.is_dir():
        raise ParameterError(f"--store {root}: not a folder")
    if not 0 <= lock_wait <= 86400:
        raise ParameterError(f"lock wait takes 0 to 86400 seconds, got {lock_wait}")
    if reading:
        check_given(root, sessions, replay_runs)
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
            manifest = Manifest(created_at=now_iso(), declined={})
        check_whole(root, manifest)
        _clean(root, manifest)
        retain_changed = retain_days is not None and (retain_days or None) != manifest.retention.days
        if retain_days is not None:
            if retain_days < 0:
                raise ParameterError(f"--retain takes a number of days, got {retain_days}")
            manifest.retention.days = retain_days or None
        if retain_unevaluated is not None and retain_unevaluated != manifest.retention.unevaluated:
            retain_changed = True
            manifest.retention.unevaluated = retain_unevaluated
        before = {s: list(manifest.sources.get(s, [])) for s in STREAMS}
        manifest.sources = _sources(manifest, sessions, replay_runs, config, env)
        # A source followed from now on: what lies beside it now is its history, not read.
        fresh = {spec for s in STREAMS for spec in manifest.sources.get(s, []) if spec not in before[s]}
        try:
            report = _ingest(root, manifest, fresh)
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
        report.expired, report.held = expire_days(root, manifest)
        delete_retired(root, manifest)
        return report
    finally:
        lock.release()


def _ours(root: Path, path: Path) -> bool:
    """A file a store's ingest writes (a first ingest killed before its commit leaves these), or the alarm's memory."""
    rel = path.relative_to(root).as_posix()
    if path.is_dir() or rel in (LOCK_NAME,) or rel.startswith(".tmp/") or rel == ".tmp":
        return True
    # (the alarm keeps its memory in the store: `silence add` or `ack` before the first ingest writes it)
    return bool(OWN_FILE.fullmatch(rel) or re.fullmatch(r"\.manifest-[^/]*\.json|alarm-[^/]+\.(json|jsonl|lock)", rel))


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
            # (the same kind of error: no source at all stays exit 2 on the command line)
            raise type(exc)(f"{exc}; the store remembers its sources after the first ingest") from None
        specs = {
            "sessions": [str(p) for p in src.sessions or []],
            "replay_runs": [str(p) for p in src.replay_runs or []],
        }
    return {k: [os.path.abspath(os.path.expanduser(v)) for v in vs] for k, vs in specs.items()}


def check_given(root: Path, sessions, replay_runs) -> None:
    """Refuse, before anything is made or changed, a reading command's store that does not exist
    (unless it is given sources to make it from) and a source given that names nothing now and
    that the store does not follow already (a typo would otherwise stop cron's ingests)."""
    from ..read.sources import as_list
    from .named import names_nothing

    given = {"sessions": as_list(sessions), "replay_runs": as_list(replay_runs)}
    manifest = load(root) if root.is_dir() else None
    if manifest is None and not (given["sessions"] or given["replay_runs"]):
        raise ParameterError(
            f"--store {root}: no store there (nothing was ever ingested); make one with "
            f"`forensics ingest --store {root} -s LOGS`"
        )
    followed = manifest.sources if manifest is not None else {}
    for stream, specs in given.items():
        for spec in specs:
            full = os.path.abspath(os.path.expanduser(spec))
            if full not in followed.get(stream, []) and names_nothing(full, stream):
                raise ParameterError(
                    f"{'-s' if stream == 'sessions' else '-r'} {spec}: names no file now; the store "
                    f"{root} is left as it was (its sources are "
                    f"{', '.join(followed.get(stream, [])) or 'none'})"
                )


def _ingest(root: Path, manifest: Manifest, fresh: set) -> IngestReport:
    from .checkpoints import current_names
    from .lake import Lake, Stored
    from .named import source_files
    from .tails import plan_tails, private_folder, remove_folder

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
                history=manifest.history(fresh),
                copy=frozenset(copy),
                settled=settled(manifest.pending),
            )
            # A file read in place must not grow while it is read: its rows past the planned
            # end would be stored, then read again. One that did is read again, from a copy
            # of exactly the planned bytes (each pass copies one more file at least: it ends).
            before = {t.read_path: [t.segment.stat.st_size, t.segment.stat.st_mtime_ns] for t in tails if t.direct}
            lake = Lake(
                root=root,
                stored=Stored(checkpoints=checkpoints + new),
                tails=tails,
                file_paths=current_names(checkpoints + new),
            )
            if not tails:  # nothing new: the cron run's common case costs no DuckDB at all
                from ..read.scans import ScanReport

                written, scans = [], ScanReport([])
                break
            try:
                written, scans = write_batch(root, lake, batch, tmp)
            except ReadFailed as failed:
                # DuckDB read past the planned end of a file that grew meanwhile, into a line
                # still being written: the same case as a grown file, noticed sooner.
                grown = {p for p, s in before.items() if stamp(p) != s}
                if not grown:
                    raise failed.__cause__ from None
                remove_folder(tmp)
                copy |= grown
                continue
            grown = {p for p, s in before.items() if stamp(p) != s}
            if not grown:
                break
            remove_written(root, written)
            remove_folder(tmp)
            copy |= grown
        record_batch(manifest, report, checkpoints, new, tails, skipped + missing, scans, written, batch)
        commit(root, manifest)
    finally:
        if tmp is not None:
            remove_folder(tmp)
    return report


def _clean(root: Path, manifest: Manifest) -> None:
    """Remove what an ingest killed before its commit left: files no committed manifest lists."""
    live = {f["path"] for f in manifest.files} | {r["path"] for r in manifest.retired}
    for sub in STREAM_DIRS:
        folder = root / sub
        if folder.is_symlink():
            raise StoreError(f"store {root}: {sub}/ is a symbolic link; a store's folders are its own")
        if not folder.is_dir():
            continue
        # (never through a linked folder: only the store's own files are removed)
        for top, _, names in os.walk(folder, followlinks=False):
            for name in names:
                f = Path(top) / name
                rel = f.relative_to(root).as_posix()
                if name.endswith(".parquet") and rel not in live:
                    f.unlink()
    # Only an ingest's own leftovers: a reader's tail copies are elsewhere, and in use.
    for f in (root / ".tmp").glob("ingest-*"):
        shutil.rmtree(f, ignore_errors=True)
    for f in root.glob(".manifest-*.json"):
        f.unlink()
