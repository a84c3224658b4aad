-- name: top_rejection_errors
-- kind: report
-- description: The most common reasons attempts were rejected, per model, with their error class and identifiers folded (phantom W-<n>).
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- param: top int = 5  -- how many reasons to keep per model
-- Reasons are folded by the fold_error macro, in this order: a value in single or double
-- quotes becomes '<v>', a staff id (W-123) W-<n>, any other number standing alone <n>; so
-- one validator complaint about different people or fields counts as one reason. An
-- answer with no JSON in it counts as the reason `(no JSON in the answer)`. `sessions`
-- counts the distinct session ids that met the reason; `example` is one raw message. Each
-- reason is counted within its `error_class` (the attempts view's), so validator envelopes
-- that fold alike (`{"Policy":{"reason":...}}`, `{"Completeness":{"reason":...}}`) stay apart.
with calls as (
    -- Calls are filtered before their attempts are unnested: DuckDB does not push a
    -- filter on the call's columns below an unnest, so the `attempts` view would unnest
    -- every call first.
    select
        model,
        session_id,
        attempts
    from sessions
    where ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
        and ($model is null or model = $model)
),
rejected as (
    select
        model,
        session_id,
        attempt.verdict_kind as verdict_kind,
        attempt.error as error
    from (
        select
            model,
            session_id,
            unnest(attempts) as attempt
        from calls
    )
    where attempt.verdict_kind in ('validation_failed', 'no_json')
),
reasons as (
    -- Folded once per distinct message, not once per attempt: the regexes are the cost.
    select
        verdict_kind,
        error,
        error_class(verdict_kind, error) as error_class,
        case
            when verdict_kind = 'no_json' then '(no JSON in the answer)'
            else fold_error(error)
        end as reason
    from (select distinct verdict_kind, error from rejected)
),
counted as (
    select
        r.model,
        f.error_class,
        f.reason,
        count(*) as rejections,
        count(distinct r.session_id) as sessions,
        min(r.error) as example
    from rejected as r
    join reasons as f
        on f.verdict_kind = r.verdict_kind
        and f.error is not distinct from r.error
    group by r.model, f.error_class, f.reason
)
select
    model,
    error_class,
    reason,
    rejections,
    sessions,
    example
from counted
qualify row_number() over (partition by model order by rejections desc, reason, error_class) <= $top
order by model, rejections desc, reason, error_class
