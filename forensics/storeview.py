"""A store folder as views: its Parquet files, plus each source's live tail (the bytes not ingested yet).

The tail of a file is read by the same reader as any log (reader.py), from a private copy
of just its new bytes (DuckDB's readers take no byte offset) or, when the whole file is
new, from the file itself. Its rows are then named as the store names them: the file's
current name, and the physical line counted from the file's first byte.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path

from .checkpoints import Checkpoint, Segment, Skipped, fingerprint, plan, rotation_siblings, FP_BYTES
from .lines import open_binary

# Columns the store's rows carry besides the views' own; the views hide them.
PROVENANCE = ("_batch", "_file_id", "_fingerprint")
# An ingest cuts a file's new bytes past this size into one piece per core: DuckDB numbers a
# file's lines on one thread, and so writes its Parquet on one; pieces are written side by side.
PIECE_BYTES = 64 << 20
TAIL_VIEWS = {"sessions": "_sessions_tail", "replay_runs": "_replay_tail"}
_CHUNK = 1 << 24


@dataclass
class TailFile:
    """The bytes of one file read this time, and how its rows are named."""

    segment: Segment
    read_path: str        # what DuckDB reads: a private copy of the new bytes, or the file itself
    base: int             # physical lines before the first byte read
    lines: int = 0        # physical lines read (a torn last line counts)
    end: int = 0          # offset just past the last byte read
    fp: str = ""          # the file's fingerprint after this read
    fp_len: int = 0

    @property
    def direct(self) -> bool:
        """Read from the file itself rather than a copy."""
        return self.read_path == self.segment.path


@dataclass
class Lake:
    """What a Store reads besides its logs: the store's Parquet files and how tail rows are named."""

    root: Path | None = None
    parquet: dict = field(default_factory=dict)      # stream -> [absolute paths]
    parts: dict = field(default_factory=dict)        # stream -> [(absolute path, day, batch)]
    file_paths: list = field(default_factory=list)   # checkpoint id - 1 -> current name
    tails: list[TailFile] = field(default_factory=list)
    unreadable: list = field(default_factory=list)   # Parquet files of stored unreadable lines
    replay_sources: bool = False
    checkpoints: list = field(default_factory=list)  # every file the store holds rows of
    tmp: Path | None = None                          # the private folder of the tail copies
    skipped: list = field(default_factory=list)      # files named but not read now, and why
    batches: list = field(default_factory=list)      # the manifest's recent ingests
    pending: list = field(default_factory=list)      # files the ingests could not read, since when

    def close(self) -> None:
        """Remove the tail copies."""
        if self.tmp is not None:
            remove_folder(self.tmp)
            self.tmp = None

    def source_files(self, stream: str) -> list[str]:
        """The log files the tail reader reads for one stream."""
        return [t.read_path for t in self.tails if t.segment.stream == stream]


def source_files(sources: dict, *, env=None) -> tuple[list[tuple[str, str, bool]], list[Skipped]]:
    """Every (stream, path, followed_only) a store's sources name now, and the sources naming nothing.

    A source given as one file is followed through its rotations: the siblings logrotate
    leaves beside it are looked at too, to finish a file already known.
    """
    from .errors import SourceError
    from .sources import _identity, expand

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


def plan_tails(checkpoints: list[Checkpoint], files, next_id: int, folder: Path, *, consume: bool,
               adopt_after_ns: int | None = None, copy: frozenset = frozenset()):
    """Plan every file's new bytes and cut them out into `folder`: (tails, skipped, new checkpoints).

    With ``consume`` (an ingest) a plain file's tail stops at its last newline; without it
    (a reading command) the torn last line is read too, as a cold read does. Files in
    ``copy`` are never read in place.
    """
    segments, skipped, new = plan(checkpoints, files + _followed_targets(checkpoints, files), next_id,
                                  consume=consume, adopt_after_ns=adopt_after_ns)
    tails: list[TailFile] = []
    running: dict[int, tuple[int, int]] = {}  # checkpoint id -> (offset, lines) after this run's reads
    for seg in segments:
        ck = seg.checkpoint
        offset, lines = running.get(ck.id, (ck.offset, ck.lines))
        if seg.start != offset:  # another copy of this file was read further this run
            seg.start = max(seg.start, offset)
        if consume and not seg.compressed and seg.end - seg.start >= 2 * PIECE_BYTES:
            try:
                pieces = _pieces(seg, folder, base=lines)
            except OSError as exc:
                from .checkpoints import _reason

                skipped.append(Skipped(seg.stream, seg.path, "retry", _reason(exc), ck))
                continue
            running[ck.id] = (pieces[-1].end, pieces[-1].base + pieces[-1].lines)
            tails += pieces
            continue
        tail = TailFile(seg, seg.path, base=lines)
        try:
            _cut(tail, folder, consume=consume, in_place=seg.path not in copy)
        except Exception as exc:  # a gzip still being written, a file gone: retried next run
            from .checkpoints import _reason

            skipped.append(Skipped(seg.stream, seg.path, "retry", _reason(exc), ck))
            continue
        if tail.end <= seg.start and tail.lines == 0:
            if seg.compressed:  # a copy of what was read: never decompressed again
                st = seg.stat
                ck.copies.append([st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns])
            skipped.append(Skipped(seg.stream, seg.path, "unchanged", checkpoint=ck))
            continue
        running[ck.id] = (tail.end, lines + tail.lines)
        tails.append(tail)
    return tails, skipped, new


