"""What an ingest read, recorded: each checkpoint advanced past it, the batch in the manifest, and the report.

Nothing here touches the disk: the manifest it fills is written by the ingest's commit
(ingest.py), or by nobody if the ingest is killed first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..output import counted
from .manifest import STREAMS, Manifest, now_iso
from .named import record_history


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
    held: int = 0  # files of days past the retention kept until an alarm has evaluated their rows
    warnings: list[str] = field(default_factory=list)

    @property
    def retried(self) -> list[FileIngest]:
        """Files that could not be read now and are tried again next run."""
        return [f for f in self.files if f.action == "retry"]

    def summary(self) -> str:
        """What the ingest did, in a sentence (`forensics ingest` prints it; so does the notebook)."""
        read = [f for f in self.files if f.bytes or f.action == "retry"]
        return (
            f"batch {self.batch}: {counted(self.rows['sessions'], 'session row')}, "
            f"{counted(self.rows['replay_runs'], 'replay row')}, {counted(self.unreadable, 'unreadable line')}, "
            f"{counted(self.bytes, 'byte')} from {len(read):,} of {counted(len(self.files), 'file')}"
            + (f"; {counted(self.compacted, 'small file')} merged" if self.compacted else "")
            + (f"; {counted(self.expired, 'file')} of days past the retention dropped" if self.expired else "")
            + (f"; {self.held:,} kept for the alarm" if self.held else "")
        )

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
            "held_files": self.held,
            "files": [f.as_dict() for f in self.files],
        }


def record_batch(manifest: Manifest, report: IngestReport, checkpoints, new, tails, skipped, scans, written, batch):
    """Advance the checkpoints past what was read, and record the batch in the manifest."""
    at = now_iso()
    by_path = scans.by_path()
    last: dict[int, object] = {}  # a segment read in pieces: its last piece says how far
    for t in tails:
        last[id(t.segment)] = t
    cut_short = settled(manifest.pending)
    for t in last.values():
        seg = t.segment
        scan = by_path.get(seg.path)
        if scan is not None and scan.error:
            report.files.append(FileIngest(seg.path, seg.stream, "retry", reason=scan.error))
            continue
        rows = scan.rows if scan else 0
        bad = scan.unreadable_total if scan else 0
        if seg.compressed and seg.path in cut_short:
            # Skipped before as a gzip still being written, unchanged since: cut short for good
            # (one finished since is read whole, and has nothing to say).
            report.warnings.append(
                f"warning: {seg.path}: compressed file cut short for good (unchanged since an ingest could not "
                f"read it whole); its complete lines are read, {counted(rows, 'row')}, and the rest is lost"
            )
        _advance(seg.checkpoint, t, rows, bad, at)
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
            was = pending.get(sk.path, {})
            since, first = was.get("since", at), was.get("batch", batch)
            # (the first batch that skipped it: how many ingests did, whatever the clock says)
            manifest.pending.append(
                {
                    "path": sk.path,
                    "stream": sk.stream,
                    "reason": sk.reason,
                    "since": since,
                    "batch": first,
                    # (a compressed file found again at this size and mtime is cut short for good)
                    "stamp": stamp(sk.path),
                }
            )
            report.warnings.append(f"warning: {sk.path}: not read now, retried next run: {sk.reason}")
        if sk.action in ("retry", "empty") or (
            sk.action == "unchanged" and sk.path not in {f.path for f in report.files}
        ):
            report.files.append(FileIngest(sk.path, sk.stream, sk.action, reason=sk.reason))
    # A new file is known once something of it was read.
    manifest.checkpoints = checkpoints + [c for c in new if c.identity.fp_len]
    manifest.declined = record_history(manifest.declined, skipped, manifest.sources)
    manifest.files += written
    manifest.batch = batch
    manifest.batches.append(
        {"batch": batch, "at": at, "rows": dict(report.rows), "unreadable": report.unreadable, "bytes": report.bytes}
    )
    report.warnings += scans.warnings()


def _advance(ck, t, rows: int, bad: int, at: str) -> None:
    """Move a checkpoint past the bytes of its file a tail read, and note where that file is now."""
    seg, read, known = t.segment, ck.progress, ck.identity
    read.offset, read.lines = t.end, t.base + t.lines
    read.rows += rows
    read.unreadable += bad
    read.ingested_at = ck.seen_at = at
    known.fp, known.fp_len, known.last_fp = t.fp, t.fp_len, t.last_fp
    if seg.compressed:
        ck.copies.append(seg.copy_key)
    else:
        known.dev, known.ino = seg.stat.st_dev, seg.stat.st_ino
        real = os.path.realpath(seg.path)
        known.real = real if real != os.path.abspath(seg.path) else None
        known.size, known.mtime_ns = seg.stat.st_size, seg.stat.st_mtime_ns


def stamp(path: str) -> list | None:
    """A file's size and mtime, to tell one still being written from one that stopped."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def settled(pending: list) -> frozenset[str]:
    """The compressed files skipped before that have not changed since: cut short for good."""
    return frozenset(p["path"] for p in pending if p.get("stamp") is not None and p["stamp"] == stamp(p["path"]))
