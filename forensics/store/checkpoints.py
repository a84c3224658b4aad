"""Per-file checkpoints: which bytes of which log are new since the last ingest, through rotations.

A checkpoint names a file by its content (a hash of its first bytes), as Vector and Fluent
Bit do, not by its name: logrotate renames, copies and compresses files, and the content is
what stays. The rules, applied to every file a source names now:

- grown: same content, more bytes: read from the offset;
- renamed (`sessions.jsonl.1`): the same content under another name: continue from the
  offset, never re-read;
- a compressed copy (`.1.gz`) of a known file: skipped up to what was read, the rest read once;
- truncated (fewer bytes than the offset) or rewritten (other first bytes): a new file from 0;
- a torn last line is not consumed: it is read when its newline arrives (a compressed file
  is final, so its torn tail is read, and judged, at once);
- a file unreadable right now (permissions, a gzip still being written) is named and retried.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..read.lines import open_binary

# How much of a file's start names it: a row or more, so two logs never share it.
FP_BYTES = 4096

COMPRESSED = (".gz", ".zst")


@dataclass
class FileIdentity:
    """Which file a checkpoint follows: the hash of its first bytes, and the plain file as last read."""

    fp: str  # sha256 of its first fp_len bytes
    fp_len: int
    dev: int | None = None
    ino: int | None = None
    size: int | None = None  # the file's size (or the compressed copy's) when last read
    mtime_ns: int | None = None
    real: str | None = None  # the file a symlink pointed to when it was read

    def begins(self, head: bytes) -> bool:
        """Whether a file with these first bytes is this one (read further, or under another name)."""
        return self.fp_len <= len(head) and fingerprint(head[: self.fp_len]) == self.fp

    def inode(self) -> tuple:
        """(device, inode) of the plain file as last read."""
        return (self.dev, self.ino)

    def untouched(self, st: os.stat_result) -> bool:
        """Whether a file is the plain file as last read, not changed since (inode, size and mtime)."""
        return (self.dev, self.ino, self.size, self.mtime_ns) == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class Progress:
    """How much of a file has been ingested: bytes and lines consumed, rows and unreadable lines stored."""

    offset: int = 0  # bytes consumed: just past the last complete line read
    lines: int = 0  # physical lines consumed
    rows: int = 0  # rows and unreadable lines ingested from it, in all
    unreadable: int = 0
    ingested_at: str | None = None  # when bytes of it were last consumed


@dataclass(init=False)
class Checkpoint:
    """How far one file (known by its first bytes) has been ingested, and where it is now."""

    id: int
    stream: str
    path: str  # its name when last seen
    compressed: bool
    identity: FileIdentity
    progress: Progress
    copies: list  # compressed copies read to their end: [dev, ino, size, mtime]
    seen_at: str | None  # when a source last named it (UTC)

    # The parameters are the manifest entry's keys, as manifest.json has always named them.
    def __init__(
        self,
        id: int,
        stream: str,
        path: str,
        fp: str,
        fp_len: int,
        offset: int = 0,
        lines: int = 0,
        dev: int | None = None,
        ino: int | None = None,
        size: int | None = None,
        mtime_ns: int | None = None,
        compressed: bool = False,
        rows: int = 0,
        unreadable: int = 0,
        seen_at: str | None = None,
        ingested_at: str | None = None,
        copies: list | None = None,
        real: str | None = None,
    ) -> None:
        self.id = id
        self.stream = stream
        self.path = path
        self.compressed = compressed
        self.identity = FileIdentity(fp, fp_len, dev, ino, size, mtime_ns, real)
        self.progress = Progress(offset, lines, rows, unreadable, ingested_at)
        self.copies = [] if copies is None else copies
        self.seen_at = seen_at

    @classmethod
    def from_dict(cls, d: dict) -> Checkpoint:
        """A checkpoint from its manifest entry (unknown keys ignored)."""
        return cls(**{k: v for k, v in d.items() if k in ENTRY_KEYS})

    def as_dict(self) -> dict:
        """The manifest entry: a deep copy, its keys named and ordered as `__init__` takes them."""
        flat = {**asdict(self.identity), **asdict(self.progress), **vars(self)}
        return {k: copy.deepcopy(flat[k]) for k in ENTRY_KEYS}


ENTRY_KEYS = tuple(inspect.signature(Checkpoint.__init__).parameters)[1:]


@dataclass
class Segment:
    """The new bytes of one file: [start, end) of its (decompressed) content."""

    stream: str
    path: str
    action: str  # new, grown, renamed, compressed_copy, truncated, rewritten
    checkpoint: Checkpoint
    start: int
    end: int | None  # None: a compressed file, to its end
    compressed: bool
    stat: os.stat_result
    head: bytes


@dataclass
class Skipped:
    """A file named by a source but not read this run, and why."""

    stream: str
    path: str
    action: str  # unchanged, empty, retry, not_ours
    reason: str = ""
    checkpoint: Checkpoint | None = None


def is_compressed(path: str | os.PathLike) -> bool:
    """A .gz or .zst log."""
    return str(path).endswith(COMPRESSED)


def fingerprint(data: bytes) -> str:
    """The hash that names a file by its first bytes."""
    return hashlib.sha256(data).hexdigest()


def read_head(path: str, n: int = FP_BYTES) -> bytes:
    """The first n bytes of a file's content (decompressed)."""
    with open_binary(path) as fh:
        return fh.read(n)


