"""How a log is read: one typed scan while every line is clean, a checked read once one is not.

1. Optimistically: ``read_json`` with every key's type given (never sampling) and DuckDB's
   errors left on, plus a guard that stops the statement at any line that is not a row of
   its stream. A clean log is read once, at raw DuckDB speed.
2. The first time DuckDB refuses a line or a file, the reader *checks*: one scan per stream
   counts each file's lines and flags the ones that are not plain JSON objects or that
   repeat a key; Python names the cause and physical line of each and repairs what a
   producer's decoder would read (lines.py). The views are rebuilt to skip exactly the
   unreadable lines, to read the repaired ones from a private copy, and to read every key
   as text or JSON. A file that cannot be read is named and left out; a compressed file
   cut short is read up to where it breaks. The statement then runs again.

Either way a bad line is counted and reported, never a NULL row, and no line or file
blinds the others.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from ..errors import first_line
from .columns import (
    SESSION_COLUMNS,
    empty_replay,
    empty_sessions,
    guard_keys,
    is_row,
    is_row_sql,
    read_spec,
    replay_select,
    session_columns_out,
    session_select,
)
from .lines import MAX_OBJECT_BYTES, FileScan, ScanReport, judge_lines, longest_line, open_binary

STREAMS = ("sessions", "replay_runs")

# Up to this many files, each is read by its own table function, numbered by its own
# ordinality; past it, one table function reads them all (binding a thousand of them costs
# more than the read), and line numbers come from each file's first row in a count scan.
FEW_FILES = 8

NOT_A_ROW = "forensics: a line is not a row of its stream"

# Lines that are JSON objects, but not rows of the stream they were found in.
_NOT_ROWS = ("foreign_row", "empty_object", "not_a_row")


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

    def _refs_list(self, paths: list[str]) -> str:
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

    def _private(self) -> Path:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="forensics-")
        return Path(self._tmp.name)

    # -- what is read, file by file --------------------------------------------------

    def scan_of(self, path: str) -> FileScan | None:
        """What the check found of one file (None before the check)."""
        if self.checked is None:
            return None
        return self.checked.by_path().get(path)

    def limit(self, stream: str) -> int:
        """The longest line a stream's readers take, in bytes."""
        return self._limit[stream]

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
        where = self._refs_list([p for _, p in files]) if many else self.file_ref(files[0][1])
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
        return f"read_ndjson_objects({where}{options}) with ordinality"

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
        if tolerant:
            return f"select {select}, {source} as source_file, {line} as line, {guard} as _is_row from {reader}"
        check = f"case when {guard} then true else error('{NOT_A_ROW}') end"
        return f"select {select}, {source} as source_file, {line} as line from {reader} where {check}"

    def _repaired_select(self, stream: str) -> str | None:
        if self.checked is None or self._tmp is None:
            return None
        copy = self._private() / f"repaired-{stream}.jsonl"
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
        """(Re)create `_sessions_files` and `_replay_files` (or the given names) for the current mode."""
        names = names or {"sessions": "_sessions_files", "replay_runs": "_replay_files"}
        for stream in STREAMS:
            self.con.execute(f"create or replace temp view {names[stream]} as {self.stream_body(stream)}")

    # -- the check -------------------------------------------------------------------

    def check(self) -> ScanReport:
        """Check every file once; if anything was found, `stream_body` reads tolerantly from then on.

        A log in which the check finds nothing keeps the optimistic reader: its views are
        already right, and cheaper.
        """
        if self.checked is None:
            repairs: list[tuple[str, str, int, str]] = []
            scans = []
            limits = dict(self._limit)
            for stream in STREAMS:
                scans += self._check_stream(stream, repairs)
            self.checked = ScanReport(scans)
            self._write_repairs(repairs)
            found = any(f.error or f.read_from or f.unreadable or f.repaired for f in scans)
            self.tolerant = self.tolerant or found or limits != self._limit
        return self.checked

    def _check_stream(self, stream: str, repairs: list) -> list[FileScan]:
        import duckdb

        scans = {p: FileScan(path=p, stream=stream) for p in self.paths[stream]}
        for path, scan in scans.items():
            scan.error = _unopenable(path)
        readable = [p for p in self.paths[stream] if not scans[p].error]
        found: dict[str, tuple[int, list[tuple[int, str]]]] = {}
        groups = [readable] if len(readable) > FEW_FILES else [[p] for p in readable]
        for group in groups:
            try:
                found.update(self._flag(stream, group))
                continue
            except duckdb.Error:
                pass
            for path in group:  # find the file at fault, and read the others
                try:
                    found.update(self._flag_sized(stream, path))
                except duckdb.Error as exc:
                    copy = self._salvage(path, scans[path], exc)
                    if copy is not None:
                        try:
                            found.update({path: self._flag_sized(stream, copy)[copy]})
                        except duckdb.Error as again:
                            scans[path].read_from = None
                            scans[path].error = first_line(again)
        for path, (count, flagged) in found.items():
            scan = scans[path]
            self._judge(stream, scan, dict(flagged), repairs)
            # Every line DuckDB numbered is a row but the unreadable ones (a compressed
            # file's lost tail was never numbered).
            scan.rows = count - sum(n for c, n in scan.unreadable.items() if c != "truncated_compressed")
        return list(scans.values())

    def _flag_sized(self, stream: str, path: str) -> dict[str, tuple[int, list[tuple[int, str]]]]:
        """`_flag` for one file, with a size limit raised to its longest line if DuckDB asks for one."""
        import duckdb

        try:
            return self._flag(stream, [path])
        except duckdb.InvalidInputException as exc:
            if "maximum_object_size" not in str(exc):
                raise
        self._limit[stream] = max(self._limit[stream], _limit_for(longest_line(path)))
        return self._flag(stream, [path])

    def _flag(self, stream: str, paths: list[str]) -> dict[str, tuple[int, list[tuple[int, str]]]]:
        """Per file: its line count and the (ordinal, flag) of each line to look at.

        Two narrow scans count, on every core: the lines as JSON text (what does not parse,
        is no object, is empty or repeats a key), and the guard's keys typed by read_json
        (objects that are no row of their stream). Numbering lines makes DuckDB read on one
        thread, so only a file where something was counted is read again to find where, and
        only for what was counted there.
        """
        many = len(paths) > 1
        source = self._refs_list(paths) if many else self.file_ref(paths[0])
        options = f"ignore_errors = true, maximum_object_size = {self._limit[stream]}"
        if many:
            options += ", filename = true"
        file = "filename" if many else "null"
        counts = self.con.execute(
            f"""select {file} as file, count(*), count(*) filter (where broken),
                count(*) filter (where not broken and (len(keys) = 0 or len(keys) <> list_unique(keys)))
            from (
                select {file} as filename, json is null or not starts_with(ltrim(json::varchar), '{{') as broken,
                    json_keys(json) as keys
                from read_ndjson_objects({source}, {options})
            )
            group by all"""
        ).fetchall()
        strangers = dict(
            self.con.execute(
                f"""select {file} as file, count(*)
            from read_json({source}, format = 'newline_delimited', records = true,
                columns = {self._guard_spec(stream)}, {options})
            where not {is_row_sql(stream)}
            group by all"""
            ).fetchall()
        )
        out = {}
        for f, lines, broken, odd_keys in counts:
            path = f if many else paths[0]
            flagged: dict[int, str] = {}
            if broken or odd_keys:
                flagged = self._locate_text(stream, path, keys=bool(odd_keys))
            if strangers.get(f):
                for o, foreign in self._locate_strangers(stream, path):
                    # A line that did not parse reads as a row of NULLs there: flagged already.
                    flagged.setdefault(o, "foreign_row" if foreign else "not_a_row")
            out[path] = (lines, sorted(flagged.items()))
        for path in paths:
            out.setdefault(path, (0, []))
        return out

    def _guard_spec(self, stream: str) -> str:
        return "{" + ", ".join(f"'{k}': '{'VARCHAR' if k == 'schema' else 'JSON'}'" for k in guard_keys(stream)) + "}"

    def _locate_text(self, stream: str, path: str, *, keys: bool) -> dict[int, str]:
        """Where in one file the lines that are not plain JSON objects are (and, with ``keys``,
        the empty ones and those that repeat a key)."""
        cases = [
            "when json is null then 'unparsed'",
            "when not starts_with(ltrim(json::varchar), '{') then 'not_object'",
        ]
        if keys:
            cases += [
                "when len(json_keys(json)) = 0 then 'empty_object'",
                "when len(json_keys(json)) <> list_unique(json_keys(json)) then 'duplicate_keys'",
            ]
        rows = self.con.execute(
            f"""select ordinality, flag
            from (
                select ordinality, case {" ".join(cases)} end as flag
                from read_ndjson_objects({self.file_ref(path)}, ignore_errors = true,
                    maximum_object_size = {self._limit[stream]}) with ordinality
            )
            where flag is not null"""
        ).fetchall()
        return dict(rows)

    def _locate_strangers(self, stream: str, path: str) -> list[tuple[int, bool]]:
        """Where in one file the objects that are no row of its stream are, and whether each
        names another stream's schema."""
        return self.con.execute(
            f"""select ordinality, schema is not null
            from read_json({self.file_ref(path)}, format = 'newline_delimited', records = true,
                columns = {self._guard_spec(stream)}, ignore_errors = true,
                maximum_object_size = {self._limit[stream]}) with ordinality
            where not {is_row_sql(stream)}"""
        ).fetchall()

    def _salvage(self, path: str, scan: FileScan, exc: Exception) -> str | None:
        """Decompress a file DuckDB could not read into a private copy, up to where it breaks.

        Python's decompressors take some files DuckDB's refuse (an empty .gz, a header with a
        comment, zero padding after the stream): those are read whole from the copy. A file
        cut short is read up to the break, and its lost tail counted.
        """
        scan.error = first_line(exc)
        if not path.endswith((".gz", ".zst")):
            return None
        copy = self._private() / f"salvaged-{len(self._refs)}-{Path(path).name}.jsonl"
        kept = 0
        with open(copy, "wb") as out:
            try:
                with open_binary(path) as fh:
                    for line in fh:
                        out.write(line)
                        kept += 1
            except Exception as broke:  # what each decompressor raises differs; all mean "cut short"
                scan.error = f"compressed file cut short after {kept} line(s): {first_line(broke)}"
                scan.unreadable["truncated_compressed"] += 1
                scan.bad_lines.append((0, kept + 1, "truncated_compressed"))
            else:
                scan.error = None
        scan.read_from = str(copy)
        return str(copy)

    def _judge(self, stream: str, scan: FileScan, flagged: dict[int, str], repairs: list) -> None:
        """Name each flagged line's cause, repair what a producer's decoder would read, skip the rest."""
        if not flagged:
            return
        verdicts = judge_lines(scan.read_from or scan.path, set(flagged), max_bytes=self._limit[stream])
        skip = []
        for ordinal in sorted(flagged):
            v = verdicts.get(ordinal)
            if v is None:
                continue
            cause = flagged[ordinal] if flagged[ordinal] in _NOT_ROWS else v.cause
            if cause == "too_large":  # readable: this stream gets a larger limit
                self._limit[stream] = max(self._limit[stream], _limit_for(v.line))
                continue
            skip.append([stream, scan.path, ordinal])
            if v.repaired is not None and cause not in _NOT_ROWS:
                obj = json.loads(v.repaired)
                if is_row(obj, stream):
                    for what in cause.split("+"):
                        scan.repaired[what] += 1
                    scan.repaired_lines.append((v.line, cause))
                    repairs.append((stream, scan.path, ordinal, v.repaired))
                    self._limit[stream] = max(self._limit[stream], _limit_for(len(v.repaired)))
                    continue
                cause = "empty_object" if not obj else "foreign_row" if obj.get("schema") is not None else "not_a_row"
            scan.unreadable[cause] += 1
            scan.bad_lines.append((ordinal, v.line, cause))
            scan.previews[v.line] = v.preview
        if skip:
            self.con.executemany("insert into _forensics_skip values (?, ?, ?)", skip)

    def _write_repairs(self, repairs: list) -> None:
        for stream in STREAMS:
            mine = [r for r in repairs if r[0] == stream]
            if not mine:
                continue
            copy = self._private() / f"repaired-{stream}.jsonl"
            with open(copy, "w", encoding="utf-8") as fh:
                for _, _, _, text in mine:
                    fh.write(text + "\n")
            self.con.executemany(
                "insert into _forensics_repaired values (?, ?, ?, ?)",
                [[stream, i, path, ordinal] for i, (_, path, ordinal, _) in enumerate(mine, 1)],
            )

    def close(self) -> None:
        """Remove the private copies."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _unopenable(path: str) -> str | None:
    """Why a file cannot be opened right now (gone, a folder, no permission), or None."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        return f"cannot be opened: {exc.strerror or exc}"
    try:
        if not os.path.isfile(path):
            return "is not a regular file"
    finally:
        os.close(fd)
    return None
