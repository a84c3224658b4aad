"""DuckDB functions that sqlglot passes on to Spark by name, or with Spark's meaning where DuckDB's differs,
given a Spark spelling of DuckDB's meaning: a lambda's index, list_position, fdiv, fmod, epoch_us, a
list's len, and the JSON functions the macros read an error's JSON with (json_valid, json_type,
json_keys; ->> is sqlglot's get_json_object already).

The JSON ones read the text through Spark's variant (try_parse_json, variant_get, schema_of_variant),
which Apache Spark and Sail both have and which, unlike get_json_object, tells a string from a number
whose text it is. Where the parsers differ DuckDB's answer is not promised (docs/SCALING.md): text
after a whole document and a trailing comma (yyjson takes the comma, not the text; Spark the text,
not the comma), NaN, and an object naming a key twice (yyjson keeps both, the variant refuses it).

The macros (measures.py, columns.py) call them, and so may any statement: each is rewritten on the
parsed statement, wherever it stands, after the macros are inlined (macros.py).
"""

from __future__ import annotations

import re


def rewrite_functions(tree):
    """The statement with each of these DuckDB functions spelt as Spark reads it with DuckDB's meaning."""
    from sqlglot import exp

    # A lambda's second variable is the element's place: from 1 (a BIGINT) in DuckDB, from 0
    # (an INT) in Spark's transform and filter.
    for lam in list(tree.find_all(exp.Lambda)):
        if not isinstance(lam.parent, (exp.Transform, exp.ArrayFilter)) or len(lam.expressions) != 2:
            continue
        index = lam.expressions[1].name.lower()
        for ref in list(lam.this.find_all(exp.Identifier, exp.Column)):
            if _reads(ref, index, lam):
                ref.replace(
                    exp.Cast(
                        this=exp.Paren(this=exp.Add(this=ref.copy(), expression=exp.Literal.number(1))),
                        to=exp.DataType.build("bigint"),
                    )
                )
    # Innermost first: a call's arguments are copied into its rewrite already rewritten.
    for node in reversed(list(tree.find_all(exp.Anonymous))):
        name = node.name.lower()
        args = node.expressions
        if name in ("list_position", "list_indexof", "array_indexof") and len(args) == 2:
            node.replace(exp.ArrayPosition(this=args[0], expression=args[1]))
        elif name == "epoch_us" and len(args) == 1:
            node.replace(exp.Anonymous(this="unix_micros", expressions=args))
        elif name == "fdiv" and len(args) == 2:
            # x // y, floored, as a DOUBLE
            node.replace(_double(exp.Floor(this=_quotient(*args))))
        elif name == "fmod" and len(args) == 2:
            # x - y * floor(x / y), a DOUBLE with the sign of y (Spark's pmod and % take x's sign)
            x, y = args
            node.replace(
                exp.Paren(
                    this=exp.Sub(
                        this=_double(x.copy()),
                        expression=exp.Mul(this=_double(y.copy()), expression=exp.Floor(this=_quotient(x, y))),
                    )
                )
            )
    _rewrite_json(tree)
    # string_split(x, 'sep'): sqlglot quotes the separator as \Q...\E, which Sail's regex does not
    # read; each character spelt \x{hex} is the same literal to Java and to Rust.
    for node in list(tree.find_all(exp.Split)):
        sep = node.expression
        if isinstance(sep, exp.Literal) and sep.is_string and sep.this and not node.args.get("limit"):
            pattern = "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}" for c in sep.this)
            node.replace(exp.Anonymous(this="split", expressions=[node.this, exp.Literal.string(pattern)]))
    # list_position: NULL where the element is missing (Spark's array_position gives 0), an INTEGER.
    for node in list(tree.find_all(exp.ArrayPosition)):
        node.replace(
            exp.Cast(this=exp.Nullif(this=node.copy(), expression=exp.Literal.number(0)), to=exp.DataType.build("int"))
        )
    return tree


# A json_type answer as schema_of_variant spells the type (OBJECT<...>, ARRAY<...>); the number
# types are left out: yyjson's UBIGINT/BIGINT/DOUBLE do not follow the variant's BIGINT/DECIMAL.
_JSON_TYPES = {"OBJECT": "OBJECT<%", "ARRAY": "ARRAY<%", "VARCHAR": "STRING", "BOOLEAN": "BOOLEAN", "NULL": "VOID"}
# A path json_type is asked of: the same words to DuckDB and to the variant's paths.
_SIMPLE_PATH = re.compile(r"\$(\.[A-Za-z_][A-Za-z0-9_]*)+")


class JsonNotPortable(ValueError):
    """A use of a DuckDB JSON function with no Spark spelling known to give DuckDB's answer."""


