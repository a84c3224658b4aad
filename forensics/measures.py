"""Every measure a figure rests on, defined once, as SQL text the store, the queries and the report share.

docs/SESSION_LOG.md, "What the figures mean", says each in words; tests/reference.py computes each
again in plain Python, and tests/test_measures.py holds the two to agreeing on anomalous logs.

- `MACROS`: the macros every connection gets (the named queries call them by name).
- `ATTEMPTS_IN_ORDER`, `FIRST_SHOT`, `ATTEMPTS_TO_ACCEPT`, `PROMPT_TEMPLATE`: the `sessions` view's expressions.
- `ERROR_CLASS`: the `attempts` view's `error_class`.
- `wilson_interval`, `newcombe_interval`: the two-proportion intervals, for figures Python combines.
"""

from __future__ import annotations

import math

# A call's attempts are taken in one order everywhere: by `iteration` (an attempt without
# one goes last), then by position in the list, so a repeated iteration number is still an
# attempt and a gap moves nothing. The ordered list holds what the order and the measures
# need (its 1-based `position` in the list, `iteration`, `verdict_kind`); the rest of an
# attempt is `attempts[position]`: copying every error text into it costs the view's load.
MACROS = r"""
create or replace temp macro reached_model(final_verdict) as
    -- An unknown or missing verdict did not (as far as anyone can tell) reach the model.
    coalesce(final_verdict in ('accepted', 'max_iter_exhausted'), false);
create or replace temp macro attempts_in_order(attempts) as
    list_sort(list_transform(attempts, lambda a, i: {
        'unnumbered': a.iteration is null,
        'iteration': a.iteration,
        'position': i,
        'verdict_kind': a.verdict_kind}));
create or replace temp macro first_shot(final_verdict, ordered) as
    -- Accepted, and the first attempt in that order is the accepted one, at iteration 0:
    -- a subset of the calls that reached the model, so every rate lies in [0, 1].
    coalesce(final_verdict = 'accepted'
             and ordered[1].verdict_kind = 'accepted'
             and ordered[1].iteration = 0, false);
create or replace temp macro attempts_to_accept(final_verdict, ordered) as
    -- The first accepted attempt's place in that order (1 = first shot), not iteration + 1.
    case when final_verdict = 'accepted' then
        list_position(list_transform(ordered, lambda a: a.verdict_kind), 'accepted')
    end;
create or replace temp macro attempt_count(attempts) as
    -- Every attempt logged, whatever its verdict; a call without an attempt list has none.
    -- array_length, not len: a list's length is spelt apart from a text's on Spark (functions.py).
    coalesce(array_length(attempts), 0);
create or replace temp macro rejection_count(attempts) as
    -- The model's answers turned down: the validator's rejections and the answers with no JSON.
    coalesce(len(list_filter(attempts, lambda a: a.verdict_kind in ('validation_failed', 'no_json'))), 0);
create or replace temp macro wilson_low(k, n) as
    -- The bounds are DOUBLEs, as the interval is: Sail makes greatest(DECIMAL, DOUBLE) a DECIMAL.
    case when n > 0 then greatest(0.0::double,
        ((k / n) + 1.96 ^ 2 / (2 * n)
         - 1.96 * sqrt((k / n) * (1 - k / n) / n + 1.96 ^ 2 / (4 * n * n)))
        / (1 + 1.96 ^ 2 / n))
    end;
create or replace temp macro wilson_high(k, n) as
    case when n > 0 then least(1.0::double,
        ((k / n) + 1.96 ^ 2 / (2 * n)
         + 1.96 * sqrt((k / n) * (1 - k / n) / n + 1.96 ^ 2 / (4 * n * n)))
        / (1 + 1.96 ^ 2 / n))
    end;
create or replace temp macro newcombe_low(k1, n1, k0, n0) as
    -- Newcombe's 95% interval (1998, method 10) for k1/n1 - k0/n0, from each rate's Wilson
    -- interval: the report's test of a real change (report/weekly.py), and first_shot_drop's.
    k1 / n1 - k0 / n0 - sqrt(power(k1 / n1 - wilson_low(k1, n1), 2) + power(wilson_high(k0, n0) - k0 / n0, 2));
create or replace temp macro newcombe_high(k1, n1, k0, n0) as
    k1 / n1 - k0 / n0 + sqrt(power(wilson_high(k1, n1) - k1 / n1, 2) + power(k0 / n0 - wilson_low(k0, n0), 2));
create or replace temp macro utc_week_start(ts) as
    -- The Monday (a DATE) of the ISO week holding ts, in UTC, by integer arithmetic on
    -- epoch microseconds: ten times faster than date_trunc or strftime on a TIMESTAMPTZ.
    -- 1970-01-01 was a Thursday; fdiv and fmod floor, so instants before 1970 are right too.
    date '1970-01-01' + (fdiv(epoch_us(ts), 86400000000)
                         - fmod(fdiv(epoch_us(ts), 86400000000) + 3, 7))::integer;
create or replace temp macro fold_error(e) as
    -- Quoted values first (an id inside quotes is a quoted value), then staff ids, then
    -- any other number standing alone. Both quotes in one pass, the first to open winning:
    -- an apostrophe inside a double-quoted value ("O'Brien") is part of that value.
    regexp_replace(regexp_replace(regexp_replace(coalesce(e, ''),
        '''[^'']*''|"[^"]*"', '''<v>''', 'g'),
        'W-[0-9]+', 'W-<n>', 'g'),
        '\b[0-9]+\b', '<n>', 'g');
create or replace temp macro error_class_of(word) as
    -- A validator variant's name, or a complaint's leading word, as its class; NULL for any other.
    case lower(word)
        when 'schema' then 'schema'
        when 'completeness' then 'completeness'
        when 'consistency' then 'consistency'
        when 'policy' then 'policy'
        when 'phantom' then 'roster'
        when 'roster' then 'roster'
    end;
create or replace temp macro is_json_object(e) as
    -- Malformed JSON is no object: json_type is asked only of text that parses.
    coalesce(case when json_valid(e) then json_type(e) = 'OBJECT' end, false);
create or replace temp macro error_variant(e) as
    -- The validator's variant an error text that is a JSON object names: the legacy flat
    -- shape's `Kind` when it is a string, else the one key of the tagged shape whose value is
    -- an object. Text that is no JSON object (malformed JSON included) names none.
    case when is_json_object(e) then
        coalesce(
            case when json_type(e, '$.Kind') = 'VARCHAR' then e ->> '$.Kind' end,
            case when len(json_keys(e)) = 1 then
                case
                    when json_type(e, '$.Schema') = 'OBJECT' then 'Schema'
                    when json_type(e, '$.Completeness') = 'OBJECT' then 'Completeness'
                    when json_type(e, '$.Consistency') = 'OBJECT' then 'Consistency'
                    when json_type(e, '$.Policy') = 'OBJECT' then 'Policy'
                end
            end)
    end;
create or replace temp macro error_class(verdict_kind, e) as
    -- Why an attempt was not accepted (NULL for an accepted one): the verdict kind first, then
    -- for a validator's rejection the variant its JSON names, or its text's leading word.
    case
        when verdict_kind = 'accepted' then null
        when verdict_kind = 'no_json' then 'no_json'
        when verdict_kind = 'infra_error' then 'infra'
        when verdict_kind = 'validation_failed' then coalesce(error_class_of(
            case
                when is_json_object(e) then error_variant(e)
                else regexp_extract(e, '^[ \t\n\r]*([A-Za-z]+)', 1)
            end), 'other')
        else 'other'
    end;
create or replace temp macro fold_prompt(p) as
    -- Dates (and times) first, then UUIDs and runs of eight or more hex digits standing alone
    -- (span and trace ids), then what fold_error folds: quoted values, staff ids, numbers.
    fold_error(regexp_replace(regexp_replace(p,
        '[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?)?',
        '<date>', 'g'),
        '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\b[0-9a-fA-F]{8,}\b', '<id>', 'g'));
create or replace temp macro template_text(p) as
    -- The folded prompt's words, one space between, a word repeated next to itself kept once
    -- (a list of context documents of any length is one template). The outer lambda binds the
    -- words once (a macro repeats its argument's text), so each word reads the one before it
    -- from a list already made.
    list_transform([string_split(trim(regexp_replace(fold_prompt(p), '[ \t\n\r]+', ' ', 'g')), ' ')],
        lambda w: array_to_string(list_filter(w,
            lambda x, i: x <> '' and (i = 1 or x is distinct from w[i - 1])), ' '))[1];
create or replace temp macro prompt_template(p) as
    -- A short stable hash of the words, and the first eight words; NULL for no words.
    list_transform([template_text(p)], lambda t:
        case when t <> '' then left(md5(t), 8) || ' ' || regexp_extract(t, '^[^ ]+( [^ ]+){0,7}') end)[1];
"""

