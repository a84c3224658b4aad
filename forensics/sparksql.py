"""The named queries in Spark SQL: DuckDB's text translated by sqlglot, and our macros as Spark SQL functions.

The catalog stays one set of `.sql` files in DuckDB's dialect. sqlglot translates each statement
to Spark SQL, with any construct it cannot carry over made an error that names it (never a
guess); the macros the queries call (measures.py, columns.py) are defined again here as Spark SQL
functions, by hand, because their DuckDB bodies lean on semantics a translator cannot see
(a lambda's 1-based index, `list_position` giving NULL where Spark gives 0). A few DuckDB idioms
that sqlglot carries over word for word, though Spark spells them otherwise, are rewritten on the
parsed statement (`_rewrite`). Every built-in query is portable this way (tests/test_spark.py).
"""

from __future__ import annotations

from .errors import UsageError

# The same definitions as the DuckDB macros, measure for measure (tests/test_spark.py holds
# every built-in query to DuckDB's result on the same store).
_ATTEMPT = "STRUCT<iteration: BIGINT, verdict_kind: STRING, error: STRING, span_id: STRING>"
_ORDERED = "STRUCT<unnumbered: BOOLEAN, iteration: BIGINT, position: BIGINT, verdict_kind: STRING>"
FUNCTIONS = {
    "reached_model": """(final_verdict STRING) RETURNS BOOLEAN
        RETURN coalesce(final_verdict in ('accepted', 'max_iter_exhausted'), false)""",
    "attempts_in_order": f"""(attempts ARRAY<{_ATTEMPT}>) RETURNS ARRAY<{_ORDERED}>
        RETURN array_sort(transform(attempts, (a, i) -> named_struct(
            'unnumbered', a.iteration is null, 'iteration', a.iteration,
            'position', cast(i + 1 as bigint), 'verdict_kind', a.verdict_kind)))""",
    "first_shot": f"""(final_verdict STRING, ordered ARRAY<{_ORDERED}>) RETURNS BOOLEAN
        RETURN coalesce(final_verdict = 'accepted'
            and element_at(ordered, 1).verdict_kind = 'accepted'
            and element_at(ordered, 1).iteration = 0, false)""",
    "attempts_to_accept": f"""(final_verdict STRING, ordered ARRAY<{_ORDERED}>) RETURNS INT
        RETURN case when final_verdict = 'accepted' then
            cast(nullif(array_position(transform(ordered, a -> a.verdict_kind), 'accepted'), 0) as int) end""",
    "wilson_low": """(k DOUBLE, n DOUBLE) RETURNS DOUBLE
        RETURN case when n > 0 then greatest(0.0d,
            ((k / n) + power(1.96d, 2) / (2 * n)
             - 1.96d * sqrt((k / n) * (1 - k / n) / n + power(1.96d, 2) / (4 * n * n)))
            / (1 + power(1.96d, 2) / n)) end""",
    "wilson_high": """(k DOUBLE, n DOUBLE) RETURNS DOUBLE
        RETURN case when n > 0 then least(1.0d,
            ((k / n) + power(1.96d, 2) / (2 * n)
             + 1.96d * sqrt((k / n) * (1 - k / n) / n + power(1.96d, 2) / (4 * n * n)))
            / (1 + power(1.96d, 2) / n)) end""",
    "utc_week_start": """(ts TIMESTAMP) RETURNS DATE
        RETURN date_add(date '1970-01-01', cast(floor(unix_micros(ts) / 86400000000)
                        - pmod(floor(unix_micros(ts) / 86400000000) + 3, 7) as int))""",
    # Java's regex flavour reads these patterns as RE2 does; Spark replaces every match.
    "fold_error": r"""(e STRING) RETURNS STRING
        RETURN regexp_replace(regexp_replace(regexp_replace(regexp_replace(coalesce(e, ''),
            "'[^']*'", "'<v>'"),
            '"[^"]*"', "'<v>'"),
            'W-[0-9]+', 'W-<n>'),
            '\\b[0-9]+\\b', '<n>')""",
}


