"""How a log is read: one typed scan while every line is clean, a checked read once one is not.

1. Optimistically: ``read_json`` with every key's type given (never sampling) and DuckDB's
   errors left on, plus a guard that stops the statement at any line that is not a row of
   its stream. A clean log is read once, at raw DuckDB speed.
2. The first time DuckDB refuses a line or a file, the reader *checks* (check.py): each
   file's lines are counted, and the ones DuckDB cannot take as they are are named, placed
   and, where a producer's decoder would read them, repaired. The views are rebuilt to skip
   exactly the unreadable lines, to read the repaired ones from a private copy, and to read
   every key as text or JSON. A file that cannot be read is named and left out; a compressed
   file cut short is read up to where it breaks. The statement then runs again.

Either way a bad line is counted and reported, never a NULL row, and no line or file
blinds the others.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from .check import FEW_FILES, check_stream, write_repairs
from .columns import (
    SESSION_COLUMNS,
    empty_replay,
    empty_sessions,
    is_row_sql,
    read_spec,
    replay_parsed,
    replay_select,
    session_columns_out,
    session_select,
)
from .lines import MAX_OBJECT_BYTES
from .scans import FileScan, ScanReport

STREAMS = ("sessions", "replay_runs")

NOT_A_ROW = "forensics: a line is not a row of its stream"


def duck_path(path: str) -> str:
    """A path as DuckDB's file readers take it literally: they read every name as a glob."""
    return re.sub(r"[\[*?]", lambda m: f"[{m.group(0)}]", path)


def _limit_for(length: int) -> int:
    return 1 << (length * 2).bit_length()


