"""The named queries in Spark SQL: DuckDB's text translated by sqlglot, our macros inlined.

The catalog stays one set of `.sql` files in DuckDB's dialect. sqlglot parses each statement,
the macros it calls (measures.py, columns.py) are replaced by their DuckDB bodies (macros.py),
and the whole is translated to Spark SQL, with any construct it cannot carry over made an error
that names it (never a guess). DuckDB idioms that sqlglot carries over word for word, though
Spark spells them otherwise, are rewritten on the parsed statement: here (`_rewrite`), in
functions.py (a lambda's index, list_position, fdiv, fmod, epoch_us) and in regex.py (RE2's
patterns as the server's regex, Java's or Rust's, reads them). The statement Spark gets is self-contained: no temporary
function, so any Spark Connect server runs it (Apache Spark's own, Sail). Every built-in query
is portable this way (tests/test_spark.py).
"""

from __future__ import annotations

import re

from ..errors import UsageError, first_line
from .functions import JsonNotPortable, rewrite_functions
from .macros import MacroError, inline_macros
from .regex import RegexFlavour, RegexNotPortable, rewrite_regexes


class NotPortable(UsageError):
    """A statement Spark cannot run as written (it names the construct)."""


def to_spark(sql: str, *, name: str = "statement", regex: RegexFlavour = RegexFlavour.JAVA) -> str:
    """DuckDB SQL as Spark SQL for a server whose regex is ``regex``; a construct sqlglot cannot translate is an error naming it."""
    import sqlglot
    from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

    try:
        trees = [t for t in sqlglot.parse(sql, read="duckdb") if t is not None]
        if len(trees) != 1:
            raise NotPortable(f"{name}: Spark runs one statement at a time, got {len(trees)}")
        return _rewrite(inline_macros(trees[0]), name, regex).sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except (UnsupportedError, MacroError, RegexNotPortable, JsonNotPortable) as exc:
        raise NotPortable(f"{name} cannot run on Spark: {first_line(exc)}") from exc
    except ParseError as exc:
        raise NotPortable(f"{name} cannot be translated for Spark: {first_line(exc)}") from exc


def expression_to_spark(expression: str, regex: RegexFlavour = RegexFlavour.JAVA) -> str:
    """One DuckDB expression (a view's column) as Spark SQL for a server whose regex is ``regex``, its macros inlined."""
    import sqlglot

    tree = sqlglot.parse_one(f"select {expression}", read="duckdb")
    return _rewrite(inline_macros(tree), "expression", regex).expressions[0].sql(dialect="spark")


def described_query(text: str) -> str | None:
    """The query a Spark `DESCRIBE <query>` statement describes (to be planned, not run), else None."""
    import sqlglot
    from sqlglot import exp

    if not text.lstrip()[:8].upper().startswith("DESCRIBE"):
        return None
    tree = sqlglot.parse_one(text, read="spark")
    return (
        tree.this.sql(dialect="spark") if isinstance(tree, exp.Describe) and isinstance(tree.this, exp.Query) else None
    )