def _rewrite_json(tree):
    """json_valid, json_type compared with a type's name, json_keys and a list's len, as Spark reads them."""
    from sqlglot import exp

    for node in reversed(list(tree.find_all(exp.Anonymous))):
        if node.name.lower() == "json_valid" and len(node.expressions) == 1:
            (x,) = node.expressions
            # NULL for NULL, as DuckDB's; any JSON value, an object, an array or a scalar.
            node.replace(_when_not_null(x, exp.Not(this=exp.Is(this=_parsed(x), expression=exp.Null()))))
    for node in list(tree.find_all(exp.JSONType)):
        compared = node.parent
        other = None
        if isinstance(compared, exp.EQ):
            other = compared.expression if compared.this is node else compared.this
        name = other.this if isinstance(other, exp.Literal) and other.is_string else None
        if name not in _JSON_TYPES:
            raise JsonNotPortable(
                f"{(compared or node).sql(dialect='duckdb')}: json_type only compared with one of "
                f"{', '.join(sorted(_JSON_TYPES))} has a Spark spelling"
            )
        value = _parsed(node.this)
        path = node.expression
        if path is not None:
            if not (isinstance(path, exp.Literal) and path.is_string and _SIMPLE_PATH.fullmatch(path.this)):
                raise JsonNotPortable(f"{node.sql(dialect='duckdb')}: json_type's path must be a literal $.key.key")
            value = exp.Anonymous(this="variant_get", expressions=[value, path.copy()])
        schema = exp.Anonymous(this="schema_of_variant", expressions=[value])
        spelt = _JSON_TYPES[name]
        compared.replace(
            exp.Like(this=schema, expression=exp.Literal.string(spelt))
            if spelt.endswith("%")
            else exp.EQ(this=schema, expression=exp.Literal.string(spelt))
        )
    for node in list(tree.find_all(exp.Length)):
        # len of a list is its size (Spark's length reads only text); array_size is NULL for NULL.
        if isinstance(node.this, (exp.JSONKeys, exp.Array, exp.ArrayFilter, exp.Transform, exp.Split)):
            node.replace(exp.Anonymous(this="array_size", expressions=[node.this]))
    for node in list(tree.find_all(exp.ArraySize)):
        # DuckDB's array_length: Spark's size is -1 for NULL where ANSI mode is off, array_size NULL.
        node.replace(exp.Anonymous(this="array_size", expressions=[node.this]))
    for node in list(tree.find_all(exp.JSONKeys)):
        # DuckDB's json_keys is [] for JSON that is no object, Spark's json_object_keys NULL.
        x = node.this
        keys = exp.Anonymous(this="json_object_keys", expressions=[x.copy()])
        empty = exp.Cast(this=exp.Array(expressions=[]), to=exp.DataType.build("array<string>"))
        node.replace(_when_not_null(x, exp.Coalesce(this=keys, expressions=[empty])))


def _parsed(x):
    """The text parsed as a variant: NULL where it is no JSON."""
    from sqlglot import exp

    return exp.Anonymous(this="try_parse_json", expressions=[x.copy()])


def _when_not_null(x, then):
    """``then`` where x is not NULL, else NULL."""
    from sqlglot import exp

    return exp.Case(ifs=[exp.If(this=exp.Not(this=exp.Is(this=x.copy(), expression=exp.Null())), true=then)])


def _double(node):
    """The expression cast to DOUBLE."""
    from sqlglot import exp

    return exp.Cast(this=node, to=exp.DataType.build("double"))


def _quotient(x, y):
    """x / y in DOUBLE arithmetic, as DuckDB's fdiv and fmod divide."""
    from sqlglot import exp

    return exp.Div(this=_double(x.copy()), expression=_double(y.copy()))


def _reads(ref, variable: str, lam) -> bool:
    """Whether the node reads the lambda's variable: sqlglot's parser made each reading an Identifier
    (a struct's key, a field's name, an alias and a nested lambda's own variable are none)."""
    from sqlglot import exp

    if ref.name.lower() != variable:
        return False
    parent, key = ref.parent, ref.arg_key
    if isinstance(ref, exp.Column):
        if ref.table:
            return False
    elif (
        isinstance(parent, (exp.Column, exp.Alias, exp.TableAlias))
        or (isinstance(parent, exp.PropertyEQ) and key == "this")
        or (isinstance(parent, exp.Dot) and key == "expression")
    ):
        return False
    inner = ref.find_ancestor(exp.Lambda)
    while inner is not None and inner is not lam:
        if any(p.name.lower() == variable for p in inner.expressions):
            return False
        inner = inner.find_ancestor(exp.Lambda)
    return True
