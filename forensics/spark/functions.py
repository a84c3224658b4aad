"""The macros the named queries call (measures.py, columns.py), written again by hand as Spark SQL
functions: their DuckDB bodies lean on semantics a translator cannot see (a lambda's 1-based index,
`list_position` giving NULL where Spark gives 0)."""

from __future__ import annotations

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
    "newcombe_low": """(k1 DOUBLE, n1 DOUBLE, k0 DOUBLE, n0 DOUBLE) RETURNS DOUBLE
        RETURN k1 / n1 - k0 / n0 - sqrt(power(k1 / n1 - wilson_low(k1, n1), 2)
            + power(wilson_high(k0, n0) - k0 / n0, 2))""",
    "newcombe_high": """(k1 DOUBLE, n1 DOUBLE, k0 DOUBLE, n0 DOUBLE) RETURNS DOUBLE
        RETURN k1 / n1 - k0 / n0 + sqrt(power(wilson_high(k1, n1) - k1 / n1, 2)
            + power(k0 / n0 - wilson_low(k0, n0), 2))""",
    "utc_week_start": """(ts TIMESTAMP) RETURNS DATE
        RETURN date_add(date '1970-01-01', cast(floor(unix_micros(ts) / 86400000000)
                        - pmod(floor(unix_micros(ts) / 86400000000) + 3, 7) as int))""",
    # Spark replaces every match, as 'g' does. RE2's \b is an ASCII word boundary, Java 17's
    # counts any Unicode letter as a word character (3ü4 holds no standalone number for Java):
    # the boundary is spelt out, so both read it as RE2 does.
    "fold_error": r"""(e STRING) RETURNS STRING
        RETURN regexp_replace(regexp_replace(regexp_replace(coalesce(e, ''),
            "'[^']*'|\"[^\"]*\"", "'<v>'"),
            'W-[0-9]+', 'W-<n>'),
            '(?<![0-9A-Za-z_])[0-9]+(?![0-9A-Za-z_])', '<n>')""",
}


def define_functions(session) -> None:
    """Create the macros every named query may call, as temporary Spark SQL functions."""
    for name, body in FUNCTIONS.items():
        session.sql(f"create or replace temporary function {name}{body}")