def _rewrite(tree, name: str, regex: RegexFlavour):
    """The DuckDB idioms sqlglot carries over word for word but Spark spells otherwise."""
    from sqlglot import exp, parse_one

    def refuse(construct: str, why: str):
        raise NotPortable(f"{name} cannot run on Spark: {construct} ({why})")

    # A list index: DuckDB counts from 1 and from the end below 0, with [0] and past the end
    # NULL; try_element_at does the same but fails on 0 (element_at too, where ANSI mode is
    # off; Sail's element_at fails past the end whatever the mode). sqlglot has already moved a literal
    # index to Spark's base (2 reads 1, -1 reads -2, 0 reads -1), so that shift is undone.
    for node in list(tree.find_all(exp.Bracket)):
        index = node.expressions
        if len(index) != 1:
            continue
        (i,) = index
        if isinstance(i, exp.Slice):
            refuse(
                f"the slice {node.sql(dialect='duckdb')}",
                "a slice of a list or a text has no one spelling in Spark: use list_slice or substring",
            )
        literal = i.this if isinstance(i, exp.Neg) else i
        if isinstance(literal, exp.Literal) and literal.is_string:
            continue  # a key of a map or a field of a struct
        if isinstance(literal, exp.Literal) and literal.is_int:
            i = exp.Literal.number((-1 if isinstance(i, exp.Neg) else 1) * int(literal.this) + 1)
        node.replace(
            exp.Anonymous(
                this="try_element_at",
                expressions=[
                    node.this,
                    exp.Nullif(this=exp.Cast(this=i, to=exp.DataType.build("int")), expression=exp.Literal.number(0)),
                ],
            )
        )
    rewrite_regexes(tree, regex)
    # epoch(ts) is seconds with their fraction; Spark's unix_timestamp drops the fraction.
    for node in list(tree.find_all(exp.TimeToUnix)):
        node.replace(
            exp.Div(
                this=exp.Anonymous(this="unix_micros", expressions=[node.this]), expression=exp.Literal.number("1e6")
            )
        )
    # substring from 0 (DuckDB counts the place before the text) or with a negative length
    # (the characters before the start) means otherwise in Spark: a literal one is refused,
    # a computed one fails when it comes.
    for node in list(tree.find_all(exp.Substring)):
        start, length = node.args.get("start"), node.args.get("length")
        if start is None:
            continue
        odd = exp.EQ(this=start.copy(), expression=exp.Literal.number(0))
        if length is not None:
            odd = exp.or_(odd, exp.LT(this=length.copy(), expression=exp.Literal.number(0)))
        if all(_int(a) is not None for a in (start, length) if a is not None):
            if _int(start) == 0 or (length is not None and _int(length) < 0):
                refuse(node.sql(dialect="duckdb"), "a start of 0 or a negative length counts otherwise in Spark")
            continue
        message = exp.Literal.string(
            f"{name}: {node.sql(dialect='duckdb')} with a start of 0 or a negative length counts otherwise in Spark"
        )
        node.replace(
            exp.Case(
                ifs=[exp.If(this=odd, true=exp.Anonymous(this="raise_error", expressions=[message]))],
                default=node.copy(),
            )
        )
    # A fraction made an integer: DuckDB rounds (a double to even, a decimal away from zero),
    # Spark truncates; and `//` of fractions is plain division in DuckDB, DIV in Spark.
    for node in list(tree.find_all(exp.Cast)):
        if node.to.this.name in _INTEGRAL and _fractional(node.this):
            refuse(
                f"{node.sql(dialect='duckdb')}",
                "DuckDB rounds a fraction made an integer, Spark truncates: round() it first",
            )
    for node in list(tree.find_all(exp.IntDiv)):
        if _fractional(node.this) or _fractional(node.expression):
            refuse(f"{node.sql(dialect='duckdb')}", "// of a fraction divides in DuckDB, truncates in Spark")
    # After the check above, which reads DuckDB's own functions (fdiv's DOUBLE is whole), and
    # before the rewrites below, whose Spark lambdas already count from 0.
    rewrite_functions(tree)
    # strftime(x, '%G-W%V'), the ISO week label: Spark has no week-based pattern letters, but
    # weekofyear is ISO's, and the ISO year is the year of that week's Thursday (dayofweek
    # counts from Sunday = 1: Sail has no DAYOFWEEK_ISO, and its weekday reads Sunday as -1).
    for node in list(tree.find_all(exp.TimeToStr)):
        fmt = node.args.get("format")
        if isinstance(fmt, exp.Literal) and fmt.this == "%G-W%V":
            x = node.this.sql(dialect="spark")
            node.replace(
                parse_one(
                    f"concat(cast(year(date_add(to_date({x}), 3 - pmod(dayofweek({x}) + 5, 7))) as string), '-W', "
                    f"lpad(cast(weekofyear({x}) as string), 2, '0'))",
                    read="spark",
                )
            )
            continue
        # Any other pattern only as far as each part has a Spark letter known to mean the same
        # (sqlglot passes %j, %%, %u and literal letters on to read as something else).
        if not (isinstance(fmt, exp.Literal) and fmt.is_string):
            refuse("strftime with a pattern that is not a literal", "its parts cannot be checked")
        out = []
        for part in re.findall(r"%-?.|[^%]|%$", fmt.this):
            if part in _STRFTIME:
                out.append(_STRFTIME[part])
            elif len(part) == 1 and part in _LITERAL_CHARS:
                out.append(part)
            else:
                refuse(
                    f"{part!r} in strftime's pattern {fmt.this!r}", "no Spark pattern letter is known to mean the same"
                )
        node.replace(exp.Anonymous(this="date_format", expressions=[node.this, exp.Literal.string("".join(out))]))
    # `as materialized` is DuckDB's hint to compute a CTE once; Spark decides that itself.
    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)
    # quantile_cont(x, q): Spark's exact percentile interpolates linearly, as DuckDB's does.
    for node in list(tree.find_all(exp.PercentileCont)):
        node.replace(exp.Anonymous(this="percentile", expressions=[node.this, node.expression]))
    # `unnest(xs) as a, generate_subscripts(xs, 1) as i` side by side in a select list: one
    # generator that yields both, each element with its 1-based place.
    for select in list(tree.find_all(exp.Select)):
        for sub in [
            p
            for p in select.expressions
            if isinstance(p, exp.Alias)
            and isinstance(p.this, exp.Anonymous)
            and p.this.name.lower() == "generate_subscripts"
        ]:
            args = sub.this.expressions
            twin = next(
                (
                    p
                    for p in select.expressions
                    if isinstance(p, exp.Alias)
                    and isinstance(p.this, exp.Explode)
                    and len(args) == 2
                    and p.this.this == args[0]
                ),
                None,
            )
            if twin is None or args[1].sql() != "1":
                raise NotPortable(
                    f"{name} cannot run on Spark: generate_subscripts without the unnest of the same list beside it"
                )
            items = args[0].sql(dialect="spark")
            twin.replace(
                parse_one(
                    f"inline(transform({items}, (e, i) -> named_struct('{twin.alias}', e, "
                    f"'{sub.alias}', cast(i + 1 as bigint))))",
                    read="spark",
                )
            )
            sub.pop()
    return tree


