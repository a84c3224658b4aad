"""What a file is: the hash of its first bytes, the hash of the bytes just before its checkpoint, and its inode.

A checkpoint's file is recognised by what was read of it, not by where it is: its first bytes
(logrotate renames, copies and compresses files; their start is what stays) and the bytes it
was last read to (two files may begin alike: a log restarted with the same header rows, a
file rewritten in place with the same size and mtime). The inode, size and mtime only tell
where to look first.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from ..read.lines import open_binary

# How much of a file's start names it: a row or more, so two logs never share it.
FP_BYTES = 4096
# How many bytes before a checkpoint's offset say that a file holds what was read up to it.
WINDOW = 4096

COMPRESSED = (".gz", ".zst")


def is_compressed(path: str | os.PathLike) -> bool:
    """A .gz or .zst log."""
    return str(path).endswith(COMPRESSED)


def fingerprint(data: bytes) -> str:
    """The hash that names a file by its first bytes (or by the bytes before its offset)."""
    return hashlib.sha256(data).hexdigest()


def read_head(path: str, n: int = FP_BYTES) -> bytes:
    """The first n bytes of a file's content (decompressed)."""
    with open_binary(path) as fh:
        return fh.read(n)


def window_before(fh, offset: int) -> bytes:
    """The up to WINDOW bytes of a plain file just before `offset` (fewer if it holds fewer)."""
    lo = max(0, offset - WINDOW)
    fh.seek(lo)
    return fh.read(offset - lo)


def window_fp(data: bytes) -> str:
    """The hash of the bytes before an offset, as a checkpoint keeps it."""
    return fingerprint(data[-WINDOW:])


@dataclass
class FileIdentity:
    """Which file a checkpoint follows: what was read of it (its first bytes, the bytes before its
    offset) and the plain file as last read (where to look first)."""

    fp: str  # sha256 of its first fp_len bytes
    fp_len: int
    dev: int | None = None
    ino: int | None = None
    size: int | None = None  # the file's size (or the compressed copy's) when last read
    mtime_ns: int | None = None
    real: str | None = None  # the file a symlink pointed to when it was read
    last_fp: str | None = None  # sha256 of the up to WINDOW bytes before the offset (None: not known yet)

    def begins(self, head: bytes) -> bool:
        """Whether a file with these first bytes is this one (read further, or under another name)."""
        return self.fp_len <= len(head) and fingerprint(head[: self.fp_len]) == self.fp

    def inode(self) -> tuple:
        """(device, inode) of the plain file as last read."""
        return (self.dev, self.ino)

    def untouched(self, st: os.stat_result) -> bool:
        """Whether a file's inode, size and mtime are those of the plain file as last read (where, not what)."""
        return (self.dev, self.ino, self.size, self.mtime_ns) == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def holds_read(identity: FileIdentity, path: str, offset: int, *, head: bytes | None = None) -> bool | None:
    """Whether a plain file holds what was read of this file: its first bytes and the bytes just
    before the offset (two reads of at most 4 KiB). None: it is shorter than the offset."""
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size < offset:
                return None
            if head is None:
                head = fh.read(identity.fp_len)
            if not identity.begins(head):
                return False
            if identity.last_fp is None:  # a checkpoint from before the window was kept
                return True
            return window_fp(window_before(fh, offset)) == identity.last_fp
    except OSError:
        return False
