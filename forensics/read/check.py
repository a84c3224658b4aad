"""The reader's check: every file read once more, to find, name and place each line it cannot take as it is.

One scan per stream counts each file's lines and flags the ones that are not plain JSON
objects, that repeat a key, or that are no row of their stream; Python names the cause and
physical line of each and repairs what a producer's decoder would read (lines.py). A file
DuckDB cannot open as it is is decompressed into a private copy, up to where it breaks.
What the check finds, the reader's tolerant views skip, or read repaired (reader.py).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from ..errors import first_line
from ..output import counted
from .columns import guard_keys, is_row, is_row_sql, schema_sql
from .lines import judge_lines, longest_line, open_binary
from .scans import FileScan

if TYPE_CHECKING:
    from .reader import LogReader

# Up to this many files, each is read by its own table function, numbered by its own
# ordinality; past it, one table function reads them all (binding a thousand of them costs
# more than the read), and line numbers come from each file's first row in a count scan.
FEW_FILES = 8

# Lines that are JSON objects, but not rows of the stream they were found in.
_NOT_ROWS = ("foreign_row", "empty_object", "not_a_row")


def check_stream(reader: LogReader, stream: str, repairs: list) -> list[FileScan]:
    """What each file of one stream holds; the lines read repaired are added to `repairs`."""
    import duckdb

    scans = {p: FileScan(path=p, stream=stream) for p in reader.paths[stream]}
    for path, scan in scans.items():
        scan.error = _unopenable(path)
    readable = [p for p in reader.paths[stream] if not scans[p].error]
    found: dict[str, tuple[int, list[tuple[int, str]]]] = {}
    groups = [readable] if len(readable) > FEW_FILES else [[p] for p in readable]
    for group in groups:
        try:
            found.update(_flag(reader, stream, group))
            continue
        except duckdb.Error:
            pass
        for path in group:  # find the file at fault, and read the others
            try:
                found.update(_flag_sized(reader, stream, path))
            except duckdb.Error as exc:
                copy = _salvage(reader, path, scans[path], exc)
                if copy is not None:
                    try:
                        found.update({path: _flag_sized(reader, stream, copy)[copy]})
                    except duckdb.Error as again:
                        scans[path].read_from = None
                        scans[path].error = first_line(again)
    for path, (count, flagged) in found.items():
        scan = scans[path]
        _judge(reader, stream, scan, dict(flagged), repairs)
        # Every line DuckDB numbered is a row but the unreadable ones (a compressed
        # file's lost tail was never numbered).
        scan.rows = count - sum(n for c, n in scan.bad.causes.items() if c != "truncated_compressed")
    return list(scans.values())


def write_repairs(reader: LogReader, stream: str, repairs: list) -> None:
    """Write a stream's repaired lines to the private copy its tolerant view reads them from."""
    mine = [r for r in repairs if r[0] == stream]
    if not mine:
        return
    with open(reader.repaired_copy(stream), "w", encoding="utf-8") as fh:
        for _, _, _, text in mine:
            fh.write(text + "\n")
    reader.con.executemany(
        "insert into _forensics_repaired values (?, ?, ?, ?)",
        [[stream, i, path, ordinal] for i, (_, path, ordinal, _) in enumerate(mine, 1)],
    )


def _flag_sized(reader: LogReader, stream: str, path: str) -> dict[str, tuple[int, list[tuple[int, str]]]]:
    """`_flag` for one file, with a size limit raised to its longest line if DuckDB asks for one."""
    import duckdb

    try:
        return _flag(reader, stream, [path])
    except duckdb.InvalidInputException as exc:
        if "maximum_object_size" not in str(exc):
            raise
    reader.raise_limit(stream, longest_line(path))
    return _flag(reader, stream, [path])


