"""Narrow reads: parse only the columns a set of statements reads, and never read NULL for the rest.

The report and the alarm load the logs once into temp tables. Which columns that load
needs is asked of DuckDB's own planner (``columns_read``), or, where a plan cannot say,
taken from every word the SQL names (``columns_named``). A column left out of the load
becomes a *stand-in* in the view: nameable, so the statements bind, but raising if a row
ever evaluates it, so a missing column can never read as NULL.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .columns import ATTEMPTS_VIEW, CALL_COLUMNS

# Starts the error a stand-in column raises.
NOT_READ = "forensics: column "


def sql_text(value: str) -> str:
    """A constant string as an SQL literal (only for text this package writes itself)."""
    return "'" + value.replace("'", "''") + "'"


def columns_named(sql_texts) -> set[str]:
    """Columns some SQL could name (any word of it), plus what the `attempts` view needs."""
    words: set[str] = set()
    for text in sql_texts:
        words |= set(re.findall(r"[a-z_][a-z0-9_]*", text.lower()))
    if "attempts" in words:
        words |= {"attempts"} | {c.strip('"') for c in CALL_COLUMNS}
    return words


def _scanned_columns(plan: list | dict, read: dict[str, set[str]]) -> bool:
    """Add each stand-in table's scanned columns in an EXPLAIN (FORMAT JSON) plan to `read`.

    False if a scan of one of them does not list its columns plainly.
    """
    for node in plan if isinstance(plan, list) else [plan]:
        info = node.get("extra_info") or {}
        table = str(info.get("Table", "")).rsplit(".", 1)[-1].strip('"')
        if table in read:
            projections = info.get("Projections")
            if info.get("Filters") or projections is None:
                return False
            read[table] |= set([projections] if isinstance(projections, str) else projections)
        if not _scanned_columns(node.get("children") or [], read):
            return False
    return True


def columns_read(
    con, described: dict[str, list[tuple[str, str]]], macros: str, statements: list[tuple[str, dict[str, Any]]]
) -> dict[str, set[str]]:
    """The columns of each view in ``described`` ({view: [(name, type)]}) these statements read.

    Each statement is explained against empty stand-in tables on a second cursor, with
    filter pushdown off so that filtered columns show as read. Where the plan cannot say,
    every column the SQL text names is kept: a column is never missing, at worst read
    needlessly.
    """
    import duckdb

    named = columns_named(sql for sql, _ in statements)
    fallback = {v: {n for n, _ in cols if n in named} for v, cols in described.items()}
    probe = con.cursor()
    # The optimizer settings are global to the database, so they are put back after.
    (disabled,) = con.execute("select current_setting('disabled_optimizers')").fetchone()
    try:
        for view, cols in described.items():
            probe.execute(f"create temp table {view} (" + ", ".join(f'"{n}" {t}' for n, t in cols) + ")")
        probe.execute(macros)
        probe.execute(ATTEMPTS_VIEW)
        # Statistics on an empty table would fold every filter away, and pushed-down
        # filters would hide the columns they read.
        probe.execute("set disabled_optimizers = 'statistics_propagation,empty_result_pullup,filter_pushdown'")
        read: dict[str, set[str]] = {v: set() for v in described}
        for sql, params in statements:
            plan = probe.execute("explain (format json) " + sql, params).fetchall()[0][1]
            if not _scanned_columns(json.loads(plan), read):
                return fallback
        return read
    except (duckdb.Error, KeyError, TypeError, ValueError, IndexError):
        return fallback
    finally:
        probe.close()
        con.execute("set disabled_optimizers = ?", [disabled])


def view_over(
    described: list[tuple[str, str]], have: set[str], *, one_file: str | None, stand_ins: bool | set[str]
) -> str:
    """The select list of a view over a (narrow) table, in the file view's column order.

    The table's own columns; `source_file` as a constant (``one_file``, an SQL expression)
    when the stream is one file; and, with ``stand_ins`` (True, or a set of names), every
    other column (or those named) as a stand-in that raises when evaluated.
    """
    out = []
    for name, kind in described:
        if name in have:
            out.append(f'"{name}"')
        elif name == "source_file" and one_file is not None:
            out.append(f'{one_file} as "source_file"')
        elif stand_ins is True or (isinstance(stand_ins, set) and name in stand_ins):
            message = f"{NOT_READ}{name} was not read: the store parsed only what its statements use"
            out.append(f'error({sql_text(message)})::{kind} as "{name}"')
    return ", ".join(out)
