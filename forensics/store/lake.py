"""A store folder as views: its Parquet files, plus each source's live tail (the bytes not ingested yet).

The tail of a file (tails.py cuts it out) is read by the same reader as any log (reader.py).
Its rows are then named as the store names them: the file's current name, and the physical
line counted from the file's first byte.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

from .named import source_files
from .tails import TailFile, plan_tails, private_folder, remove_folder

# Columns the store's rows carry besides the views' own; the views hide them.
PROVENANCE = ("_batch", "_file_id", "_fingerprint")
TAIL_VIEWS = {"sessions": "_sessions_tail", "replay_runs": "_replay_tail"}


@dataclass
class Stored:
    """What the store's committed manifest holds: its Parquet files, the files it holds rows of, its ingests."""

    parts: dict = field(default_factory=dict)  # stream -> [(absolute path, day, batch)] of its Parquet files
    rows: dict = field(default_factory=dict)  # stream -> the rows its Parquet files hold (the manifest's count)
    unreadable: list = field(default_factory=list)  # Parquet files of stored unreadable lines
    checkpoints: list = field(default_factory=list)  # every file the store holds rows of
    batches: list = field(default_factory=list)  # the manifest's recent ingests
    pending: list = field(default_factory=list)  # files the ingests could not read, since when


@dataclass
class Lake:
    """What a Store reads besides its logs: the store's Parquet files and how tail rows are named."""

    root: Path | None = None
    stored: Stored = field(default_factory=Stored)
    tails: list[TailFile] = field(default_factory=list)
    skipped: list = field(default_factory=list)  # files named but not read now, and why
    file_paths: list = field(default_factory=list)  # checkpoint id - 1 -> current name
    tmp: Path | None = None  # the private folder of the tail copies
    replay_sources: bool = False
    not_held: list = field(default_factory=list)  # (stream, path): named here, not by the store's sources

    def notes(self) -> list[str]:
        """What to say on stderr about the files read here that the store does not hold."""
        return [
            f"note: {path} ({stream}) is not in the store {self.root} and its sources do not name it: "
            "read whole from the file"
            for stream, path in self.not_held
        ]

    def close(self) -> None:
        """Remove the tail copies."""
        if self.tmp is not None:
            remove_folder(self.tmp)
            self.tmp = None

    def parquet(self, stream: str) -> list[str]:
        """The Parquet files of one stream."""
        return [p for p, _, _ in self.stored.parts.get(stream, [])]

    def source_files(self, stream: str) -> list[str]:
        """The log files the tail reader reads for one stream."""
        return [t.read_path for t in self.tails if t.segment.stream == stream]


# -- SQL ---------------------------------------------------------------------------------


def _dated(day: str | None) -> bool:
    """A file's day is a date that sorts as its rows' times do: not `unknown`, not a year past 9999."""
    return day is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) is not None


def pruned(lake: Lake, since, until, after_batch: int | None, streams=("sessions", "replay_runs")) -> Lake:
    """The lake with only the Parquet files of ``streams`` that can hold a row of the window: a
    file's day is its rows' UTC day, and its batch the newest of its rows' (rows without a valid
    time are in every window, and in `day=unknown`). The other streams keep every file."""
    from dataclasses import replace

    lo = since.astimezone(UTC).date().isoformat() if since is not None else None
    hi = until.astimezone(UTC).date().isoformat() if until is not None else None

    def keep(day, batch) -> bool:
        if after_batch is not None and batch > after_batch:
            return True
        if not _dated(day):
            return True  # `unknown`, or a year past 9999, which sorts before every other day
        return (lo is None or day >= lo) and (hi is None or day <= hi)

    parts = {s: [f for f in parts if s not in streams or keep(f[1], f[2])] for s, parts in lake.stored.parts.items()}
    return replace(lake, stored=replace(lake.stored, parts=parts))


