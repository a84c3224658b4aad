"""The format's JSON types as SQL: every key read as JSON, and typed only when its JSON type is the one the format gives it.

DuckDB's own types convert what they read: a number read as VARCHAR is its text, the string
`"0"` read as BIGINT is 0, `true` read as VARCHAR is "true". A wrong-typed value would then read
as a plausible one (a model named "123", a session id 42 joined to the string "42"). So each key
is read as JSON, which DuckDB hands over as the value's minified text, and typed here from that
text: a value of another JSON type is NULL, an empty cell that `forensics doctor` lists by key.
Nested values (an attempt's fields, a replay's retrieval and its hits) are typed field by field.
"""

from __future__ import annotations

# A wire type is a leaf (below) or one of these: a list of objects or an object, each field
# with its own wire type.
NESTED: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "attempts": (
        "list",
        (("iteration", "integer"), ("verdict_kind", "string"), ("error", "string"), ("span_id", "string")),
    ),
    "retrieval": ("object", (("query", "string"), ("k", "integer"), ("hits", "hits"))),
    "hits": ("list", (("doc_id", "string"), ("score", "number"))),
}

# The session keys the format leaves out when they have no value: a JSON null is no value of
# theirs (doctor lists it), though it reads as the same empty cell.
OMITTED = ("artifact", "grounded_in_roster", "error", "span_id")

_LEAF_TYPES = {
    "string": "VARCHAR",
    "timestamp": "VARCHAR",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
    "number": "DOUBLE",
    "object": "JSON",
}

# Over the minified text (measured on 200k generated sessions, CPU time): a JSON string
# starts with a quote, and `->>` unescapes it, a sixth dearer than reading VARCHAR on a short
# key and a third on a long prompt; json_type is a third dearer still, and slicing the quotes
# off (after looking for escapes) three fifths. An integer is a text of one character (only a
# digit is that short: an iteration, mostly) or the text that survives a round trip through
# BIGINT (not 1.5, 1e3, "12", true, nor one too large), cheaper than asking json_type, which
# parses the text again. A number is what DOUBLE takes: quotes, letters and brackets never
# cast, and JSON has no NaN. An object starts with a brace.
_LEAVES = {
    "string": "case when starts_with({c}::varchar, '\"') then {c}->>'$' end",
    "integer": "case when strlen({c}::varchar) = 1 then ascii({c}::varchar) - 48 "
    "when try_cast({c}::varchar as bigint)::varchar = {c}::varchar then try_cast({c}::varchar as bigint) end",
    "boolean": "case {c}::varchar when 'true' then true when 'false' then false end",
    "number": "try_cast({c}::varchar as double)",
    "object": "case when starts_with({c}::varchar, '{{') then {c} end",
}
_LEAVES["timestamp"] = _LEAVES["string"]

# The values a few keys nearly always hold, matched as they stand: DuckDB hands a JSON string
# over re-encoded with the fewest escapes, so `"accepted"` is the only text of that string.
# Unescaping the attempts' verdicts took a third of what typing the attempts costs.
KNOWN = {
    "schema": ("session.iterate.v1", "replay.run.v1"),
    "final_verdict": ("accepted", "max_iter_exhausted", "infra_error"),
    "verdict_kind": ("accepted", "validation_failed", "no_json", "infra_error"),
    "status": ("ok", "error"),
}


def sql_type(wire: str) -> str:
    """The DuckDB type a key of this wire type has in the views (and in the store's Parquet)."""
    if wire in NESTED:
        kind, fields = NESTED[wire]
        struct = "STRUCT(" + ", ".join(f"{f} {sql_type(w)}" for f, w in fields) + ")"
        return struct + "[]" if kind == "list" else struct
    return _LEAF_TYPES[wire]


def read_type(wire: str) -> str:
    """The type read_json is told to read a key of this wire type as: JSON at every leaf."""
    if wire in NESTED:
        kind, fields = NESTED[wire]
        struct = "STRUCT(" + ", ".join(f"{f} {read_type(w)}" for f, w in fields) + ")"
        return struct + "[]" if kind == "list" else struct
    return "JSON"


def shape(wire: str) -> str:
    """`read_type` as a json_transform shape."""
    if wire in NESTED:
        kind, fields = NESTED[wire]
        struct = "{" + ",".join(f'"{f}":{shape(w)}' for f, w in fields) + "}"
        return f"[{struct}]" if kind == "list" else struct
    return '"JSON"'


def typed(
    wire: str,
    c: str,
    *,
    name: str = "",
    fields: tuple[str, ...] | None = None,
    whole: str | None = None,
    depth: int = 1,
) -> str:
    """SQL typing `c`, read as `read_type(wire)`, to `sql_type(wire)`: NULL wherever a value's JSON type is wrong.

    ``name`` is the key's (its usual values are matched as they stand); ``fields`` keeps only
    those fields of a list's objects, for a measure's order, where a null in the list and an
    object of nulls are the same. ``whole`` says, in SQL, that an object read with no field
    was an object (json_transform reads a string as an object of NULLs).
    """
    if wire not in NESTED:
        sql = _LEAVES[wire].format(c=c)
        if name in KNOWN:
            usual = " ".join(f"when '\"{v}\"' then '{v}'" for v in KNOWN[name])
            sql = f"case {c}::varchar {usual} else {sql} end"
        return sql
    kind, declared = NESTED[wire]
    v = c if kind == "object" else f"_x{depth}"
    struct = (
        "{"
        + ", ".join(
            f"'{f}': {typed(w, f'{v}.{f}', name=f, depth=depth + 1)}"
            for f, w in declared
            if fields is None or f in fields
        )
        + "}"
    )
    if kind == "object":
        present = f"{c} is not null"
        if whole is not None:
            present = "(" + " or ".join(f"{c}.{f} is not null" for f, _ in declared) + f" or {whole})"
        return f"case when {present} then {struct} end"
    if fields is not None:
        return f"list_transform({c}, lambda {v}: {struct})"
    # A null in a list stays NULL (not an object of NULLs), as read_json reads it.
    return f"list_transform({c}, lambda {v}: case when {v} is not null then {struct} end)"