def _followed_targets(checkpoints: list[Checkpoint], files) -> list[tuple[str, str, bool]]:
    """The files symlinked sources pointed to, where no source names them now (a repointed
    link): their last rows are finished, as a rotated file's are."""
    from .sources import _identity

    seen = {_identity(Path(p)) for _, p, _ in files}
    out = []
    for c in checkpoints:
        if c.real and os.path.isfile(c.real) and _identity(Path(c.real)) not in seen:
            seen.add(_identity(Path(c.real)))
            out.append((c.stream, c.real, True))
    return out


def _cut(tail: TailFile, folder: Path, *, consume: bool, in_place: bool = True) -> None:
    seg = tail.segment
    if in_place and not seg.compressed and seg.start == 0 and seg.end == seg.stat.st_size:
        tail.read_path, tail.end = seg.path, seg.end
        tail.lines = _count_newlines(seg.path, seg.end) if consume else 0
    else:
        fd, copy = tempfile.mkstemp(prefix="tail-", suffix=".jsonl", dir=folder)
        tail.read_path = copy
        newlines, last, written = 0, b"\n", 0
        with os.fdopen(fd, "wb") as out, (open_binary(seg.path) if seg.compressed else open(seg.path, "rb")) as fh:
            if seg.compressed:
                _skip(fh, seg.start)
            else:
                fh.seek(seg.start)
            remaining = None if seg.end is None else seg.end - seg.start
            while remaining is None or remaining > 0:
                chunk = fh.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
                if not chunk:
                    break
                out.write(chunk)
                newlines += chunk.count(b"\n")
                last = chunk[-1:]
                written += len(chunk)
                if remaining is not None:
                    remaining -= len(chunk)
        tail.end = seg.start + written
        tail.lines = newlines + (0 if last == b"\n" else 1)
    tail.fp, tail.fp_len = _fp(seg, tail.end, consume=consume)


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
    for a, b in zip(cuts, cuts[1:]):
        tail = TailFile(seg, seg.path, base=base)
        _copy_range(tail, folder, a, b)
        tail.fp, tail.fp_len = _fp(seg, tail.end, consume=True)
        base += tail.lines
        out.append(tail)
    return out


def _copy_range(tail: TailFile, folder: Path, a: int, b: int) -> None:
    fd, copy = tempfile.mkstemp(prefix="tail-", suffix=".jsonl", dir=folder)
    tail.read_path = copy
    newlines = 0
    with os.fdopen(fd, "wb") as out, open(tail.segment.path, "rb") as fh:
        fh.seek(a)
        remaining = b - a
        while remaining > 0 and (chunk := fh.read(min(_CHUNK, remaining))):
            out.write(chunk)
            newlines += chunk.count(b"\n")
            remaining -= len(chunk)
    if remaining:
        raise OSError(f"{tail.segment.path} is shorter than when it was planned")
    tail.end, tail.lines = b, newlines


def _fp(seg: Segment, end: int, *, consume: bool) -> tuple[str, int]:
    # The fingerprint covers the first bytes read to their line's end, up to FP_BYTES.
    complete = min(len(seg.head), end if consume else len(seg.head), FP_BYTES)
    ck = seg.checkpoint
    return (fingerprint(seg.head[:complete]), complete) if ck.fp_len < complete else (ck.fp, ck.fp_len)


def _skip(fh, n: int) -> None:
    while n > 0:
        chunk = fh.read(min(_CHUNK, n))
        if not chunk:
            raise EOFError(f"the file holds fewer than {n} bytes past what was read")
        n -= len(chunk)


def _count_newlines(path: str, end: int) -> int:
    count = 0
    with open(path, "rb") as fh:
        remaining = end
        while remaining > 0 and (chunk := fh.read(min(_CHUNK, remaining))):
            count += chunk.count(b"\n")
            remaining -= len(chunk)
    return count


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


# -- SQL ---------------------------------------------------------------------------------