def install(store, lake: Lake) -> None:
    """Create `_sessions_files` and `_replay_files` over the store's Parquet files and the tails.

    Each window's load installs its pruned lake again: the files are variables the views read
    (each statement binds a view anew), so only what changed is set or created again. A stream
    with no tail reads its Parquet files alone: every statement would otherwise bind the empty
    tail's reader too, and that costs more than reading a small window.
    """
    reader = store.reader
    tailed = {t.segment.stream for t in lake.tails}
    if tailed:
        reader.build({s: v for s, v in TAIL_VIEWS.items() if s in tailed})
        _tails_table(store, lake)
    store.set_variable("forensics_file_paths", lake.file_paths, "varchar[]")
    for stream, tail_view in TAIL_VIEWS.items():
        # The view's types are the reader's (its empty body's, when there is no tail).
        described = store.described(reader.stream_body(stream), view=tail_view if stream in tailed else None)
        branches = []
        files = lake.parquet(stream)
        if files:
            var = f"forensics_parquet_{stream}"
            store.set_variable(var, files, "varchar[]")
            typed = ", ".join(_stored(c, t) for c, t in described)
            branches.append(
                f"select {typed}, batch as _batch, file_id as _file_id, fingerprint as _fingerprint\n"
                f"from read_parquet(getvariable('{var}'))"
            )
        if stream in tailed:
            branches.append(
                f"select t.* replace (g.source_file as source_file, "
                f"g.base + coalesce(m.physical, t.line) as line), "
                f"null::bigint as _batch, g.file_id as _file_id, g.fingerprint as _fingerprint\n"
                f"from {tail_view} as t\n"
                f"join _forensics_tails as g on g.read_path = t.source_file\n"
                f"left join _forensics_linemap as m on m.read_path = t.source_file and m.ordinal = t.line"
            )
        if not branches:  # no rows at all, typed as they would be
            nulls = ", ".join(f'null::{t} as "{c}"' for c, t in described)
            branches.append(
                f"select {nulls}, null::bigint as _batch, null::bigint as _file_id, "
                f"null::varchar as _fingerprint\nwhere false"
            )
        view = "_sessions_files" if stream == "sessions" else "_replay_files"
        store.view(view, "\nunion all\n".join(branches), columns=described)


def _tails_table(store, lake: Lake) -> None:
    """The tails' names and where their lines start (`_forensics_tails`), and their line maps once checked."""
    con, reader = store.con, store.reader
    rows = [
        [t.read_path, t.segment.path, t.segment.checkpoint.id, t.fp or t.segment.checkpoint.identity.fp, t.base]
        for t in lake.tails
    ]
    if store.installed.get("_forensics_tails") != rows:
        con.execute(
            "create or replace temp table _forensics_tails "
            "(read_path varchar, source_file varchar, file_id bigint, fingerprint varchar, base bigint)"
        )
        con.executemany("insert into _forensics_tails values (?, ?, ?, ?, ?)", rows)
        con.execute(
            "create temp table if not exists _forensics_linemap (read_path varchar, ordinal bigint, physical bigint)"
        )
        store.installed["_forensics_tails"] = rows
    # Once a connection's tails are checked (an ingest checks only after its strict pass was refused).
    if reader.checked is not None and not store.installed.get("_forensics_linemap"):
        add_line_maps(con, reader, lake)
        store.installed["_forensics_linemap"] = True


def _stored(c: str, t: str) -> str:
    """A stored column as the view types it: each file's current name; a column the store does
    not keep computed from the ones it does."""
    from ..read.columns import COMPUTED_ON_READ

    if c == "source_file":
        return f"coalesce(getvariable('forensics_file_paths')[file_id], source_file)::{t} as source_file"
    if c in COMPUTED_ON_READ:
        return f'{COMPUTED_ON_READ[c]}::{t} as "{c}"'
    return f'"{c}"::{t} as "{c}"'


