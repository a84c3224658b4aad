"""The store's Parquet schemas as Spark DDL, derived from the DuckDB views' declared types."""

from __future__ import annotations

import re

from ..errors import ForensicsError


def store_schemas() -> dict[str, str]:
    """Each stream's Parquet schema as Spark DDL, derived from the DuckDB view's declared types."""
    import duckdb

    from ..measures import MACROS
    from ..read.columns import READ_MACROS, empty_replay, empty_sessions

    con = duckdb.connect()
    try:
        con.execute(READ_MACROS + MACROS)
        out = {}
        for stream, body in (("sessions", empty_sessions()), ("replay_runs", empty_replay())):
            described = con.execute(f"select column_name, column_type from (describe {body})").fetchall()
            fields = [f"`{n}` {spark_type(t)}" for n, t in described]
            fields += ["`file_id` BIGINT", "`fingerprint` STRING", "`batch` BIGINT"]
            out[stream] = ", ".join(fields)
        return out
    finally:
        con.close()


_SIMPLE = {
    "VARCHAR": "STRING",
    "JSON": "STRING",
    "BIGINT": "BIGINT",
    "INTEGER": "INT",
    "BOOLEAN": "BOOLEAN",
    "DOUBLE": "DOUBLE",
    "FLOAT": "FLOAT",
    "DATE": "DATE",
    "SMALLINT": "SMALLINT",
    "TINYINT": "TINYINT",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "TIMESTAMP": "TIMESTAMP_NTZ",
    "HUGEINT": "DECIMAL(38,0)",
    "UBIGINT": "DECIMAL(20,0)",
    "UINTEGER": "BIGINT",
}


def spark_type(duck: str) -> str:
    """A DuckDB type as Spark DDL: STRUCT(a T, ...) to STRUCT<a: T, ...>, T[] to ARRAY<T>."""
    duck = duck.strip()
    if duck.endswith("[]"):
        return f"ARRAY<{spark_type(duck[:-2])}>"
    if duck.upper().startswith("STRUCT(") and duck.endswith(")"):
        fields, depth, start, inner = [], 0, 0, duck[7:-1]
        for i, ch in enumerate(inner + ","):
            depth += ch == "("
            depth -= ch == ")"
            if ch == "," and depth == 0:
                part = inner[start:i].strip()
                m = re.match(r'^("(?:[^"]|"")*"|\S+)\s+(.*)$', part)
                field = m.group(1).strip('"').replace('""', '"')
                fields.append(f"`{field}`: {spark_type(m.group(2))}")
                start = i + 1
        return f"STRUCT<{', '.join(fields)}>"
    try:
        return _SIMPLE[duck.upper()]
    except KeyError:
        raise ForensicsError(f"no Spark type for DuckDB's {duck}") from None