def pruned(lake: Lake, since, until, after_batch: int | None) -> Lake:
    """The lake with only the Parquet files that can hold a row of the window: a file's day
    is its rows' UTC day, and its batch the newest of its rows' (rows without a valid time
    are in every window, and in `day=unknown`)."""
    from dataclasses import replace

    lo = since.astimezone(timezone.utc).date().isoformat() if since is not None else None
    hi = until.astimezone(timezone.utc).date().isoformat() if until is not None else None

    def keep(day, batch) -> bool:
        if after_batch is not None and batch > after_batch:
            return True
        if day is None or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            return True  # `unknown`, or a year past 9999, which sorts before every other day
        return (lo is None or day >= lo) and (hi is None or day <= hi)

    parquet = {s: [p for p, day, batch in parts if keep(day, batch)] for s, parts in lake.parts.items()}
    return replace(lake, parquet=parquet)


def install(con, reader, lake: Lake) -> None:
    """Create `_sessions_files` and `_replay_files` over the store's Parquet files and the tails."""
    reader.build(TAIL_VIEWS)
    con.execute("create or replace temp table _forensics_tails "
                "(read_path varchar, source_file varchar, file_id bigint, fingerprint varchar, base bigint)")
    rows = [[t.read_path, t.segment.path, t.segment.checkpoint.id, t.fp or t.segment.checkpoint.fp, t.base]
            for t in lake.tails]
    if rows:
        con.executemany("insert into _forensics_tails values (?, ?, ?, ?, ?)", rows)
    if not con.execute("select count(*) from duckdb_tables() where table_name = '_forensics_linemap'").fetchone()[0]:
        con.execute("create temp table _forensics_linemap (read_path varchar, ordinal bigint, physical bigint)")
        add_line_maps(con, reader, lake)
    con.execute("set variable forensics_file_paths = ?::varchar[]", [lake.file_paths])
    for stream, tail_view in TAIL_VIEWS.items():
        described = con.execute(f"select column_name, column_type from (describe {tail_view})").fetchall()
        cols = [c for c, _ in described]
        tail = (f"select t.* replace (g.source_file as source_file, "
                f"g.base + coalesce(m.physical, t.line) as line), "
                f"null::bigint as _batch, g.file_id as _file_id, g.fingerprint as _fingerprint\n"
                f"from {tail_view} as t\n"
                f"join _forensics_tails as g on g.read_path = t.source_file\n"
                f"left join _forensics_linemap as m on m.read_path = t.source_file and m.ordinal = t.line")
        body = tail
        files = lake.parquet.get(stream) or []
        if files:
            var = f"forensics_parquet_{stream}"
            con.execute(f"set variable {var} = ?::varchar[]", [files])
            typed = ", ".join(
                (f"coalesce(getvariable('forensics_file_paths')[file_id], source_file)::{t} as source_file"
                 if c == "source_file" else f'"{c}"::{t} as "{c}"') for c, t in described)
            body = (f"select {typed}, batch as _batch, file_id as _file_id, fingerprint as _fingerprint\n"
                    f"from read_parquet(getvariable('{var}'))\nunion all\n{tail}")
        view = "_sessions_files" if stream == "sessions" else "_replay_files"
        con.execute(f"create or replace temp view {view} as {body}")
        del cols


def add_line_maps(con, reader, lake: Lake) -> None:
    """For each tail holding blank lines, map DuckDB's row numbers to physical lines."""
    from .lines import count_lines, nonblank_lines

    if reader.checked is None:
        return
    scans = reader.checked.by_path()
    for t in lake.tails:
        scan = scans.get(t.read_path)
        if scan is None or scan.error:
            continue
        numbered = scan.rows + scan.unreadable_total
        physical = t.lines if t.lines else count_lines(t.read_path)
        if physical <= numbered:
            continue
        fd, csv = tempfile.mkstemp(suffix=".csv", dir=reader._private())
        shifted = 0
        with os.fdopen(fd, "w") as fh:
            for ordinal, lineno, _ in nonblank_lines(t.read_path):
                if ordinal != lineno:
                    fh.write(f"{ordinal},{lineno}\n")
                    shifted += 1
        if not shifted:  # the blank lines all come after the last line DuckDB numbers
            continue
        con.execute("insert into _forensics_linemap select ?, column0, column1 from "
                    "read_csv(?, header = false, columns = {'column0': 'BIGINT', 'column1': 'BIGINT'})",
                    [t.read_path, csv])


# -- what was read ------------------------------------------------------------------------