class LogReader:
    """The files of both streams as the `_sessions_files` and `_replay_files` views."""

    def __init__(self, con, paths: dict[str, list[str]]):
        self.con = con
        self.paths = paths
        self.checked: ScanReport | None = None
        # The views read tolerantly once a statement failed, or the check found a line or
        # a file that the optimistic reader would stop at (or read wrong).
        self.tolerant = False
        self._refs: dict[str, str] = {}
        self._limit = {s: MAX_OBJECT_BYTES for s in STREAMS}
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._built: dict[str, str] = {}  # view -> the text it was created with
        con.execute("create temp table _forensics_skip (stream varchar, source_file varchar, line bigint)")
        con.execute(
            "create temp table _forensics_repaired (stream varchar, copy_line bigint, source_file varchar, line bigint)"
        )

    @property
    def strict(self) -> bool:
        """True while the optimistic reader is in use."""
        return not self.tolerant

    def ref(self, value: str) -> str:
        """Bind a text as a DuckDB variable so view text never holds a formatted literal."""
        if value not in self._refs:
            name = f"forensics_v{len(self._refs) + 1}"
            self.con.execute(f"set variable {name} = ?", [value])
            self._refs[value] = f"getvariable('{name}')"
        return self._refs[value]

    def refs_list(self, paths: list[str]) -> str:
        """A list of files for DuckDB's readers, bound as one variable (a thousand files, one bind)."""
        key = "\0".join(duck_path(p) for p in paths)
        if key not in self._refs:
            name = f"forensics_v{len(self._refs) + 1}"
            self.con.execute(f"set variable {name} = ?::varchar[]", [[duck_path(p) for p in paths]])
            self._refs[key] = f"getvariable('{name}')"
        return self._refs[key]

    def file_ref(self, path: str) -> str:
        """A file for DuckDB's readers to read as named, bound as a variable."""
        return self.ref(duck_path(path))

    def private(self) -> Path:
        """The reader's private folder (made when first asked for), removed by `close`."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="forensics-")
        return Path(self._tmp.name)

    def repaired_copy(self, stream: str) -> Path:
        """The private copy a stream's repaired lines are read from."""
        return self.private() / f"repaired-{stream}.jsonl"

    def salvage_copy(self, path: str) -> Path:
        """A private file to decompress a log into, named apart from every other."""
        # A file is salvaged after it was bound as a variable by its own name: the count of
        # bindings tells the copies of two files of the same name apart.
        return self.private() / f"salvaged-{len(self._refs)}-{Path(path).name}.jsonl"

    # -- what is read, file by file --------------------------------------------------

    def scan_of(self, path: str) -> FileScan | None:
        """What the check found of one file (None before the check)."""
        if self.checked is None:
            return None
        return self.checked.by_path().get(path)

    def limit(self, stream: str) -> int:
        """The longest line a stream's readers take, in bytes."""
        return self._limit[stream]

    def raise_limit(self, stream: str, length: int) -> None:
        """Let a stream's readers take a line of `length` bytes (with room to spare)."""
        self._limit[stream] = max(self._limit[stream], _limit_for(length))

    def readable(self, stream: str) -> list[tuple[str, str]]:
        """(name people know, path DuckDB reads) for each file of a stream that can be read."""
        out = []
        for path in self.paths[stream]:
            scan = self.scan_of(path)
            if scan is not None and scan.error and not scan.read_from:
                continue
            out.append((path, scan.read_from if scan is not None and scan.read_from else path))
        return out

    def _groups(self, stream: str) -> list[list[tuple[str, str]]]:
        files = self.readable(stream)
        if len(files) <= FEW_FILES:
            return [[f] for f in files]
        # Files read from a private copy go alone (their rows carry the original's name).
        alone = [f for f in files if f[0] != f[1]]
        together = [f for f in files if f[0] == f[1]]
        return ([together] if together else []) + [[f] for f in alone]

    # -- building the views ----------------------------------------------------------

    def _reader(self, stream: str, files: list[tuple[str, str]], *, tolerant: bool) -> str:
        """The table function that reads a group of files, with ordinality."""
        many = len(files) > 1
        where = self.refs_list([p for _, p in files]) if many else self.file_ref(files[0][1])
        options = f", maximum_object_size = {self._limit[stream]}"
        if tolerant:
            options += ", ignore_errors = true"
        if many:
            options += ", filename = true"
        if stream == "sessions":
            spec = read_spec(SESSION_COLUMNS, strict=not tolerant)
            return (
                f"read_json({where}, format = 'newline_delimited', records = true, "
                f"columns = {spec}{options}) with ordinality"
            )
        return f"(select *, {replay_parsed()} from read_ndjson_objects({where}{options}) with ordinality)"

    def _group_select(self, stream: str, files: list[tuple[str, str]], *, tolerant: bool) -> str:
        """One group's rows with `source_file`, `line` and `_is_row` (or the strict guard)."""
        many = len(files) > 1
        source = "filename" if many else self.ref(files[0][0])
        # One reader over many files numbers rows across them, in file order: a file's own
        # line is its row's number less the file's first.
        line = "ordinality - min(ordinality) over (partition by filename) + 1" if many else "ordinality"
        reader = self._reader(stream, files, tolerant=tolerant)
        if stream == "sessions":
            select = session_select(strict=not tolerant)
            guard = is_row_sql("sessions")
        else:
            select = replay_select("json")
            guard = is_row_sql("replay_runs", over="json")
            if not tolerant:
                # json_transform reads a repeated key's first copy where the check reads the
                # last (read_json refuses the line, as the sessions reader does): refused here
                # too, the line is found by the check and read as the store reads it.
                guard = f"({guard} and len(_k) = list_unique(_k))"
        if tolerant:
            return f"select {select}, {source} as source_file, {line} as line, {guard} as _is_row from {reader}"
        check = f"case when {guard} then true else error('{NOT_A_ROW}') end"
        return f"select {select}, {source} as source_file, {line} as line from {reader} where {check}"

    def _repaired_select(self, stream: str) -> str | None:
        if self.checked is None or self._tmp is None:
            return None
        copy = self.repaired_copy(stream)
        if not copy.exists():
            return None
        files = [(str(copy), str(copy))]
        reader = self._reader(stream, files, tolerant=True)
        select = session_select(strict=False) if stream == "sessions" else replay_select("json")
        guard = is_row_sql("sessions") if stream == "sessions" else is_row_sql("replay_runs", over="json")
        return (
            f"select {select}, _r.source_file as source_file, _r.line as line, {guard} as _is_row "
            f"from {reader} join _forensics_repaired as _r "
            f"on _r.stream = '{stream}' and _r.copy_line = ordinality"
        )

    def _tolerant_rows(self, stream: str) -> str | None:
        """Every line the tolerant reader reads but the skipped ones, with `_is_row`."""
        branches = [self._group_select(stream, g, tolerant=True) for g in self._groups(stream)]
        if branches:
            body = "\nunion all\n".join(branches)
            branches = [
                f"select * from ({body}) as _rows "
                f"where line not in (select line from _forensics_skip as _k "
                f"where _k.stream = '{stream}' and _k.source_file = _rows.source_file)"
            ]
        repaired = self._repaired_select(stream)
        if repaired:
            branches.append(repaired)
        return "\nunion all\n".join(branches) if branches else None

    def stream_body(self, stream: str) -> str:
        """The body of a stream's file view: every readable row, typed, with file and line."""
        if not self.tolerant:
            branches = [self._group_select(stream, g, tolerant=False) for g in self._groups(stream)]
            body = "\nunion all\n".join(branches) if branches else None
        else:
            rows = self._tolerant_rows(stream)
            body = f"select * exclude (_is_row) from ({rows}) where _is_row" if rows else None
        if body is None:
            return empty_sessions() if stream == "sessions" else empty_replay()
        if stream == "sessions":
            body = f"select {session_columns_out()}\nfrom (\n{body}\n)"
        return body

    def build(self, names: dict[str, str] | None = None) -> None:
        """(Re)create `_sessions_files` and `_replay_files` (or the given streams' names) for the current mode.

        A view whose text is the same is left as it is: a statement binds a view's text anew.
        """
        names = names or {"sessions": "_sessions_files", "replay_runs": "_replay_files"}
        for stream in STREAMS:
            if stream not in names:
                continue
            body = self.stream_body(stream)
            if self._built.get(names[stream]) != body:
                self.con.execute(f"create or replace temp view {names[stream]} as {body}")
                self._built[names[stream]] = body

    # -- the check -------------------------------------------------------------------

    def check(self) -> ScanReport:
        """Check every file once; if anything was found, `stream_body` reads tolerantly from then on.

        A log in which the check finds nothing keeps the optimistic reader: its views are
        already right, and cheaper.
        """
        if self.checked is None:
            repairs: list[tuple[str, str, int, str]] = []
            scans: list[FileScan] = []
            limits = dict(self._limit)
            for stream in STREAMS:
                scans += check_stream(self, stream, repairs)
            self.checked = ScanReport(scans)
            for stream in STREAMS:
                write_repairs(self, stream, repairs)
            found = any(f.error or f.read_from or f.bad.causes or f.fixed.causes for f in scans)
            self.tolerant = self.tolerant or found or limits != self._limit
        return self.checked

    def close(self) -> None:
        """Remove the private copies."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