# The view computes the ordered attempts once per row (a hidden column) and derives both
# measures from it: DuckDB evaluates a lambda once per expression that names it.
# `{attempts}` is the reader's attempts expression.
ATTEMPTS_IN_ORDER = "attempts_in_order({attempts})"
FIRST_SHOT = "first_shot(final_verdict, _attempts_in_order)"
ATTEMPTS_TO_ACCEPT = "attempts_to_accept(final_verdict, _attempts_in_order)"
PROMPT_TEMPLATE = "prompt_template(prompt)"
ERROR_CLASS = "error_class(attempt.verdict_kind, attempt.error)"

# Wilson at 95%, as the macros: the z the report's intervals all use.
Z = 1.96


def wilson_interval(k: int, n: int) -> tuple[float | None, float | None]:
    """The 95% Wilson score interval of k out of n (the `wilson_low`/`wilson_high` macros in Python)."""
    if n <= 0:
        return None, None
    p = k / n
    centre, half = p + Z**2 / (2 * n), Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n * n))
    return max(0.0, (centre - half) / (1 + Z**2 / n)), min(1.0, (centre + half) / (1 + Z**2 / n))


def newcombe_interval(
    p1: float, low1: float, high1: float, p0: float, low0: float, high0: float
) -> tuple[float, float]:
    """The 95% interval for p1 - p0 from each rate's Wilson interval (Newcombe 1998, method 10)."""
    d = p1 - p0
    return (d - math.sqrt((p1 - low1) ** 2 + (high0 - p0) ** 2), d + math.sqrt((high1 - p1) ** 2 + (p0 - low0) ** 2))
