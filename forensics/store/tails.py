"""Each source's new bytes, cut out for DuckDB to read: the tails of a store's logs.

DuckDB's readers take no byte offset, so a file's bytes past its checkpoint are copied to a
private folder (a file new as a whole is read in place). Each copy knows where it came
from: the file, and the physical lines before its first byte.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..output import counted
from ..read.lines import open_binary
from .checkpoints import Checkpoint, Segment, Skipped, error_text, plan
from .identity import FP_BYTES, WINDOW, fingerprint, window_before, window_fp
from .named import History, linked_targets

# An ingest cuts a file's new bytes past this size into one piece per core: DuckDB numbers a
# file's lines on one thread, and so writes its Parquet on one; pieces are written side by side.
PIECE_BYTES = 64 << 20
_CHUNK = 1 << 24


class NotThisFile(Exception):
    """A compressed file begins like a known one but does not hold what was read of it."""


@dataclass
class TailFile:
    """The bytes of one file read this time, and how its rows are named."""

    segment: Segment
    read_path: str  # what DuckDB reads: a private copy of the new bytes, or the file itself
    base: int  # physical lines before the first byte read
    lines: int = 0  # physical lines read (a torn last line counts)
    end: int = 0  # offset just past the last byte read
    fp: str = ""  # the file's fingerprint after this read
    fp_len: int = 0
    last_fp: str | None = None  # the hash of the bytes before `end` (identity.py's window)

    @property
    def direct(self) -> bool:
        """Read from the file itself rather than a copy."""
        return self.read_path == self.segment.path


def plan_tails(
    checkpoints: list[Checkpoint],
    files,
    next_id: int,
    folder: Path,
    *,
    consume: bool,
    history: History | None = None,
    settled: frozenset[str] = frozenset(),
    copy: frozenset = frozenset(),
):
    """Plan every file's new bytes and cut them out into `folder`: (tails, skipped, new checkpoints).

    With ``consume`` (an ingest) a plain file's tail stops at its last newline; without it
    (a reading command) the torn last line is read too, as a cold read does. Files in
    ``copy`` are never read in place. ``history`` says which rotation siblings are not read.
    ``settled``: compressed files an earlier ingest could not read whole that have not changed
    since, cut short for good: their complete lines are read, as a cold read reads them.
    """
    segments, skipped, new = plan(
        checkpoints, files + linked_targets(checkpoints, files), next_id, consume=consume, history=history
    )
    tails: list[TailFile] = []
    # checkpoint id -> (offset, lines, hash of the bytes before the offset) after this run's reads
    running: dict[int, tuple[int, int, str | None]] = {}
    for seg in segments:
        ck = seg.checkpoint
        offset, lines, expect = running.get(ck.id, (ck.progress.offset, ck.progress.lines, ck.identity.last_fp))
        if seg.start != offset:  # another copy of this file was read further this run
            seg.start = max(seg.start, offset)
        try:
            try:
                cut = _cut_segment(seg, folder, lines, consume, copy, expect if seg.start == offset else None)
            except NotThisFile:
                # Begins like a known file, holds other bytes before its offset: another file,
                # read from its first byte under a checkpoint of its own.
                ck.path, ck.located = getattr(ck, "was", ck.path), False
                ck = Checkpoint(
                    id=max([next_id - 1] + [c.id for c in checkpoints + new]) + 1,
                    stream=seg.stream,
                    path=seg.path,
                    fp="",
                    fp_len=0,
                    compressed=True,
                )
                ck.located = True
                new.append(ck)
                seg.checkpoint, seg.start, seg.action, lines = ck, 0, "new", 0
                cut = _cut_segment(seg, folder, 0, consume, copy, None)
        except Exception as exc:  # a gzip still being written, a file gone: retried next run
            cut = _salvage(seg, folder, lines, expect if seg.start == offset else None) if seg.path in settled else None
            if cut is None:
                skipped.append(Skipped(seg.stream, seg.path, "retry", error_text(exc), ck))
                continue
            # Read as far as it ever will be: while it stays this file, never decompressed again.
            ck.copies.append(seg.copy_key)
        last = cut[-1]
        if last.end <= seg.start and last.lines == 0:
            if seg.compressed:  # a copy of what was read: never decompressed again
                ck.copies.append(seg.copy_key)
            skipped.append(Skipped(seg.stream, seg.path, "unchanged", checkpoint=ck))
            continue
        running[ck.id] = (last.end, last.base + last.lines, last.last_fp)
        tails += cut
    return tails, skipped, new


def _salvage(seg: Segment, folder: Path, base: int, expect: str | None) -> list[TailFile] | None:
    """A compressed file cut short for good, read as a cold read reads it: its complete lines
    past the segment's start (None when even those cannot be read, or it is another file)."""
    tail = TailFile(seg, seg.path, base=base)
    fd, copy = tempfile.mkstemp(prefix="tail-", suffix=".jsonl", dir=folder)
    tail.read_path = copy
    written, newlines, last = 0, 0, b""
    try:
        with os.fdopen(fd, "wb") as out, open_binary(seg.path) as fh:
            skipped, _, before = _copy(fh, None, seg.start)
            if skipped < seg.start or (expect is not None and window_fp(before) != expect):
                return None
            last = before[-WINDOW:]
            # By lines, as the cold read does: each complete line before the break is kept.
            with contextlib.suppress(EOFError, OSError, ValueError):
                for line in fh:
                    if not line.endswith(b"\n"):
                        break
                    out.write(line)
                    written += len(line)
                    newlines += 1
                    last = (last + line[-WINDOW:])[-WINDOW:]
    except (EOFError, OSError, ValueError):
        return None
    tail.end, tail.lines, tail.last_fp = seg.start + written, newlines, window_fp(last)
    tail.fp, tail.fp_len = _fp(seg, tail.end, consume=True)
    return [tail]