class NotPortable(UsageError):
    """A statement Spark cannot run as written (it names the construct)."""


def define_functions(session) -> None:
    """Create the macros every named query may call, as temporary Spark SQL functions."""
    for name, body in FUNCTIONS.items():
        session.sql(f"create or replace temporary function {name}{body}")


def to_spark(sql: str, *, name: str = "statement") -> str:
    """DuckDB SQL as Spark SQL; a construct sqlglot cannot translate is an error naming it."""
    import sqlglot
    from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

    try:
        trees = [t for t in sqlglot.parse(sql, read="duckdb") if t is not None]
        if len(trees) != 1:
            raise NotPortable(f"{name}: Spark runs one statement at a time, got {len(trees)}")
        return _rewrite(trees[0], name).sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise NotPortable(f"{name} cannot run on Spark: {_first_line(exc)}") from exc
    except ParseError as exc:
        raise NotPortable(f"{name} cannot be translated for Spark: {_first_line(exc)}") from exc


def _rewrite(tree, name: str):
    """The DuckDB idioms sqlglot carries over word for word but Spark spells otherwise."""
    from sqlglot import exp, parse_one

    # A list index that is not a literal: DuckDB counts from 1, Spark's [] from 0 (sqlglot
    # shifts only literals); element_at counts from 1, and past the end is NULL in both.
    for node in list(tree.find_all(exp.Bracket)):
        index = node.expressions
        if len(index) == 1 and not isinstance(index[0], exp.Literal):
            node.replace(exp.Anonymous(this="element_at", expressions=[
                node.this, exp.Cast(this=index[0], to=exp.DataType.build("int"))]))
    # strftime(x, '%G-W%V'), the ISO week label: Spark has no week-based pattern letters, but
    # weekofyear is ISO's, and the ISO year is the year of that week's Thursday.
    for node in list(tree.find_all(exp.TimeToStr)):
        fmt = node.args.get("format")
        if isinstance(fmt, exp.Literal) and fmt.this == "%G-W%V":
            x = node.this.sql(dialect="spark")
            node.replace(parse_one(
                f"concat(cast(year(date_add(to_date({x}), 4 - extract(DAYOFWEEK_ISO from {x}))) as string), '-W', "
                f"lpad(cast(weekofyear({x}) as string), 2, '0'))", read="spark"))
    # `as materialized` is DuckDB's hint to compute a CTE once; Spark decides that itself.
    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)
    # quantile_cont(x, q): Spark's exact percentile interpolates linearly, as DuckDB's does.
    for node in list(tree.find_all(exp.PercentileCont)):
        node.replace(exp.Anonymous(this="percentile", expressions=[node.this, node.expression]))
    # `unnest(xs) as a, generate_subscripts(xs, 1) as i` side by side in a select list: one
    # generator that yields both, each element with its 1-based place.
    for select in list(tree.find_all(exp.Select)):
        for sub in [p for p in select.expressions if isinstance(p, exp.Alias) and isinstance(p.this, exp.Anonymous)
                    and p.this.name.lower() == "generate_subscripts"]:
            args = sub.this.expressions
            twin = next((p for p in select.expressions if isinstance(p, exp.Alias)
                         and isinstance(p.this, exp.Explode) and len(args) == 2 and p.this.this == args[0]), None)
            if twin is None or args[1].sql() != "1":
                raise NotPortable(f"{name} cannot run on Spark: generate_subscripts without the unnest of the "
                                  "same list beside it")
            items = args[0].sql(dialect="spark")
            twin.replace(parse_one(f"inline(transform({items}, (e, i) -> named_struct('{twin.alias}', e, "
                                   f"'{sub.alias}', cast(i + 1 as bigint))))", read="spark"))
            sub.pop()
    return tree


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
