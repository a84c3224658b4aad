"""Each stream's columns, declared once: read specs, view selects and empty views derive from here.

A column's *wire* type is what the format promises on the line (SESSION_FORMAT.md). From it
follow how the tolerant reader reads the key (text or JSON, so a wrong-typed value never
loses a row), how the optimistic reader types it, how the view types it, and how `doctor`
tells a value of the wrong JSON type.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..measures import ATTEMPTS_IN_ORDER, ATTEMPTS_TO_ACCEPT, FIRST_SHOT

SESSION_SCHEMA_PREFIX = "session."
REPLAY_SCHEMA_PREFIX = "replay."

ATTEMPT_TYPE = "STRUCT(iteration BIGINT, verdict_kind VARCHAR, error VARCHAR, span_id VARCHAR)[]"
ATTEMPTS_SHAPE = '[{"iteration":"BIGINT","verdict_kind":"VARCHAR","error":"VARCHAR","span_id":"VARCHAR"}]'
RETRIEVAL_TYPE = "STRUCT(query VARCHAR, k BIGINT, hits STRUCT(doc_id VARCHAR, score DOUBLE)[])"
RETRIEVAL_SHAPE = '{"query":"VARCHAR","k":"BIGINT","hits":[{"doc_id":"VARCHAR","score":"DOUBLE"}]}'

# What json_type() answers for a value of each wire type (doctor's wrong-type check).
JSON_TYPES = {
    "string": ("VARCHAR",),
    "timestamp": ("VARCHAR",),
    "integer": ("BIGINT", "UBIGINT"),
    "boolean": ("BOOLEAN",),
    "object": ("OBJECT",),
    "attempts": ("ARRAY",),
    "retrieval": ("OBJECT",),
}

# A JSON value arrives as its minified text, so an integer is the text that survives a
# round trip through BIGINT (not 1.5, 1e3, "12", true, nor one too large): a third
# cheaper than asking json_type, which parses the text again.
_INT = "case when try_cast({c}::varchar as bigint)::varchar = {c}::varchar then try_cast({c}::varchar as bigint) end"
_BOOL = "case {c}::varchar when 'true' then true when 'false' then false end"


@dataclass(frozen=True)
class Column:
    """One key of a stream's line: its name and the JSON type the format gives it."""

    name: str
    wire: str

    @property
    def ident(self) -> str:
        """The name as an SQL identifier (`timestamp` must be quoted)."""
        return f'"{self.name}"'

    def read_type(self, strict: bool) -> str:
        """The DuckDB type read_json is told to read this key as."""
        if self.wire in ("string", "timestamp"):
            return "VARCHAR"
        if self.wire == "attempts" and strict:
            return ATTEMPT_TYPE
        return "JSON"

    def select(self, strict: bool) -> list[str]:
        """The per-file select expressions that type this key (some keys give two columns)."""
        c = self.ident
        if self.wire == "timestamp":
            return [f"rfc3339({c}) as {c}", f"{c} as timestamp_raw"]
        if self.wire == "integer":
            return [f"{_INT.format(c=c)} as {c}"]
        if self.wire == "boolean":
            return [f"{_BOOL.format(c=c)} as {c}", f"{c} as {self.name}_raw"]
        if self.wire == "object":
            return [f"case when json_type({c}) <> 'NULL' then {c} end as {c}"]
        if self.wire == "attempts" and not strict:
            return [f"json_transform({c}, '{ATTEMPTS_SHAPE}') as {c}"]
        return [c]


SESSION_COLUMNS = (
    Column("schema", "string"),
    Column("timestamp", "timestamp"),
    Column("daemon", "string"),
    Column("session_id", "string"),
    Column("kind", "string"),
    Column("model", "string"),
    Column("provider", "string"),
    Column("prompt", "string"),
    Column("iterations", "integer"),
    Column("max_iterations", "integer"),
    Column("final_verdict", "string"),
    Column("attempts", "attempts"),
    Column("artifact", "object"),
    Column("grounded_in_roster", "boolean"),
    Column("duration_ms", "integer"),
)

REPLAY_COLUMNS = (
    Column("schema", "string"),
    Column("timestamp", "timestamp"),
    Column("session_id", "string"),
    Column("task_id", "string"),
    Column("model", "string"),
    Column("provider", "string"),
    Column("retrieval", "retrieval"),
    Column("output", "string"),
    Column("latency_ms", "integer"),
    Column("tokens_in", "integer"),
    Column("tokens_out", "integer"),
    Column("status", "string"),
    Column("error", "string"),
)

# The keys only a session row carries: a line without `schema` is a session row when it
# has one of them (older producers), and never one when it has none.
SESSION_MARKS = ("final_verdict", "attempts")


def read_spec(columns: tuple[Column, ...], strict: bool) -> str:
    """The `columns = {...}` argument of read_json for a stream."""
    return "{" + ", ".join(f"'{c.name}': '{c.read_type(strict)}'" for c in columns) + "}"