def tail_report(checked, lake: Lake):
    """The tails' scans under the names people know, with lines counted from each file's start."""
    from dataclasses import replace

    from .lines import ScanReport

    if checked is None:
        return ScanReport([])
    by_read = {t.read_path: t for t in lake.tails}
    merged: dict[tuple[str, str], object] = {}  # one scan a file, however many pieces it was read in
    for scan in checked.files:
        t = by_read.get(scan.path)
        if t is None:
            continue
        b = t.base
        mine = replace(
            scan, path=t.segment.path,
            bad_lines=[(o, ln + b, c) for o, ln, c in scan.bad_lines],
            repaired_lines=[(ln + b, w) for ln, w in scan.repaired_lines],
            previews={ln + b: p for ln, p in scan.previews.items()},
            read_from=None, unreadable=scan.unreadable.copy(), repaired=scan.repaired.copy())
        key = (scan.stream, mine.path)
        if key not in merged:
            merged[key] = mine
            continue
        into = merged[key]
        into.rows += mine.rows
        into.unreadable.update(mine.unreadable)
        into.repaired.update(mine.repaired)
        into.bad_lines += mine.bad_lines
        into.repaired_lines += mine.repaired_lines
        into.previews.update(mine.previews)
        into.error = into.error or mine.error
    files = list(merged.values())
    for sk in lake.skipped:
        if sk.action == "retry":
            from .lines import FileScan

            files.append(FileScan(path=sk.path, stream=sk.stream, error=f"not read now, retried later: {sk.reason}"))
    return ScanReport(files)


def store_report(con, checked, lake: Lake):
    """Every file the store and the tails hold: rows and unreadable lines, stored and new."""
    from .lines import FileScan, ScanReport

    tails = tail_report(checked, lake)
    out: dict[tuple[str, str], FileScan] = {}
    stored_bad: dict[int, list] = {}
    if lake.unreadable:
        for file_id, line, cause, starts in con.execute(
                "select file_id, line, cause, starts from read_parquet(?::varchar[]) order by file_id, line",
                [lake.unreadable]).fetchall():
            stored_bad.setdefault(file_id, []).append((line, cause, starts))
    for ck in lake.checkpoints:
        if not (ck.rows or ck.unreadable):
            continue
        path = lake.file_paths[ck.id - 1] if ck.id - 1 < len(lake.file_paths) else ck.path
        scan = out.setdefault((ck.stream, path), FileScan(path=path, stream=ck.stream))
        scan.rows += ck.rows
        for line, cause, starts in stored_bad.get(ck.id, []):
            scan.unreadable[cause] += 1
            scan.bad_lines.append((line, line, cause))
            scan.previews[line] = starts
    for t in tails.files:
        scan = out.setdefault((t.stream, t.path), FileScan(path=t.path, stream=t.stream))
        scan.rows += t.rows
        scan.unreadable.update(t.unreadable)
        scan.bad_lines += t.bad_lines
        scan.previews.update(t.previews)
        scan.repaired.update(t.repaired)
        scan.repaired_lines += t.repaired_lines
        scan.error = scan.error or t.error
    return ScanReport(list(out.values()))


def open_lake(root: Path, sources: dict | None = None) -> Lake:
    """A store folder ready to read: its committed Parquet files, and each source's tail cut out now.

    ``sources`` (stream -> specs) overrides the sources the store remembers.
    """
    from .manifest import StoreError, check_whole, load

    root = Path(root)
    manifest = load(root)
    if manifest is None:
        if root.exists() and any(root.iterdir()):
            raise StoreError(f"store {root}: not a forensics store (no manifest.json); "
                             "make one with `forensics ingest --store DIR -s LOGS`")
        raise StoreError(f"store {root}: nothing ingested yet; run `forensics ingest --store {root} -s LOGS`")
    check_whole(root, manifest)
    # A stream not given keeps the sources the store remembers for it.
    specs = {s: (sources or {}).get(s) or manifest.sources.get(s, []) for s in ("sessions", "replay_runs")}
    files, missing = source_files(specs)
    tmp = private_folder()
    lake = Lake(root=root, tmp=tmp, checkpoints=manifest.checkpoints, batches=manifest.batches,
                pending=manifest.pending)
    try:
        tails, skipped, new = plan_tails(manifest.checkpoints, files, manifest.next_id(), tmp, consume=False,
                                         adopt_after_ns=manifest.created_ns())
    except BaseException:
        remove_folder(tmp)
        raise
    lake.tails = tails
    lake.skipped = missing + skipped
    from .checkpoints import current_names

    lake.file_paths = current_names(manifest.checkpoints + new)
    for stream in ("sessions", "replay_runs"):
        lake.parts[stream] = [(str(root / f["path"]), f.get("day"), f.get("batch", 0))
                              for f in manifest.files_of(stream)]
        lake.parquet[stream] = [p for p, _, _ in lake.parts[stream]]
    lake.unreadable = [str(root / f["path"]) for f in manifest.files_of("unreadable")]
    lake.replay_sources = bool(specs.get("replay_runs")) or bool(lake.parquet["replay_runs"])
    return lake
