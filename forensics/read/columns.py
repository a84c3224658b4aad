"""Each stream's columns, declared once: read specs, view selects and empty views derive from here.

A column's *wire* type is what the format promises on the line (SESSION_FORMAT.md). From it
follow how the tolerant reader reads the key (text or JSON, so a wrong-typed value never
loses a row), how the optimistic reader types it, how the view types it, and how `doctor`
tells a value of the wrong JSON type.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..measures import ATTEMPTS_IN_ORDER, ATTEMPTS_TO_ACCEPT, ERROR_CLASS, FIRST_SHOT, PROMPT_TEMPLATE
from . import wire

SESSION_SCHEMA_PREFIX = "session."
REPLAY_SCHEMA_PREFIX = "replay."

# What json_type() answers for a value of each wire type (doctor's wrong-type check).
JSON_TYPES = {
    "string": ("VARCHAR",),
    "timestamp": ("VARCHAR",),
    "integer": ("BIGINT", "UBIGINT"),
    "number": ("BIGINT", "UBIGINT", "DOUBLE"),
    "boolean": ("BOOLEAN",),
    "object": ("OBJECT",),
    "attempts": ("ARRAY",),
    "retrieval": ("OBJECT",),
    "hits": ("ARRAY",),
}


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
        """The DuckDB type read_json is told to read this key as: JSON, or its JSON leaves."""
        # The tolerant reader reads a nested value whole (a list that is no list must not
        # stop the statement) and types it with json_transform.
        return wire.read_type(self.wire) if strict and self.wire in wire.NESTED else "JSON"

    def raw(self, strict: bool) -> str:
        """This key as `read_type(True)` reads it, over read_json's column."""
        if self.wire in wire.NESTED and not strict:
            return f"json_transform({self.ident}, '{wire.shape(self.wire)}')"
        return self.ident

    def select(self, strict: bool) -> list[str]:
        """The per-file select expressions that type this key (some keys give two columns)."""
        c = self.ident
        value = wire.typed(self.wire, self.raw(strict), name=self.name)
        if self.wire == "timestamp":
            return [f"rfc3339({value}) as {c}", f"{value} as timestamp_raw"]
        if self.wire == "boolean":
            return [f"{value} as {c}", f"{c} as {self.name}_raw"]
        return [f"{value} as {c}"]


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
    # derive from it (DuckDB does not share a lambda between columns). Only the fields the
    # order needs are typed for it.
    raw = next(c for c in SESSION_COLUMNS if c.name == "attempts").raw(strict)
    attempts = wire.typed("attempts", raw, fields=("iteration", "verdict_kind"))
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
_DERIVED = {"first_shot": FIRST_SHOT, "attempts_to_accept": ATTEMPTS_TO_ACCEPT, "prompt_template": PROMPT_TEMPLATE}

# Derived columns a store does not keep, computed from the stored ones whenever they are read:
# folding every prompt at ingest would double its cost, for a column few statements read.
COMPUTED_ON_READ = {"prompt_template": PROMPT_TEMPLATE}


def _session_out() -> list[tuple[str, str]]:
    """The `sessions` view's columns in order: (select expression, name)."""
    names = _out_columns(SESSION_COLUMNS)
    at = names.index('"artifact"')
    plain = lambda cols: [(c, c.strip('"')) for c in cols]  # noqa: E731
    derived = [(f"{expr} as {name}", name) for name, expr in _DERIVED.items()]
    return plain(names[:at]) + derived + plain(names[at:] + ["source_file", "line"])


def session_columns_out() -> str:
    """The `sessions` view's columns, in order, over the per-file selects."""
    return ", ".join(expr for expr, _ in _session_out())


def session_view_columns() -> tuple[str, ...]:
    """The `sessions` view's column names, in order (what `compare --by` may name)."""
    return tuple(name for _, name in _session_out())


def empty_sessions() -> str:
    """A `sessions` body with the view's columns and no rows: the tolerant select over NULLs
    of the read types, so its types are the file view's by construction."""
    nulls = ", ".join(f"null::{c.read_type(False)} as {c.ident}" for c in SESSION_COLUMNS)
    return (
        f"select {session_columns_out()} from (select {session_select(False)}, "
        f"null::varchar as source_file, null::bigint as line from (select {nulls}) where false)"
    )


def _replay_read(c: Column, hits_only: bool) -> tuple[str, str]:
    """A replay key's read type, as DuckDB names it and as a json_transform shape."""
    if c.wire == "retrieval" and hits_only:
        return "STRUCT(hits JSON[])", '{"hits":["JSON"]}'
    return wire.read_type(c.wire), wire.shape(c.wire)


def _replay_shape() -> str:
    # The session marks ride along as JSON: the guard reads its keys from the same parse.
    keys = [f'"{c.name}":{_replay_read(c, False)[1]}' for c in REPLAY_COLUMNS]
    return "{" + ",".join(keys + [f'"{m}":"JSON"' for m in SESSION_MARKS]) + "}"


def _replay_parts(r: str, hits_only: bool = False, line: str | None = None) -> list[str]:
    """The replay view's typed columns over each key as read (`r` prefixes a key: `x.` or nothing),
    with `line` the line's JSON where the keys were read by json_transform."""
    parts = []
    for c in REPLAY_COLUMNS:
        value = f"{r}{c.ident}"
        if c.wire == "retrieval" and hits_only:  # read only to count its hits, never selected
            parts.append(f"{value} as {c.ident}")
        elif c.wire == "retrieval":
            # Read by read_json a retrieval that is no object stops the statement; by
            # json_transform it is an object of NULLs, told from `{}` by the line itself
            # (asked only of a retrieval with no field).
            whole = "true" if line is None else f"json_type({line}, '$.retrieval') = 'OBJECT'"
            parts.append(f"{wire.typed(c.wire, value, whole=whole)} as {c.ident}")
        elif c.wire == "timestamp":
            parts.append(f"rfc3339({wire.typed(c.wire, value)}) as {c.ident}")
        else:
            parts.append(f"{wire.typed(c.wire, value, name=c.name)} as {c.ident}")
        if c.wire == "retrieval":
            parts.append(f"len({value}.hits) as hits")
    return parts


