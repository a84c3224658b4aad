"""Where files live and how they are written: private per-user places (never a predictable name in a
shared /tmp that another user could squat), the shipped notebook, appends that start a fresh line."""

from __future__ import annotations

import contextlib
import glob
import os
import stat
import tempfile
from pathlib import Path


def user_dir(*parts: str) -> Path | None:
    """A folder under $XDG_CACHE_HOME/forensics (or ~/.cache/forensics) that only this user can write.

    None when it cannot be made private (not ours, or writable by others): callers then do
    without it rather than trust it.
    """
    base = Path(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"))
    path = base / "forensics"
    for part in ("", *parts):
        path = path / part if part else path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir(mode=0o700, exist_ok=True)
            info = path.lstat()
        except OSError:
            return None
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None
    return path


def file_mode() -> int:
    """The mode a file the user creates gets (0666 less the umask): one policy for every file forensics writes."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            umask = next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)  # no /proc: read it the only other way, and put it back
        os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: Path, data: bytes, *, locked: bool = True) -> None:
    """Replace a file of the tool's own whole, never through a link planted at its name or its temporary's.

    The new content goes to a fresh file beside it (created exclusively, under a random name),
    is synced, then renamed over the old: a reader sees the old file or the new, a kill leaves
    no half of it, and a symlink at either name is replaced, never followed. A caller that
    holds the file's lock (``locked``) also has the temporaries killed runs left removed.
    """
    # Under the file's lock, a temporary of this name left beside it is a killed run's, removed
    # here (a link among them is removed, never followed); without it, it may be another run's.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp") if locked else ():
        with contextlib.suppress(OSError):
            if stale.is_symlink() or (stale.is_file() and stale.lstat().st_uid == os.getuid()):
                stale.unlink()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def append_lines(path: Path, text: str, *, sync: bool = False) -> None:
    """Append whole JSON lines to a file of the tool's own, in one write, on a line of their own.

    A run killed mid-append (or a full disk) leaves a torn last line; glued onto it, the
    first line appended next would be lost with it. Callers hold the file's lock (or are its
    only writer), so a last byte that is not a newline is a torn line, not one being written.
    """
    # Never through a symlink planted at the name (O_NOFOLLOW): that would append to its target.
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, file_mode())
    with os.fdopen(fd, "ab+") as fh:
        if fh.seek(0, os.SEEK_END) > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                text = "\n" + text
        fh.write(text.encode("utf-8"))
        fh.flush()
        if sync:
            os.fsync(fh.fileno())


def shipped_notebook() -> Path:
    """The exploration notebook: inside the installed package, or the repository's notebooks/."""
    here = Path(__file__).resolve().parent
    packaged = here / "notebooks" / "exploration.ipynb"
    return packaged if packaged.is_file() else here.parent / "notebooks" / "exploration.ipynb"


def fsync_path(path: Path, *, folder: bool = False) -> None:
    """Flush a file (or a folder's entries) to disk, so a crash cannot leave a renamed but empty file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if folder:  # some file systems refuse to open a folder for syncing: nothing to do
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not folder:
            raise
    finally:
        os.close(fd)
