"""Every measure a figure rests on, defined once, as SQL text the store, the queries and the report share.

docs/SESSION_LOG.md, "What the figures mean", says each in words; tests/reference.py computes each
again in plain Python, and tests/test_measures.py holds the two to agreeing on anomalous logs.

- `MACROS`: the macros every connection gets (the named queries call them by name).
- `ATTEMPTS_IN_ORDER`, `FIRST_SHOT`, `ATTEMPTS_TO_ACCEPT`: the `sessions` view's expressions.
"""

from __future__ import annotations

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
"""

# The view computes the ordered attempts once per row (a hidden column) and derives both
# measures from it: DuckDB evaluates a lambda once per expression that names it.
# `{attempts}` is the reader's attempts expression.
ATTEMPTS_IN_ORDER = "attempts_in_order({attempts})"
FIRST_SHOT = "first_shot(final_verdict, _attempts_in_order)"
ATTEMPTS_TO_ACCEPT = "attempts_to_accept(final_verdict, _attempts_in_order)"