def replay_parsed(source: str = "json") -> str:
    """The replay line's keys parsed once per line, as `_t` (every key, and the session marks)
    and `_k` (the line's keys in order, for the strict guard's repeated-key test).

    Selected beside `json` in a subquery under `replay_select`: each column then reads a field
    of `_t`, where naming the json_transform in every column made the view's text tens of KB
    that DuckDB binds again in every statement that reads it. The guard reads `_t` too: a key
    is present there exactly when it is in a shape of its own (a value of any JSON type but
    null), so one parse serves both. A statement that does not read `_k` does not compute it.
    """
    return f"json_transform({source}, '{_replay_shape()}') as _t, json_keys({source}) as _k"


def replay_select(source: str = "json") -> str:
    """The per-file select of the replay stream over `replay_parsed`'s `_t` and the line's `json`."""
    parts = _replay_parts("_t.", line=source)
    parts.append(f"{source} as raw")
    return ",\n    ".join(parts)


def replay_typed_spec(hits_only: bool = False) -> str:
    """The read_json `columns` of the replay stream read directly (when `raw` is not needed)."""
    out = [f"'{c.name}': '{_replay_read(c, hits_only)[0]}'" for c in REPLAY_COLUMNS]
    out += [f"'{m}': 'JSON'" for m in SESSION_MARKS]
    return "{" + ", ".join(out) + "}"


def replay_typed_select(hits_only: bool = False) -> str:
    """The select over `replay_typed_spec()` columns, in the replay view's column order."""
    return ", ".join(_replay_parts("", hits_only) + ["null::json as raw"])


def empty_replay() -> str:
    """A `replay_runs` body with the view's columns and no rows: the typed select over NULLs of
    the read types (the per-file select's fourteen json_transforms cost milliseconds to bind)."""
    nulls = ", ".join(f"null::{_replay_read(c, False)[0]} as {c.ident}" for c in REPLAY_COLUMNS)
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
ATTEMPTS_BODY = f"""
select
    {", ".join(CALL_COLUMNS)},
    attempt.iteration as iteration,
    attempt.verdict_kind as verdict_kind,
    attempt.error as error,
    {ERROR_CLASS} as error_class,
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
ATTEMPTS_VIEW = f"create or replace temp view attempts as {ATTEMPTS_BODY}"

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


_REPLAY_KEYS = tuple(c.name for c in REPLAY_COLUMNS if c.name != "schema")


def guard_keys(stream: str) -> tuple[str, ...]:
    """The keys `is_row_sql` reads (as JSON): `schema`, the rest only for being present."""
    return ("schema", *(() if stream == "sessions" else _REPLAY_KEYS), *SESSION_MARKS)


def schema_sql(raw: str) -> str:
    """A line's `schema` as the guard reads it: a JSON string, or no schema at all."""
    return wire.typed("string", raw, name="schema")


def is_row_sql(stream: str, *, over: str = "columns") -> str:
    """The SQL condition that a line is a row of its stream, over read_json's columns or
    (``over="json"``) over the line's JSON text in a column `json` and its keys parsed in `_t`
    (`replay_parsed`).

    Another stream's row (its `schema` names another kind, or a replay line that carries a
    session's verdict) or an object with none of the stream's keys is never read as a row:
    it is counted as unreadable instead. `is_row` says the same of a parsed line.
    """

    def key(name: str) -> str:
        if over == "json":
            return f'_t."{name}"'
        return f'"{name}"'

    # A schema that is no JSON string names no stream: the line is judged by its keys.
    schema = schema_sql(key("schema"))
    marks = " or ".join(f"{key(m)} is not null" for m in SESSION_MARKS)
    if stream == "sessions":
        row = f"(coalesce(starts_with({schema}, '{SESSION_SCHEMA_PREFIX}'), false) or ({schema} is null and ({marks})))"
        return f"(starts_with(ltrim(json::varchar), '{{') and {row})" if over == "json" else row
    keys = " or ".join(f"{key(k)} is not null" for k in _REPLAY_KEYS)
    row = (
        f"(coalesce(starts_with({schema}, '{REPLAY_SCHEMA_PREFIX}'), false) "
        f"or ({schema} is null and ({keys}) and not ({marks})))"
    )
    return f"(starts_with(ltrim(json::varchar), '{{') and {row})" if over == "json" else row


def is_row(obj: dict, stream: str) -> bool:
    """`is_row_sql` for a line Python parsed (one that was repaired)."""
    schema = obj.get("schema") if isinstance(obj.get("schema"), str) else None
    has = lambda keys: any(obj.get(k) is not None for k in keys)  # noqa: E731
    if stream == "sessions":
        return (schema is not None and schema.startswith(SESSION_SCHEMA_PREFIX)) or (
            schema is None and has(SESSION_MARKS)
        )
    return (schema is not None and schema.startswith(REPLAY_SCHEMA_PREFIX)) or (
        schema is None and has(_REPLAY_KEYS) and not has(SESSION_MARKS)
    )
