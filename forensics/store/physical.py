"""Physical line numbers: DuckDB numbers a file's non-blank lines, people open it at physical lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..read.lines import count_lines, physical_lines

if TYPE_CHECKING:
    from .connection import Result, Store


def to_physical(store: Store, result: Result) -> None:
    """Turn `line` values (DuckDB's non-blank row numbers) into physical line numbers in place."""
    # DuckDB numbers non-blank lines; people open files at physical lines. Blank lines
    # are rare, so the mapping is only computed for files a result actually names.
    if store.lake is not None or "source_file" not in result.columns or "line" not in result.columns:
        # A store's rows carry physical lines already.
        return
    fi, li = result.columns.index("source_file"), result.columns.index("line")
    wanted: dict[str, list[int]] = {}
    for row in result.rows:
        if isinstance(row[fi], str) and isinstance(row[li], int):
            wanted.setdefault(row[fi], []).append(row[li])
    maps = {}
    for path, ordinals in wanted.items():
        if has_blank_lines(store, path):
            maps[path] = physical_lines(readable_path(store, path), ordinals)
    if not maps:
        return
    fixed = []
    for row in result.rows:
        m = maps.get(row[fi])
        if m and row[li] in m:
            row = list(row)
            row[li] = m[row[li]]
            row = tuple(row)
        fixed.append(row)
    result.rows = fixed


def readable_path(store: Store, path: str) -> str:
    """The file to read a log's lines from: the copy its check read, if it read one."""
    scan = store.reader.scan_of(path)
    return scan.read_from if scan is not None and scan.read_from else path


def has_blank_lines(store: Store, path: str) -> bool:
    """Whether a log named in a result has blank lines, so that its line numbers need mapping."""
    if store.lake is not None:
        return False
    if path not in store.reader.paths["sessions"] + store.reader.paths["replay_runs"]:
        return False
    if store.reader.checked is None and store._loaded is not None and store._loaded.window_only:
        # The file's count of non-blank lines is not known here: map by reading it,
        # rather than count its newlines only to compare them with nothing.
        return True
    if path not in store._blank_lines:
        scan = next((s for s in store.scan.files if s.path == path), None)
        if scan is None:
            return False
        total = count_lines(readable_path(store, path))
        store._blank_lines[path] = total - (scan.rows + scan.unreadable_total)
    return store._blank_lines[path] > 0