def complete_end(path: str, start: int, size: int) -> int:
    """The offset just past the last newline in [start, size): what may be consumed."""
    block = 1 << 16
    with open(path, "rb") as fh:
        pos = size
        while pos > start:
            lo = max(start, pos - block)
            fh.seek(lo)
            chunk = fh.read(pos - lo)
            i = chunk.rfind(b"\n")
            if i >= 0:
                return lo + i + 1
            pos = lo
    return start


def rotation_siblings(path: Path) -> list[Path]:
    """What logrotate leaves beside a log: name.1, name.2.gz, name-20261201[.gz], name-20261201-1796125905.zst."""
    from ..read.sources import DATED

    mark = rf"(?:\.\d+|{DATED})"
    names = [re.escape(path.name) + mark]
    stem, ext = os.path.splitext(path.name)
    if ext:  # logrotate's `extension .jsonl` puts the mark before it: name.1.jsonl, name-20261201.jsonl
        names.append(re.escape(stem) + mark + re.escape(ext))
    pattern = re.compile(rf"(?:{'|'.join(names)})(?:\.gz|\.zst)?", re.DOTALL)
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    return sorted(path.parent / n for n in names if pattern.fullmatch(n) and (path.parent / n).is_file())


def _match(candidates: list[Checkpoint], head: bytes, st: os.stat_result, path: str) -> Checkpoint | None:
    hits = [c for c in candidates if c.identity.begins(head)]
    if not hits:
        return None
    # The same inode first (the file itself), then the same name, then the furthest read.
    here = (st.st_dev, st.st_ino)
    return max(hits, key=lambda c: (c.identity.inode() == here and not c.compressed, c.path == path, c.progress.offset))


