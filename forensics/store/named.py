"""Which files a store's sources name now: the files they name, the rotation siblings of a one-file
source, and which of those siblings are history (lay there before the store followed the source).

The sources are resolved into one set of files before anything is planned, so that the order
of the `-s` options never changes what is read: a file named by any source (itself, through
its folder or a glob) is named, whatever else names it as a sibling.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .identity import FileIdentity, fingerprint

# A file reached through a symlink's old target, not through a source: only finished.
LINKED = "\0linked"
STREAMS = ("sessions", "replay_runs")


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


def one_file(spec: str) -> bool:
    """A source that names one file (followed through its rotations), not a folder or a glob."""
    # A name that is a file is that file, glob characters and all (as `expand` reads it).
    return os.path.isfile(spec) or (not any(ch in spec for ch in "*?[") and not os.path.isdir(spec))


def source_files(sources: dict) -> tuple[list[tuple[str, str, str | None]], list]:
    """Every (stream, path, follows) a store's sources name now, and the sources naming nothing.

    ``follows`` is None for a file a source names, else the one-file source whose rotation
    sibling it is (looked at to finish a file already known, or read when it is not history).
    """
    from ..errors import SourceError
    from ..read.sources import _identity, expand
    from .checkpoints import Skipped

    named: dict = {}  # identity -> (stream, path): sessions first, then replay runs
    siblings: dict = {}  # identity -> (stream, path, spec): the least spec, whatever the order
    missing: list = []
    for stream in STREAMS:
        for spec in sources.get(stream) or []:
            try:
                for path in expand(spec, stream.replace("_", " "), stream):
                    named.setdefault(_identity(path), (stream, str(path)))
            except SourceError as exc:
                missing.append(Skipped(stream, spec, "retry", str(exc)))
            if one_file(spec):
                for path in rotation_siblings(Path(spec)):
                    key = _identity(path)
                    if key not in siblings or (stream, spec) < (siblings[key][0], siblings[key][2]):
                        siblings[key] = (stream, str(path), spec)
    out: list[tuple[str, str, str | None]] = [(stream, path, None) for stream, path in named.values()]
    out += [sib for key, sib in siblings.items() if key not in named]
    return out, missing


def linked_targets(checkpoints, files) -> list[tuple[str, str, str | None]]:
    """The files symlinked sources pointed to, where no source names them now (a repointed
    link): their last rows are finished, as a rotated file's are."""
    from ..read.sources import _identity

    seen = {_identity(Path(p)) for _, p, _ in files}
    out = []
    for c in checkpoints:
        real = c.identity.real
        if real and os.path.isfile(real) and _identity(Path(real)) not in seen:
            seen.add(_identity(Path(real)))
            out.append((c.stream, real, LINKED))
    return out


@dataclass
class History:
    """Which rotation siblings are history, not read: what lay beside a one-file source when the
    store began following it. ``declined``: spec -> [[fp, fp_len]] recorded then; ``fresh``: the
    specs first followed now (all their unknown siblings are history); ``legacy_after_ns``: a store
    from before history was recorded, whose siblings changed after its creation are read."""

    declined: dict | None = None
    fresh: frozenset = frozenset()
    legacy_after_ns: int | None = None

    def holds(self, follows: str, head: bytes, st: os.stat_result) -> bool:
        """Whether an unknown sibling of ``follows`` with these first bytes is history."""
        if follows == LINKED:
            return True
        follows = os.path.abspath(os.path.expanduser(follows))  # as the manifest keeps sources
        if follows in {os.path.abspath(os.path.expanduser(f)) for f in self.fresh}:
            return True
        if self.declined is None:
            return self.legacy_after_ns is None or st.st_mtime_ns <= self.legacy_after_ns
        return any(FileIdentity(fp, n).begins(head) for fp, n in self.declined.get(follows, []))


def record_history(declined: dict | None, skipped, sources: dict) -> dict:
    """The history kept in the manifest: each followed source's siblings that were history when
    first seen, for the sources followed now (a source no longer followed takes its own along)."""
    specs = {s for stream in STREAMS for s in sources.get(stream) or []}
    out = {spec: list(entries) for spec, entries in (declined or {}).items() if spec in specs}
    for sk in skipped:
        if sk.action != "not_ours" or sk.follows not in specs:  # (an ingest's sources are absolute)
            continue
        entries = out.setdefault(sk.follows, [])
        if not any(FileIdentity(fp, n).begins(sk.head) for fp, n in entries):
            entries.append([fingerprint(sk.head), len(sk.head)])
    return out


def names_nothing(spec: str, stream: str) -> bool:
    """Whether a source names no file now: not itself, nothing in it, no rotation sibling of it."""
    from ..errors import SourceError
    from ..read.sources import expand

    try:
        expand(spec, stream.replace("_", " "), stream)
    except SourceError:
        return not (one_file(spec) and rotation_siblings(Path(spec)))
    return False
