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
    # size() of a NULL list is -1 where Spark's legacy setting is on: spelt out.
    "attempt_count": f"""(attempts ARRAY<{_ATTEMPT}>) RETURNS BIGINT
        RETURN case when attempts is null then 0 else size(attempts) end""",
    "rejection_count": f"""(attempts ARRAY<{_ATTEMPT}>) RETURNS BIGINT
        RETURN case when attempts is null then 0
            else size(filter(attempts, a -> a.verdict_kind in ('validation_failed', 'no_json'))) end""",
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
    "error_class_of": """(word STRING) RETURNS STRING
        RETURN case lower(word)
            when 'schema' then 'schema'
            when 'completeness' then 'completeness'
            when 'consistency' then 'consistency'
            when 'policy' then 'policy'
            when 'phantom' then 'roster'
            when 'roster' then 'roster'
        end""",
    # json_object_keys is NULL for text that is no JSON object. get_json_object gives a value's
    # text whatever its JSON type, but only a JSON string reads as a variant's name, and a
    # `Kind` of any type leaves the one-key tagged shape out, as in DuckDB.
    "error_variant": """(e STRING) RETURNS STRING
        RETURN case when json_object_keys(e) is not null then
            coalesce(
                get_json_object(e, '$.Kind'),
                case when size(json_object_keys(e)) = 1 then
                    case
                        when startswith(get_json_object(e, '$.Schema'), '{') then 'Schema'
                        when startswith(get_json_object(e, '$.Completeness'), '{') then 'Completeness'
                        when startswith(get_json_object(e, '$.Consistency'), '{') then 'Consistency'
                        when startswith(get_json_object(e, '$.Policy'), '{') then 'Policy'
                    end
                end)
        end""",
    "error_class": r"""(verdict_kind STRING, e STRING) RETURNS STRING
        RETURN case
            when verdict_kind = 'accepted' then null
            when verdict_kind = 'no_json' then 'no_json'
            when verdict_kind = 'infra_error' then 'infra'
            when verdict_kind = 'validation_failed' then coalesce(error_class_of(
                case
                    when json_object_keys(e) is not null then error_variant(e)
                    else regexp_extract(e, '^[ \t\n\r]*([A-Za-z]+)', 1)
                end), 'other')
            else 'other'
        end""",
    "fold_prompt": r"""(p STRING) RETURNS STRING
        RETURN fold_error(regexp_replace(regexp_replace(p,
            '[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?)?',
            '<date>'),
            '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|(?<![0-9A-Za-z_])[0-9a-fA-F]{8,}(?![0-9A-Za-z_])',
            '<id>'))""",
    # Each word beside the one before it (zip_with pads with NULL): Spark takes no lambda that
    # names the function's own argument.
    "template_words": """(words ARRAY<STRING>) RETURNS ARRAY<STRING>
        RETURN filter(zip_with(words, concat(array(cast(null as string)), words),
            (w, prev) -> case when w != '' and (prev is null or w != prev) then w end), w -> w is not null)""",
    "template_text": r"""(p STRING) RETURNS STRING
        RETURN array_join(template_words(split(trim(regexp_replace(fold_prompt(p), '[ \\t\\n\\r]+', ' ')), ' ')), ' ')""",
    # Spark takes no SQL function whose argument holds a lambda: template_text is called thrice.
    "prompt_template": """(p STRING) RETURNS STRING
        RETURN case when template_text(p) != '' then
            concat(left(md5(cast(template_text(p) as binary)), 8), ' ',
                regexp_extract(template_text(p), '^[^ ]+( [^ ]+){0,7}', 0)) end""",
}


def define_functions(session) -> None:
    """Create the macros every named query may call, as temporary Spark SQL functions."""
    for name, body in FUNCTIONS.items():
        session.sql(f"create or replace temporary function {name}{body}")
