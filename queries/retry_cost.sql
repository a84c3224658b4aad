-- name: retry_cost
-- kind: report
-- description: What retries cost per ISO week (UTC) and model: attempts and call time per accepted artifact, how often a call needed a retry, and how often a retry rescued it.
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- A rejection is an attempt the model answered that was turned down (`validation_failed` or
-- `no_json`). `retried` counts the calls that reached the model (accepted or
-- max_iter_exhausted) with at least one rejection; `retry_share` is of `reached_model`.
-- `recovered` counts the retried calls that were accepted in the end, and `recovery_rate`
-- (with its 95% Wilson interval) is of `retried`. Per accepted artifact: `calls`, every
-- `attempts` logged (an infra error's one attempt included) and the calls' `duration_ms`
-- summed over every call (`ms_per_accepted`; a missing duration adds nothing). A row whose
-- timestamp does not parse belongs to no week.
with calls as (
    select
        utc_week_start("timestamp") as monday,
        model,
        final_verdict,
        reached_model(final_verdict) as reached,
        attempt_count(attempts) as attempts,
        rejection_count(attempts) as rejections,
        duration_ms
    from sessions
    where "timestamp" is not null
        and ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
        and ($model is null or model = $model)
),
per_week as (
    select
        monday,
        model,
        count(*) as calls,
        count(*) filter (where final_verdict = 'accepted') as accepted,
        sum(attempts) as attempts,
        count(*) filter (where reached) as reached_model,
        count(*) filter (where reached and rejections > 0) as retried,
        count(*) filter (where reached and rejections > 0 and final_verdict = 'accepted') as recovered,
        sum(duration_ms) as duration_ms
    from calls
    group by monday, model
)
select
    strftime(monday, '%G-W%V') as "week",
    model,
    calls,
    accepted,
    calls / nullif(accepted, 0) as calls_per_accepted,
    attempts,
    attempts / nullif(accepted, 0) as attempts_per_accepted,
    reached_model,
    retried,
    retried / nullif(reached_model, 0) as retry_share,
    recovered,
    recovered / nullif(retried, 0) as recovery_rate,
    wilson_low(recovered, retried) as recovery_ci_low,
    wilson_high(recovered, retried) as recovery_ci_high,
    duration_ms / nullif(accepted, 0) as ms_per_accepted
from per_week
-- the label sorts as its Monday does (ISO year, then week)
order by "week", model
