"""The macros the named queries call (measures.py, columns.py), inlined into each statement sent to Spark.

DuckDB's macro text is the one definition: it is parsed by sqlglot once, and a call of a macro in
a statement is replaced by the macro's body with each parameter replaced by the call's argument,
as DuckDB expands a macro itself. The statement Spark gets is then self-contained: no temporary
SQL function, which a Spark Connect server such as Sail does not parse, and the body goes through
the same DuckDB-to-Spark translation as the rest of the statement (translate.py).
"""

from __future__ import annotations

from functools import cache

from ..output import counted

# Deeper than any macro calls another: past it a macro is calling itself.
_DEPTH = 16


class MacroError(ValueError):
    """A macro call that cannot be inlined as written (the message names it)."""


@cache
def macros() -> dict:
    """Each macro every connection gets (measures.py, columns.py) by name: see `parse_macros`."""
    from ..measures import MACROS
    from ..read.columns import READ_MACROS

    return parse_macros(MACROS + READ_MACROS)


def parse_macros(text: str) -> dict:
    """Each `create macro` of DuckDB's text by name: (its parameter names, its body as a sqlglot tree)."""
    import sqlglot
    from sqlglot import exp

    found = {}
    for tree in sqlglot.parse(text, read="duckdb"):
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "MACRO":
            signature = tree.this
            params = tuple(p.name.lower() for p in signature.expressions)
            found[signature.this.name.lower()] = (params, _without_comments(tree.expression))
    return found


def inline_macros(tree, defined: dict | None = None):
    """The statement with every call of a macro (``defined``, else `macros()`) replaced by the
    macro's body, its arguments in place."""
    from sqlglot import exp

    defined = macros() if defined is None else defined

    def expand(node, depth: int = 0):
        if not (isinstance(node, exp.Anonymous) and node.name.lower() in defined):
            return node
        name = node.name.lower()
        if depth >= _DEPTH:
            raise MacroError(f"the macro {name} calls itself")
        params, body = defined[name]
        args = node.expressions
        if len(args) != len(params) or any(isinstance(a, (exp.PropertyEQ, exp.Kwarg)) for a in args):
            raise MacroError(
                f"{name} takes {counted(len(params), 'argument')} by position "
                f"({', '.join(params)}), got {node.sql(dialect='duckdb')}"
            )
        args = [a.transform(expand, depth) for a in args]
        return _substitute(name, body.copy(), dict(zip(params, args))).transform(expand, depth + 1)

    return tree.transform(expand)


def _substitute(name: str, body, args: dict):
    """The body with each parameter replaced by its argument (in parentheses, so the precedence holds)."""
    from sqlglot import exp

    for lam in body.find_all(exp.Lambda):
        bound = {p.name.lower() for p in lam.expressions}
        if bound & set(args):
            raise MacroError(f"the macro {name}: its lambda rebinds the parameter {min(bound & set(args))}")
        # An argument naming a column the lambda binds would read the lambda's variable instead.
        for param, arg in args.items():
            clash = bound & {c.name.lower() for c in arg.find_all(exp.Column) if not c.table}
            if clash and _names(lam.this, param):
                raise MacroError(
                    f"{name}'s argument {arg.sql(dialect='duckdb')} names {min(clash)}, a variable of its lambda"
                )

    def put(node):
        if not isinstance(node, exp.Column) or node.args.get("db"):
            return node
        if not node.table and node.name.lower() in args:
            return _wrapped(args[node.name.lower()].copy())
        if node.table.lower() in args:  # param.field: a field of the argument
            return exp.Dot(this=_wrapped(args[node.table.lower()].copy()), expression=node.this.copy())
        return node

    return body.transform(put)


def _wrapped(arg):
    """An argument in parentheses unless it is one term already (so the body's precedence holds)."""
    from sqlglot import exp

    return arg if isinstance(arg, (exp.Column, exp.Literal, exp.Paren)) else exp.Paren(this=arg)


def _names(tree, param: str) -> bool:
    """Whether the tree reads the parameter (alone, or a field of it)."""
    from sqlglot import exp

    return any((c.table or c.name).lower() == param for c in tree.find_all(exp.Column))


def _without_comments(tree):
    """A body without the macro text's comments (they say why, in DuckDB's file, not in Spark's statement)."""
    for node in tree.walk():
        node.comments = None
    return tree
