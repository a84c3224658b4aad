"""DuckDB functions that sqlglot passes on to Spark by name, or with Spark's meaning where DuckDB's differs,
given a Spark spelling of DuckDB's meaning: a lambda's index, list_position, fdiv, fmod, epoch_us.

The macros (measures.py, columns.py) call them, and so may any statement: each is rewritten on the
parsed statement, wherever it stands, after the macros are inlined (macros.py).
"""

from __future__ import annotations


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
    # list_position: NULL where the element is missing (Spark's array_position gives 0), an INTEGER.
    for node in list(tree.find_all(exp.ArrayPosition)):
        node.replace(
            exp.Cast(this=exp.Nullif(this=node.copy(), expression=exp.Literal.number(0)), to=exp.DataType.build("int"))
        )
    return tree


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