def coverage(con, lake: Lake) -> tuple[int, object, object]:
    """All session rows a store and its tails hold, and the oldest and newest timestamp among them.

    The count is the manifest's; the times are read from the files of the first and the last
    day only (a file's day is its rows' UTC day), so neither grows with the store's history.
    """
    parts = lake.stored.parts.get("sessions", [])
    dated = sorted({d for _, d, _ in parts if _dated(d)})
    # (`unknown` holds rows without a time; a year past 9999 sorts before every other day)
    ends = {dated[0], dated[-1]} if dated else set()
    files = [p for p, d, _ in parts if d in ends or not _dated(d)]
    # The oldest and newest are taken in SQL: a time past year 9999 (an offset can carry one
    # there) comes back from DuckDB as text, which Python cannot order among datetimes.
    branches = []
    if any(t.segment.stream == "sessions" for t in lake.tails):  # (else no tail view is made)
        branches.append(f'select "timestamp", true as _tail from {TAIL_VIEWS["sessions"]}')
    if files:
        con.execute("set variable forensics_coverage_files = ?::varchar[]", [files])
        branches.append(
            """select "timestamp", false as _tail from read_parquet(getvariable('forensics_coverage_files'))"""
        )
    tail_rows, oldest, newest = 0, None, None
    if branches:
        tail_rows, oldest, newest = con.execute(
            'select count(*) filter (where _tail), min("timestamp"), max("timestamp") from ('
            + "\nunion all\n".join(branches)
            + ")"
        ).fetchone()
    return lake.stored.rows.get("sessions", 0) + tail_rows, oldest, newest


def add_line_maps(con, reader, lake: Lake) -> None:
    """For each tail holding blank lines, map DuckDB's row numbers to physical lines."""
    from ..read.lines import count_lines, nonblank_lines

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
        fd, csv = tempfile.mkstemp(suffix=".csv", dir=reader.private())
        shifted = 0
        with os.fdopen(fd, "w") as fh:
            for ordinal, lineno, _ in nonblank_lines(t.read_path):
                if ordinal != lineno:
                    fh.write(f"{ordinal},{lineno}\n")
                    shifted += 1
        if not shifted:  # the blank lines all come after the last line DuckDB numbers
            continue
        con.execute(
            "insert into _forensics_linemap select ?, column0, column1 from "
            "read_csv(?, header = false, columns = {'column0': 'BIGINT', 'column1': 'BIGINT'})",
            [t.read_path, csv],
        )


# -- what was read ------------------------------------------------------------------------


def tail_report(checked, lake: Lake):
    """The tails' scans under the names people know, with lines counted from each file's start."""
    from dataclasses import replace

    from ..read.scans import ScanReport

    if checked is None:
        return ScanReport([])
    by_read = {t.read_path: t for t in lake.tails}
    merged: dict[tuple[str, str], object] = {}  # one scan a file, however many pieces it was read in
    for scan in checked.files:
        t = by_read.get(scan.path)
        if t is None:
            continue
        b = t.base
        mine = replace(scan, path=t.segment.path, bad=scan.bad.shifted(b), fixed=scan.fixed.shifted(b), read_from=None)
        key = (scan.stream, mine.path)
        if key not in merged:
            merged[key] = mine
            continue
        merged[key].absorb(mine)
    files = list(merged.values())
    for sk in lake.skipped:
        if sk.action == "retry":
            from ..read.scans import FileScan

            files.append(FileScan(path=sk.path, stream=sk.stream, error=f"not read now, retried later: {sk.reason}"))
    return ScanReport(files)


def store_report(con, checked, lake: Lake):
    """Every file the store and the tails hold: rows and unreadable lines, stored and new."""
    from ..read.scans import FileScan, ScanReport

    tails = tail_report(checked, lake)
    out: dict[tuple[str, str], FileScan] = {}
    stored_bad: dict[int, list] = {}
    if lake.stored.unreadable:
        for file_id, line, cause, starts in con.execute(
            "select file_id, line, cause, starts from read_parquet(?::varchar[]) order by file_id, line",
            [lake.stored.unreadable],
        ).fetchall():
            stored_bad.setdefault(file_id, []).append((line, cause, starts))
    for ck in lake.stored.checkpoints:
        if not (ck.progress.rows or ck.progress.unreadable):
            continue
        path = lake.file_paths[ck.id - 1] if ck.id - 1 < len(lake.file_paths) else ck.path
        scan = out.setdefault((ck.stream, path), FileScan(path=path, stream=ck.stream))
        scan.rows += ck.progress.rows
        for line, cause, starts in stored_bad.get(ck.id, []):
            scan.bad.add(line, line, cause, starts)
    for t in tails.files:
        out.setdefault((t.stream, t.path), FileScan(path=t.path, stream=t.stream)).absorb(t)
    return ScanReport(list(out.values()))