def _copy_key(st: os.stat_result) -> list:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def plan(
    checkpoints: list[Checkpoint],
    files: list[tuple[str, str, bool]],
    next_id: int,
    *,
    consume: bool = True,
    adopt_after_ns: int | None = None,
):
    """Sort each (stream, path, followed_only) file into a Segment to read or a Skipped.

    ``followed_only`` marks a rotation sibling of a one-file source: read only to finish a
    file already known, or one changed after ``adopt_after_ns`` (the store's creation): a
    generation that logrotate made and rotated away between two ingests is still read.
    Without ``consume`` (a reading command, not an ingest) a plain
    file's segment runs to its end, torn last line included. Returns (segments, skipped,
    new checkpoints).
    """
    segments: list[Segment] = []
    skipped: list[Skipped] = []
    new: list[Checkpoint] = []
    claimed: dict[int, int] = {}  # checkpoint id -> offset already planned this run
    claimed_by: dict[int, str] = {}  # checkpoint id -> the plain file that claimed it
    located: set[int] = set()  # checkpoints whose current name was found this run

    def locate(c: Checkpoint, path: str) -> None:
        # A file's current name: the first place its content is found (plain files come first).
        if c.id not in located:
            c.path = path
            c.located = True  # not a field: never written to the manifest
            located.add(c.id)

    inodes = {c.identity.inode() for c in checkpoints if not c.compressed}

    def order(item):
        # Plain files first (a live file before its compressed copy), live sources before
        # siblings, and a known file itself before any other that begins with its bytes.
        _stream, path, followed = item
        try:
            st = os.stat(path)
            known_inode = (st.st_dev, st.st_ino) in inodes
        except OSError:
            known_inode = False
        return (is_compressed(path), followed, not known_inode, path)

    for stream, path, followed in sorted(files, key=order):
        try:
            st = os.stat(path)
        except OSError as exc:
            skipped.append(Skipped(stream, path, "retry", exc.strerror or str(exc)))
            continue
        mine = [c for c in checkpoints + new if c.stream == stream]
        compressed = is_compressed(path)
        # A file not touched since it was read to its end needs no look at its bytes.
        for c in mine:
            if compressed and _copy_key(st) in c.copies:
                locate(c, path)
                skipped.append(Skipped(stream, path, "unchanged", checkpoint=c))
                break
            if (
                not compressed
                and not c.compressed
                and c.identity.untouched(st)
                and c.id not in claimed
                and (consume or c.progress.offset == st.st_size)
            ):
                locate(c, path)
                claimed[c.id], claimed_by[c.id] = c.progress.offset, path
                skipped.append(Skipped(stream, path, "unchanged", checkpoint=c))
                break
        else:
            try:
                head = read_head(path)
            except Exception as exc:  # OSError, a cut gzip or zstd stream (zstandard's errors share no base)
                skipped.append(Skipped(stream, path, "retry", error_text(exc)))
                continue
            if not head:
                skipped.append(Skipped(stream, path, "empty"))
                continue
            known = _match(mine, head, st, path)
            if known is not None and known.id in claimed_by and not compressed:
                upto = claimed[known.id]
                if not _same_bytes(path, claimed_by[known.id], min(st.st_size, upto)):
                    # Begins like a file read this run, but is another file (a short first
                    # row in common): its own, from byte 0.
                    known = None
                elif st.st_size <= upto:  # a copy of that file (a backup): nothing of its own
                    skipped.append(Skipped(stream, path, "unchanged", checkpoint=known))
                    continue
            if known is not None and not compressed and st.st_size < claimed.get(known.id, known.progress.offset):
                known, action = None, "truncated"
            elif known is None:
                was = [
                    c.progress.offset for c in mine if c.identity.inode() == (st.st_dev, st.st_ino) and not c.compressed
                ]
                action = "new" if not was else "truncated" if st.st_size < max(was) else "rewritten"
            if known is None:
                if followed and (adopt_after_ns is None or st.st_mtime_ns <= adopt_after_ns):
                    skipped.append(Skipped(stream, path, "not_ours"))
                    continue
                known = Checkpoint(id=next_id, stream=stream, path=path, fp="", fp_len=0, compressed=compressed)
                next_id += 1
                new.append(known)
                start = 0
            else:
                start = claimed.get(known.id, known.progress.offset)
                action = "compressed_copy" if compressed else "grown" if known.path == path else "renamed"
            if compressed:
                end = None
            else:
                end = complete_end(path, start, st.st_size) if consume else st.st_size
                if end <= start:
                    claimed.setdefault(known.id, start)
                    claimed_by.setdefault(known.id, path)
                    locate(known, path)
                    skipped.append(Skipped(stream, path, "unchanged", checkpoint=known))
                    continue
            claimed[known.id] = end if end is not None else start
            if not compressed:
                claimed_by.setdefault(known.id, path)
            locate(known, path)
            segments.append(Segment(stream, path, action, known, start, end, compressed, st, head))
    return segments, skipped, new


def current_names(checkpoints: list[Checkpoint]) -> list[str | None]:
    """Each file's name now, by checkpoint id - 1: its path, unless it was not found this run
    and another file holds that name (logrotate deleted it, or moved another there); then the
    name says so, so that no two files ever share one (a row is its file and line)."""
    names: list[str | None] = [None] * max((c.id for c in checkpoints), default=0)
    holders: dict[str, int] = {}
    for c in checkpoints:
        holders[c.path] = holders.get(c.path, 0) + 1
    for c in checkpoints:
        gone = not getattr(c, "located", False) and holders[c.path] > 1
        names[c.id - 1] = f"{c.path} (rotated away, {c.identity.fp[:12]})" if gone else c.path
    return names


def _same_bytes(a: str, b: str, n: int) -> bool:
    """Whether two files hold the same first n bytes."""
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while n > 0:
                size = min(n, 1 << 20)
                x = fa.read(size)
                if not x or x != fb.read(size):
                    return False
                n -= len(x)
    except OSError:
        return False
    return True


def error_text(exc: BaseException) -> str:
    """Why a file could not be read now, in one line."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