def _flag(reader: LogReader, stream: str, paths: list[str]) -> dict[str, tuple[int, list[tuple[int, str]]]]:
    """Per file: its line count and the (ordinal, flag) of each line to look at.

    Two narrow scans count, on every core: the lines as JSON text (what does not parse,
    is no object, is empty or repeats a key), and the guard's keys typed by read_json
    (objects that are no row of their stream). Numbering lines makes DuckDB read on one
    thread, so only a file where something was counted is read again to find where, and
    only for what was counted there.
    """
    many = len(paths) > 1
    source = reader.refs_list(paths) if many else reader.file_ref(paths[0])
    options = f"ignore_errors = true, maximum_object_size = {reader.limit(stream)}"
    if many:
        options += ", filename = true"
    file = "filename" if many else "null"
    counts = reader.con.execute(
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
        reader.con.execute(
            f"""select {file} as file, count(*)
        from read_json({source}, format = 'newline_delimited', records = true,
            columns = {_guard_spec(stream)}, {options})
        where not {is_row_sql(stream)}
        group by all"""
        ).fetchall()
    )
    out = {}
    for f, lines, broken, odd_keys in counts:
        path = f if many else paths[0]
        flagged: dict[int, str] = {}
        if broken or odd_keys:
            flagged = _locate_text(reader, stream, path, keys=bool(odd_keys))
        if strangers.get(f):
            for o, foreign in _locate_strangers(reader, stream, path):
                # A line that did not parse reads as a row of NULLs there: flagged already.
                flagged.setdefault(o, "foreign_row" if foreign else "not_a_row")
        out[path] = (lines, sorted(flagged.items()))
    for path in paths:
        out.setdefault(path, (0, []))
    return out


def _guard_spec(stream: str) -> str:
    return "{" + ", ".join(f"'{k}': 'JSON'" for k in guard_keys(stream)) + "}"


def _locate_text(reader: LogReader, stream: str, path: str, *, keys: bool) -> dict[int, str]:
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
    rows = reader.con.execute(
        f"""select ordinality, flag
        from (
            select ordinality, case {" ".join(cases)} end as flag
            from read_ndjson_objects({reader.file_ref(path)}, ignore_errors = true,
                maximum_object_size = {reader.limit(stream)}) with ordinality
        )
        where flag is not null"""
    ).fetchall()
    return dict(rows)


def _locate_strangers(reader: LogReader, stream: str, path: str) -> list[tuple[int, bool]]:
    """Where in one file the objects that are no row of its stream are, and whether each
    names another stream's schema."""
    return reader.con.execute(
        f"""select ordinality, {schema_sql("schema")} is not null
        from read_json({reader.file_ref(path)}, format = 'newline_delimited', records = true,
            columns = {_guard_spec(stream)}, ignore_errors = true,
            maximum_object_size = {reader.limit(stream)}) with ordinality
        where not {is_row_sql(stream)}"""
    ).fetchall()


def _salvage(reader: LogReader, path: str, scan: FileScan, exc: Exception) -> str | None:
    """Decompress a file DuckDB could not read into a private copy, up to where it breaks.

    Python's decompressors take some files DuckDB's refuse (an empty .gz, a header with a
    comment, zero padding after the stream): those are read whole from the copy. A file
    cut short is read up to the break, and its lost tail counted.
    """
    scan.error = first_line(exc)
    if not path.endswith((".gz", ".zst")):
        return None
    copy = reader.salvage_copy(path)
    kept = 0
    with open(copy, "wb") as out:
        try:
            with open_binary(path) as fh:
                for line in fh:
                    out.write(line)
                    kept += 1
        except Exception as broke:  # what each decompressor raises differs; all mean "cut short"
            scan.error = f"compressed file cut short after {counted(kept, 'line')}: {first_line(broke)}"
            scan.bad.add(0, kept + 1, "truncated_compressed")
        else:
            scan.error = None
    scan.read_from = str(copy)
    return str(copy)


def _judge(reader: LogReader, stream: str, scan: FileScan, flagged: dict[int, str], repairs: list) -> None:
    """Name each flagged line's cause, repair what a producer's decoder would read, skip the rest."""
    if not flagged:
        return
    verdicts = judge_lines(scan.read_from or scan.path, set(flagged), max_bytes=reader.limit(stream))
    skip = []
    for ordinal in sorted(flagged):
        v = verdicts.get(ordinal)
        if v is None:
            continue
        cause = flagged[ordinal] if flagged[ordinal] in _NOT_ROWS else v.cause
        if cause == "too_large":  # readable: this stream gets a larger limit
            reader.raise_limit(stream, v.line)
            continue
        skip.append([stream, scan.path, ordinal])
        if v.repaired is not None and cause not in _NOT_ROWS:
            obj = json.loads(v.repaired)
            if is_row(obj, stream):
                scan.fixed.add(v.line, cause)
                repairs.append((stream, scan.path, ordinal, v.repaired))
                reader.raise_limit(stream, len(v.repaired))
                continue
            foreign = isinstance(obj.get("schema"), str)
            cause = "empty_object" if not obj else "foreign_row" if foreign else "not_a_row"
        scan.bad.add(ordinal, v.line, cause, v.preview)
    if skip:
        reader.con.executemany("insert into _forensics_skip values (?, ?, ?)", skip)


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