def session_select(strict: bool) -> str:
    """The per-file select of the sessions stream, over read_json's columns."""
    parts = [e for c in SESSION_COLUMNS for e in c.select(strict)]
    # The attempts in their one order, computed once: first_shot and attempts_to_accept
    # derive from it (DuckDB does not share a lambda between columns).
    attempts = "attempts" if strict else f"json_transform(attempts, '{ATTEMPTS_SHAPE}')"
    parts.append(f"{ATTEMPTS_IN_ORDER.format(attempts=attempts)} as _attempts_in_order")
    return ",\n    ".join(parts)


def _out_columns(columns: tuple[Column, ...]) -> list[str]:
    names = []
    for c in columns:
        names.append(c.ident)
        if c.wire == "timestamp":
            names.append("timestamp_raw")
        elif c.wire == "boolean":
            names.append(f"{c.name}_raw")
    return names


# Derived once here, so every query means the same by them; the measures themselves are
# defined in measures.py.
_DERIVED = {"first_shot": FIRST_SHOT, "attempts_to_accept": ATTEMPTS_TO_ACCEPT}


def session_columns_out() -> str:
    """The `sessions` view's columns, in order, over the per-file selects."""
    names = _out_columns(SESSION_COLUMNS)
    at = names.index('"artifact"')
    derived = [f"{expr} as {name}" for name, expr in _DERIVED.items()]
    return ", ".join(names[:at] + derived + names[at:] + ["source_file", "line"])


def empty_sessions() -> str:
    """A `sessions` body with the view's columns and no rows: the tolerant select over NULLs
    of the read types, so its types are the file view's by construction."""
    nulls = ", ".join(f"null::{c.read_type(False)} as {c.ident}" for c in SESSION_COLUMNS)
    return (
        f"select {session_columns_out()} from (select {session_select(False)}, "
        f"null::varchar as source_file, null::bigint as line from (select {nulls}) where false)"
    )


def _replay_type(c: Column, hits_only: bool) -> tuple[str, str]:
    """A replay key's type, as DuckDB names it and as a json_transform shape."""
    if c.wire == "retrieval":
        return ("STRUCT(hits JSON[])", '{"hits":["JSON"]}') if hits_only else (RETRIEVAL_TYPE, RETRIEVAL_SHAPE)
    return ("BIGINT", '"BIGINT"') if c.wire == "integer" else ("VARCHAR", '"VARCHAR"')


def _replay_shape(hits_only: bool = False) -> str:
    return "{" + ",".join(f'"{c.name}":{_replay_type(c, hits_only)[1]}' for c in REPLAY_COLUMNS) + "}"


def replay_select(source: str = "json") -> str:
    """The per-file select of the replay stream over read_ndjson_objects' `json` column.

    One shape for every key: DuckDB folds the repeated json_transform into one parse per
    line, where `json ->> key` per column would parse it each time.
    """
    r = f"json_transform({source}, '{_replay_shape()}')"
    parts = []
    for c in REPLAY_COLUMNS:
        if c.wire == "timestamp":
            parts.append(f"rfc3339({r}.{c.ident}) as {c.ident}")
        else:
            parts.append(f"{r}.{c.ident} as {c.ident}")
        if c.wire == "retrieval":
            parts.append(f"len({r}.retrieval.hits) as hits")
    parts.append(f"{source} as raw")
    return ",\n    ".join(parts)


def replay_typed_spec(hits_only: bool = False) -> str:
    """The read_json `columns` of the replay stream typed directly (when `raw` is not needed)."""
    out = [f"'{c.name}': '{_replay_type(c, hits_only)[0]}'" for c in REPLAY_COLUMNS]
    out += [f"'{m}': 'JSON'" for m in SESSION_MARKS]
    return "{" + ", ".join(out) + "}"


def replay_typed_select() -> str:
    """The select over `replay_typed_spec()` columns, in the replay view's column order."""
    parts = []
    for c in REPLAY_COLUMNS:
        parts.append(f"rfc3339({c.ident}) as {c.ident}" if c.wire == "timestamp" else c.ident)
        if c.wire == "retrieval":
            parts.append("len(retrieval.hits) as hits")
    parts.append("null::json as raw")
    return ", ".join(parts)


def empty_replay() -> str:
    """A `replay_runs` body with the view's columns and no rows: the typed select over NULLs of
    the read types (the per-file select's fourteen json_transforms cost milliseconds to bind)."""
    nulls = ", ".join(f"null::{_replay_type(c, False)[0]} as {c.ident}" for c in REPLAY_COLUMNS)
    return (
        f"select {replay_typed_select()}, null::varchar as source_file, null::bigint as line "
        f"from (select {nulls}) where false"
    )


