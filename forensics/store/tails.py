"""Each source's new bytes, cut out for DuckDB to read: the tails of a store's logs.

DuckDB's readers take no byte offset, so a file's bytes past its checkpoint are copied to a
private folder (a file new as a whole is read in place). Each copy knows where it came
from: the file, and the physical lines before its first byte.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..read.lines import open_binary
from .checkpoints import FP_BYTES, Checkpoint, Segment, Skipped, error_text, fingerprint, plan, rotation_siblings

# An ingest cuts a file's new bytes past this size into one piece per core: DuckDB numbers a
# file's lines on one thread, and so writes its Parquet on one; pieces are written side by side.
PIECE_BYTES = 64 << 20
_CHUNK = 1 << 24


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

    @property
    def direct(self) -> bool:
        """Read from the file itself rather than a copy."""
        return self.read_path == self.segment.path


def source_files(sources: dict) -> tuple[list[tuple[str, str, bool]], list[Skipped]]:
    """Every (stream, path, followed_only) a store's sources name now, and the sources naming nothing.

    A source given as one file is followed through its rotations: the siblings logrotate
    leaves beside it are looked at too, to finish a file already known.
    """
    from ..errors import SourceError
    from ..read.sources import _identity, expand

    out: list[tuple[str, str, bool]] = []
    missing: list[Skipped] = []
    seen: set = set()
    for stream in ("sessions", "replay_runs"):
        for spec in sources.get(stream) or []:
            # A name that is a file is that file, glob characters and all (as `expand` reads it).
            single = os.path.isfile(spec) or (not any(ch in spec for ch in "*?[") and not os.path.isdir(spec))
            found: list[tuple[Path, bool]] = []
            try:
                found = [(p, False) for p in expand(spec, stream.replace("_", " "), stream)]
            except SourceError as exc:
                missing.append(Skipped(stream, spec, "retry", str(exc)))
            if single:
                found += [(p, True) for p in rotation_siblings(Path(spec))]
            for path, followed in found:
                key = _identity(path)
                if key in seen:
                    continue
                seen.add(key)
                out.append((stream, str(path), followed))
    return out, missing


def plan_tails(
    checkpoints: list[Checkpoint],
    files,
    next_id: int,
    folder: Path,
    *,
    consume: bool,
    adopt_after_ns: int | None = None,
    copy: frozenset = frozenset(),
):
    """Plan every file's new bytes and cut them out into `folder`: (tails, skipped, new checkpoints).

    With ``consume`` (an ingest) a plain file's tail stops at its last newline; without it
    (a reading command) the torn last line is read too, as a cold read does. Files in
    ``copy`` are never read in place.
    """
    segments, skipped, new = plan(
        checkpoints,
        files + _followed_targets(checkpoints, files),
        next_id,
        consume=consume,
        adopt_after_ns=adopt_after_ns,
    )
    tails: list[TailFile] = []
    running: dict[int, tuple[int, int]] = {}  # checkpoint id -> (offset, lines) after this run's reads
    for seg in segments:
        ck = seg.checkpoint
        offset, lines = running.get(ck.id, (ck.progress.offset, ck.progress.lines))
        if seg.start != offset:  # another copy of this file was read further this run
            seg.start = max(seg.start, offset)
        try:
            if consume and not seg.compressed and seg.end - seg.start >= 2 * PIECE_BYTES:
                cut = _pieces(seg, folder, base=lines)
            else:
                cut = [
                    _cut(TailFile(seg, seg.path, base=lines), folder, consume=consume, in_place=seg.path not in copy)
                ]
        except Exception as exc:  # a gzip still being written, a file gone: retried next run
            skipped.append(Skipped(seg.stream, seg.path, "retry", error_text(exc), ck))
            continue
        last = cut[-1]
        if last.end <= seg.start and last.lines == 0:
            if seg.compressed:  # a copy of what was read: never decompressed again
                st = seg.stat
                ck.copies.append([st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns])
            skipped.append(Skipped(seg.stream, seg.path, "unchanged", checkpoint=ck))
            continue
        running[ck.id] = (last.end, last.base + last.lines)
        tails += cut
    return tails, skipped, new


def _followed_targets(checkpoints: list[Checkpoint], files) -> list[tuple[str, str, bool]]:
    """The files symlinked sources pointed to, where no source names them now (a repointed
    link): their last rows are finished, as a rotated file's are."""
    from ..read.sources import _identity

    seen = {_identity(Path(p)) for _, p, _ in files}
    out = []
    for c in checkpoints:
        real = c.identity.real
        if real and os.path.isfile(real) and _identity(Path(real)) not in seen:
            seen.add(_identity(Path(real)))
            out.append((c.stream, real, True))
    return out


def _cut(tail: TailFile, folder: Path, *, consume: bool, in_place: bool = True) -> TailFile:
    """Read a segment in place when it is a whole plain file, else copy it out."""
    seg = tail.segment
    if in_place and not seg.compressed and seg.start == 0 and seg.end == seg.stat.st_size:
        tail.read_path, tail.end = seg.path, seg.end
        if consume:
            with open(seg.path, "rb") as fh:
                tail.lines = _copy(fh, None, seg.end)[1]
    else:
        with open_binary(seg.path) if seg.compressed else open(seg.path, "rb") as fh:
            if seg.compressed:
                if _copy(fh, None, seg.start)[0] < seg.start:
                    raise EOFError(f"the file holds fewer than {seg.start} bytes past what was read")
            else:
                fh.seek(seg.start)
            _copy_out(tail, folder, fh, None if seg.end is None else seg.end - seg.start)
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
            fh.seek(a)
            _copy_out(tail, folder, fh, b - a)
            if tail.end < b:
                raise OSError(f"{seg.path} is shorter than when it was planned")
            tail.fp, tail.fp_len = _fp(seg, tail.end, consume=True)
            base += tail.lines
            out.append(tail)
    return out


def _copy_out(tail: TailFile, folder: Path, fh, limit: int | None) -> None:
    """Copy up to `limit` bytes (all, with None) from where `fh` stands into a private file."""
    fd, copy = tempfile.mkstemp(prefix="tail-", suffix=".jsonl", dir=folder)
    tail.read_path = copy
    start = fh.tell() if not tail.segment.compressed else tail.segment.start
    with os.fdopen(fd, "wb") as out:
        written, newlines, last = _copy(fh, out, limit)
    tail.end = start + written
    tail.lines = newlines + (0 if last in (b"", b"\n") else 1)


def _copy(fh, out, limit: int | None) -> tuple[int, int, bytes]:
    """Read up to `limit` bytes (all, with None), writing them to `out` if given: (bytes, newlines, last byte)."""
    written, newlines, last = 0, 0, b""
    while limit is None or written < limit:
        chunk = fh.read(_CHUNK if limit is None else min(_CHUNK, limit - written))
        if not chunk:
            break
        if out is not None:
            out.write(chunk)
        newlines += chunk.count(b"\n")
        last = chunk[-1:]
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