def _cut_segment(seg: Segment, folder: Path, base: int, consume: bool, copy, expect: str | None) -> list[TailFile]:
    """A segment's bytes cut out: in one piece per core when large, else in one (or read in place)."""
    if consume and not seg.compressed and seg.end - seg.start >= 2 * PIECE_BYTES:
        return _pieces(seg, folder, base=base)
    tail = TailFile(seg, seg.path, base=base)
    return [_cut(tail, folder, consume=consume, in_place=seg.path not in copy, expect=expect)]


def _cut(tail: TailFile, folder: Path, *, consume: bool, in_place: bool = True, expect: str | None = None) -> TailFile:
    """Read a segment in place when it is a whole plain file, else copy it out. ``expect``: the
    hash of the bytes a compressed file must hold before the segment's start (NotThisFile if not)."""
    seg = tail.segment
    if in_place and not seg.compressed and seg.start == 0 and seg.end == seg.stat.st_size:
        tail.read_path, tail.end = seg.path, seg.end
        with open(seg.path, "rb") as fh:
            if consume:
                tail.lines = _copy(fh, None, seg.end)[1]
            tail.last_fp = window_fp(window_before(fh, seg.end))
    else:
        with open_binary(seg.path) if seg.compressed else open(seg.path, "rb") as fh:
            if seg.compressed:
                skipped, _, before = _copy(fh, None, seg.start)
                if skipped < seg.start:
                    raise EOFError(f"the file holds fewer than {counted(seg.start, 'byte')} past what was read")
                if expect is not None and window_fp(before) != expect:
                    raise NotThisFile(seg.path)
            else:
                before = window_before(fh, seg.start)
            _copy_out(tail, folder, fh, None if seg.end is None else seg.end - seg.start, before)
    tail.fp, tail.fp_len = _fp(seg, tail.end, consume=consume)
    return tail


def _pieces(seg: Segment, folder: Path, *, base: int) -> list[TailFile]:
    """Copy a large plain segment into one piece per core, each ending at a newline."""
    n = max(1, min(os.cpu_count() or 1, (seg.end - seg.start) // PIECE_BYTES))
    cuts = [seg.start]
    with open(seg.path, "rb") as fh:
        for i in range(1, n):
            fh.seek(seg.start + (seg.end - seg.start) * i // n)
            fh.readline()  # to the end of the line this lands in
            pos = fh.tell()
            if cuts[-1] < pos < seg.end:
                cuts.append(pos)
        cuts.append(seg.end)
        out = []
        for a, b in itertools.pairwise(cuts):
            tail = TailFile(seg, seg.path, base=base)
            before = window_before(fh, a)
            _copy_out(tail, folder, fh, b - a, before)
            if tail.end < b:
                raise OSError(f"{seg.path} is shorter than when it was planned")
            tail.fp, tail.fp_len = _fp(seg, tail.end, consume=True)
            base += tail.lines
            out.append(tail)
    return out


def _copy_out(tail: TailFile, folder: Path, fh, limit: int | None, before: bytes = b"") -> None:
    """Copy up to `limit` bytes (all, with None) from where `fh` stands into a private file;
    ``before``: the bytes just before them, so that the tail knows the window before its end."""
    fd, copy = tempfile.mkstemp(prefix="tail-", suffix=".jsonl", dir=folder)
    tail.read_path = copy
    start = fh.tell() if not tail.segment.compressed else tail.segment.start
    with os.fdopen(fd, "wb") as out:
        written, newlines, last = _copy(fh, out, limit, before)
    tail.end = start + written
    tail.lines = newlines + (0 if last[-1:] in (b"", b"\n") else 1)
    tail.last_fp = window_fp(last)


def _copy(fh, out, limit: int | None, before: bytes = b"") -> tuple[int, int, bytes]:
    """Read up to `limit` bytes (all, with None), writing them to `out` if given: (bytes, newlines,
    the last WINDOW bytes, counting ``before`` as read just before)."""
    written, newlines, last = 0, 0, before[-WINDOW:]
    while limit is None or written < limit:
        chunk = fh.read(_CHUNK if limit is None else min(_CHUNK, limit - written))
        if not chunk:
            break
        if out is not None:
            out.write(chunk)
        newlines += chunk.count(b"\n")
        last = (last + chunk[-WINDOW:])[-WINDOW:]
        written += len(chunk)
    return written, newlines, last


def _fp(seg: Segment, end: int, *, consume: bool) -> tuple[str, int]:
    # The fingerprint covers the first bytes read to their line's end, up to FP_BYTES.
    complete = min(len(seg.head), end if consume else len(seg.head), FP_BYTES)
    known = seg.checkpoint.identity
    return (fingerprint(seg.head[:complete]), complete) if known.fp_len < complete else (known.fp, known.fp_len)


def private_folder(root: Path | None = None) -> Path:
    """A private temporary folder: an ingest's inside its store (`.tmp/ingest-*`, which the next
    ingest clears if this one is killed); a reader's in the system's, where no ingest reaches."""
    base = None
    if root is not None:
        base = root / ".tmp"
        base.mkdir(mode=0o700, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="ingest-" if root is not None else "forensics-tail-", dir=base))


def remove_folder(path: Path) -> None:
    """Remove a private folder and what it holds."""
    shutil.rmtree(path, ignore_errors=True)