# The call's columns every attempt row carries.
CALL_COLUMNS = (
    "session_id",
    '"timestamp"',
    "model",
    "provider",
    "kind",
    "daemon",
    "final_verdict",
    "source_file",
    "line",
)

# unnest() in the select list: a lateral join (`from sessions, unnest(...)`) is much slower
# in DuckDB on a million rows.
ATTEMPTS_VIEW = f"""
create or replace temp view attempts as
select
    {", ".join(CALL_COLUMNS)},
    attempt.iteration as iteration,
    attempt.verdict_kind as verdict_kind,
    attempt.error as error,
    attempt.span_id as span_id,
    position
from (
    select
        {", ".join(CALL_COLUMNS)},
        unnest(attempts) as attempt,
        generate_subscripts(attempts, 1) as position
    from sessions
)
"""

# Timestamps are RFC 3339 or nothing: DuckDB's cast alone also takes `epoch`, `infinity`,
# a bare date, a time with no offset, hour 24 and offsets past ±23:59, none of which says
# when a row was written. The cast checks the date and time themselves; the shape test
# around it is a few string slices (length, offset, year), so the common case costs one
# cast; lower-case `t`/`z` and a leap second (`:60`, read as the next second) take a second.
READ_MACROS = r"""
create or replace temp macro rfc3339(t) as
    case when length(t) between 20 and 40
        -- no log of this kind was written before 2000: Go's zero time (0001-01-01) and
        -- the Unix epoch are a producer's unset clock, so they read as no time
        and substr(t, 1, 4) >= '2000' and substr(t, 12, 2) <= '23'
        and (ends_with(t, 'Z') or ends_with(t, 'z') or (substr(t, -6, 1) in ('+', '-') and substr(t, -3, 1) = ':'
                                           and substr(t, -5, 2) <= '23' and substr(t, -2, 2) <= '59'))
    then coalesce(
        try_cast(t as timestamptz),
        case when substr(t, 18, 2) = '60'
            then try_cast(substr(upper(t), 1, 17) || '59' || substr(upper(t), 20) as timestamptz)
                + interval 1 second
            else try_cast(upper(t) as timestamptz)
        end)
    end;
"""


# Over JSON text, the guard reads the keys it needs in one shape (DuckDB folds the
# repeated json_transform into one parse per line).
_REPLAY_KEYS = tuple(c.name for c in REPLAY_COLUMNS if c.name != "schema")


def guard_keys(stream: str) -> tuple[str, ...]:
    """The keys `is_row_sql` reads: `schema` as text, the rest only for being present (JSON)."""
    return ("schema", *(() if stream == "sessions" else _REPLAY_KEYS), *SESSION_MARKS)


_GUARD_SHAPE = (
    "{" + ",".join(f'"{k}":"{"VARCHAR" if k == "schema" else "JSON"}"' for k in guard_keys("replay_runs")) + "}"
)


def is_row_sql(stream: str, *, over: str = "columns") -> str:
    """The SQL condition that a line is a row of its stream, over read_json's columns or
    (``over="json"``) over the line's JSON text in a column `json`.

    Another stream's row (its `schema` names another kind, or a replay line that carries a
    session's verdict) or an object with none of the stream's keys is never read as a row:
    it is counted as unreadable instead. `is_row` says the same of a parsed line.
    """

    def key(name: str) -> str:
        if over == "json":
            return f"json_transform(json, '{_GUARD_SHAPE}').\"{name}\""
        return f'"{name}"'

    marks = " or ".join(f"{key(m)} is not null" for m in SESSION_MARKS)
    if stream == "sessions":
        row = (
            f"(coalesce(starts_with({key('schema')}, '{SESSION_SCHEMA_PREFIX}'), false) "
            f"or ({key('schema')} is null and ({marks})))"
        )
        return f"(starts_with(ltrim(json::varchar), '{{') and {row})" if over == "json" else row
    keys = " or ".join(f"{key(k)} is not null" for k in _REPLAY_KEYS)
    row = (
        f"(coalesce(starts_with({key('schema')}, '{REPLAY_SCHEMA_PREFIX}'), false) "
        f"or ({key('schema')} is null and ({keys}) and not ({marks})))"
    )
    return f"(starts_with(ltrim(json::varchar), '{{') and {row})" if over == "json" else row


def is_row(obj: dict, stream: str) -> bool:
    """`is_row_sql` for a line Python parsed (one that was repaired)."""
    schema = obj.get("schema")
    has = lambda keys: any(obj.get(k) is not None for k in keys)  # noqa: E731
    if stream == "sessions":
        return (isinstance(schema, str) and schema.startswith(SESSION_SCHEMA_PREFIX)) or (
            schema is None and has(SESSION_MARKS)
        )
    return (isinstance(schema, str) and schema.startswith(REPLAY_SCHEMA_PREFIX)) or (
        schema is None and has(_REPLAY_KEYS) and not has(SESSION_MARKS)
    )
