"""Per-file checkpoints: which bytes of which log are new since the last ingest, through rotations.

A checkpoint names a file by its content, as Vector and Fluent Bit do, not by its name:
logrotate renames, copies and compresses files, and the content is what stays. Its content
is a hash of its first bytes and one of the bytes just before its offset (identity.py): a
file that begins alike but holds other bytes there is another file. The rules, applied to
every file a source names now:

- unchanged: same inode, size and mtime, and the same bytes at its start and before its offset;
- grown: same content, more bytes: read from the offset;
- renamed (`sessions.jsonl.1`): the same content under another name: continue from the
  offset, never re-read;
- a compressed copy (`.1.gz`) of a known file: skipped up to what was read, the rest read once;
- truncated (fewer bytes than the offset) or rewritten (other bytes read): a new file from 0;
- a file a source names is read whole when new; a sibling logrotate left beside a one-file
  source is read when it is not history: history is what lay beside the source when the
  store began following it (recorded, never guessed from a clock);
- a torn last line is not consumed: it is read when its newline arrives (a compressed file
  is final, so its torn tail is read, and judged, at once);
- a file unreadable right now (permissions, a gzip still being written) is named and retried.
"""

from __future__ import annotations

import copy
import inspect
import os
from dataclasses import asdict, dataclass

from .identity import (
    FileIdentity,
    holds_read,
    is_compressed,
    read_head,
    window_before,
    window_fp,
)


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
    copies: list  # compressed copies read to their end: [dev, ino, size, mtime, hash of its last bytes]
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
        last_fp: str | None = None,
    ) -> None:
        self.id = id
        self.stream = stream
        self.path = path
        self.compressed = compressed
        self.identity = FileIdentity(fp, fp_len, dev, ino, size, mtime_ns, real, last_fp)
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
    follows: str | None = None  # the one-file source it is a sibling of; None: named by a source
    copy_key: list | None = None  # a compressed file's: what says it is the copy read (`copy_key`)


@dataclass
class Skipped:
    """A file named by a source but not read this run, and why."""

    stream: str
    path: str
    action: str  # unchanged, empty, retry, not_ours
    reason: str = ""
    checkpoint: Checkpoint | None = None
    follows: str | None = None  # not_ours: the source it is history of
    head: bytes = b""  # not_ours: its first bytes, recorded as history


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


def _match(candidates: list[Checkpoint], head: bytes, st: os.stat_result, path: str) -> Checkpoint | None:
    hits = [c for c in candidates if c.identity.begins(head)]
    if not is_compressed(path):
        # What was read must be there: a file that begins alike but holds other bytes before
        # the offset is another file (a compressed copy is checked as it is decompressed).
        hits = [c for c in hits if holds_read(c.identity, path, c.progress.offset, head=head) is not False]
    if not hits:
        return None
    # The same inode first (the file itself), then the same name, then the furthest read.
    here = (st.st_dev, st.st_ino)
    return max(hits, key=lambda c: (c.identity.inode() == here and not c.compressed, c.path == path, c.progress.offset))


def copy_key(path: str, st: os.stat_result) -> list:
    """What says a compressed copy is the one read to its end: its inode, size and mtime, and the
    hash of its last bytes (a gzip's end holds the CRC and length of all its content)."""
    try:
        with open(path, "rb") as fh:
            last = window_before(fh, st.st_size)
    except OSError:
        last = b""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, window_fp(last)]


def _is_copy(key: list, copies: list) -> bool:
    # A copy remembered before its last bytes were kept is known by its inode, size and mtime.
    return any(c == key or (len(c) == 4 and c == key[:4]) for c in copies)


def _still_holds(c: Checkpoint, path: str) -> bool:
    """Whether an untouched-looking plain file still holds what was read (an inode reused, a file
    rewritten in place with the same size and mtime do not)."""
    if holds_read(c.identity, path, c.progress.offset) is not True:
        return False
    if c.identity.last_fp is None:  # a checkpoint from before the window was kept: keep it now
        try:
            with open(path, "rb") as fh:
                c.identity.last_fp = window_fp(window_before(fh, c.progress.offset))
        except OSError:
            pass
    return True


def plan(
    checkpoints: list[Checkpoint],
    files: list[tuple[str, str, str | None]],
    next_id: int,
    *,
    consume: bool = True,
    history=None,
):
    """Sort each (stream, path, follows) file into a Segment to read or a Skipped.

    ``follows`` is None for a file a source names (read whole when new, whenever it was
    rotated), else the one-file source it is a rotation sibling of: read to finish a file
    already known, or when it is not history (``history``, named.py's `History`): a
    generation that logrotate made and rotated away between two ingests is still read.
    Without ``consume`` (a reading command, not an ingest) a plain file's segment runs to its
    end, torn last line included. Returns (segments, skipped, new checkpoints).
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
            c.was, c.path = c.path, path  # (not fields: never written to the manifest)
            c.located = True
            located.add(c.id)

    inodes = {c.identity.inode() for c in checkpoints if not c.compressed}

    def order(item):
        # Plain files first (a live file before its compressed copy), named files before
        # siblings, and a known file itself before any other that begins with its bytes.
        _stream, path, follows = item
        try:
            st = os.stat(path)
            known_inode = (st.st_dev, st.st_ino) in inodes
        except OSError:
            known_inode = False
        return (is_compressed(path), follows is not None, not known_inode, path)

    for stream, path, follows in sorted(files, key=order):
        try:
            st = os.stat(path)
        except OSError as exc:
            skipped.append(Skipped(stream, path, "retry", exc.strerror or str(exc)))
            continue
        mine = [c for c in checkpoints + new if c.stream == stream]
        compressed = is_compressed(path)
        key = copy_key(path, st) if compressed else None
        # A file not touched since it was read to its end needs no more than a look at the
        # bytes that say so (its first bytes and those before its offset).
        for c in mine:
            if compressed and _is_copy(key, c.copies):
                locate(c, path)
                skipped.append(Skipped(stream, path, "unchanged", checkpoint=c))
                break
            if (
                not compressed
                and not c.compressed
                and c.identity.untouched(st)
                and c.id not in claimed
                and (consume or c.progress.offset == st.st_size)
                and _still_holds(c, path)
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
                # (without a history, as a reader of no store: a sibling only finishes a known file)
                if follows is not None and (history is None or history.holds(follows, head, st)):
                    skipped.append(Skipped(stream, path, "not_ours", follows=follows, head=head))
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
            segments.append(Segment(stream, path, action, known, start, end, compressed, st, head, follows, key))
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