def _not_held(tails, own: dict) -> list[tuple[str, str]]:
    """Files named by sources given to a reading command, of which the store holds nothing and
    which its own sources do not name (no ingest will read them)."""
    from ..read.sources import _identity

    ours = {_identity(Path(p)) for _, p, follows in source_files(own)[0] if follows is None}
    out: dict = {}
    for t in tails:
        seg = t.segment
        if seg.action == "new" and seg.follows is None and _identity(Path(seg.path)) not in ours:
            out.setdefault(seg.path, (seg.stream, seg.path))
    return list(out.values())


def open_lake(root: Path, sources: dict | None = None) -> Lake:
    """A store folder ready to read: its committed Parquet files, and each source's tail cut out now.

    ``sources`` (stream -> specs) overrides the sources the store remembers.
    """
    from ..errors import ParameterError
    from .manifest import StoreError, check_whole, load

    root = Path(root)
    if not root.exists():  # a typo: a reading command makes nothing
        raise ParameterError(
            f"--store {root}: no such folder; make a store with `forensics ingest --store {root} -s LOGS`"
        )
    manifest = load(root)
    if manifest is None:
        if any(root.iterdir()):
            raise StoreError(
                f"store {root}: not a forensics store (no manifest.json); "
                "make one with `forensics ingest --store DIR -s LOGS`"
            )
        raise StoreError(f"store {root}: nothing ingested yet; run `forensics ingest --store {root} -s LOGS`")
    check_whole(root, manifest)
    # A stream not given keeps the sources the store remembers for it.
    specs = {s: (sources or {}).get(s) or manifest.sources.get(s, []) for s in ("sessions", "replay_runs")}
    files, missing = source_files(specs)
    # Sources given here and not the store's own: the siblings beside them are history (as
    # the ingest that first followed them would decide), and one naming nothing is an error,
    # as a cold read of it is.
    own = {s: {os.path.abspath(os.path.expanduser(v)) for v in manifest.sources.get(s, [])} for s in specs}
    fresh = {spec for s in specs for spec in specs[s] if os.path.abspath(os.path.expanduser(spec)) not in own[s]}
    for m in missing:
        if m.path in fresh:
            from ..errors import SourceError

            raise SourceError(m.reason)
    tmp = private_folder()
    stored = Stored(checkpoints=manifest.checkpoints, batches=manifest.batches, pending=manifest.pending)
    lake = Lake(root=root, stored=stored, tmp=tmp)
    try:
        tails, skipped, new = plan_tails(
            manifest.checkpoints, files, manifest.next_id(), tmp, consume=False, history=manifest.history(fresh)
        )
    except BaseException:
        remove_folder(tmp)
        raise
    lake.tails = tails
    lake.skipped = missing + skipped
    if fresh:
        lake.not_held = _not_held(tails, manifest.sources)
    from .checkpoints import current_names

    lake.file_paths = current_names(manifest.checkpoints + new)
    for stream in ("sessions", "replay_runs"):
        stored.parts[stream] = [
            (str(root / f["path"]), f.get("day"), f.get("batch", 0)) for f in manifest.files_of(stream)
        ]
        stored.rows[stream] = sum(f.get("rows", 0) for f in manifest.files_of(stream))
    stored.unreadable = [str(root / f["path"]) for f in manifest.files_of("unreadable")]
    lake.replay_sources = bool(specs.get("replay_runs")) or bool(stored.parts["replay_runs"])
    return lake