_INTEGRAL = frozenset(
    {"TINYINT", "SMALLINT", "INT", "BIGINT", "UTINYINT", "USMALLINT", "UINT", "UBIGINT", "INT128", "UINT128"}
)
# strftime's parts with a Spark date_format spelling that gives the same text (checked on both).
_STRFTIME = {
    "%Y": "yyyy",
    "%m": "MM",
    "%d": "dd",
    "%H": "HH",
    "%M": "mm",
    "%S": "ss",
    "%f": "SSSSSS",
    "%y": "yy",
    "%I": "hh",
    "%p": "a",
    "%a": "EEE",
    "%A": "EEEE",
    "%b": "MMM",
    "%B": "MMMM",
    "%j": "DDD",
    "%-d": "d",
    "%-m": "M",
    "%-H": "H",
    "%-I": "h",
    "%-M": "m",
    "%-S": "s",
    "%%": "%",
}
# Text between them that Spark's patterns take as itself (a letter would be a pattern letter).
_LITERAL_CHARS = frozenset(" -:/.,_|()+=@!~;*<>")


def _int(node) -> int | None:
    """An integer literal's value (-3 is a negation of 3 to sqlglot), else None."""
    from sqlglot import exp

    if isinstance(node, exp.Neg):
        inner = _int(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    return None


def _fractional(node) -> bool:
    """Whether an expression visibly gives a fraction (a double or a decimal) in DuckDB."""
    from sqlglot import exp

    if isinstance(node, exp.Paren):
        return _fractional(node.this)
    if isinstance(node, exp.Literal):
        return not node.is_string and not node.is_int
    if isinstance(node, exp.Neg):
        return _fractional(node.this)
    if isinstance(node, exp.Cast):
        return node.to.this.name in ("DOUBLE", "FLOAT", "DECIMAL")
    if isinstance(
        node,
        (
            exp.Div,
            exp.Avg,
            exp.Sqrt,
            exp.Pow,
            exp.Ln,
            exp.Log,
            exp.Exp,
            exp.Stddev,
            exp.StddevPop,
            exp.StddevSamp,
            exp.Variance,
            exp.VariancePop,
            exp.Median,
            exp.PercentileCont,
            exp.Quantile,
            exp.TimeToUnix,
            exp.Rand,
        ),
    ):
        return True
    if isinstance(node, exp.Round):
        return node.args.get("decimals") is not None
    if isinstance(
        node,
        (
            exp.Add,
            exp.Sub,
            exp.Mul,
            exp.Mod,
            exp.Coalesce,
            exp.Case,
            exp.If,
            exp.Greatest,
            exp.Least,
            exp.Max,
            exp.Min,
            exp.Sum,
        ),
    ):
        return any(_fractional(c) for c in node.iter_expressions())
    return False
