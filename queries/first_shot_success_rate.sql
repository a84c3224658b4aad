-- name: first_shot_success_rate
-- kind: report
-- description: First-shot success per model: first shots out of the calls that reached the model, with a 95% Wilson interval.
-- param: since timestamp = null  -- only rows at or after this time (ISO, or an age like 7d)
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- param: kind text = null  -- only this task kind (fill, playbook, ...)
-- `reached_model` counts the calls that ended accepted or max_iter_exhausted; `first_shot`
-- the accepted calls whose first attempt (by iteration, then position) was the accepted
-- one, at iteration 0: a subset, so `rate` lies in [0, 1]. Left out of the denominator and
-- counted beside it: `infra_error` (the call never reached the model) and
-- `unknown_verdict` (final_verdict missing or unknown; `forensics doctor` lists them).
-- The production check of 9 calls (6 first-shot, 2 exhausted, 1 infra error) gives 8, 6, 0.75.
with calls as (
    select
        model,
        final_verdict,
        first_shot
    from sessions
    where ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
        and ($model is null or model = $model)
        and ($kind is null or kind = $kind)
),
per_model as (
    select
        model,
        count(*) filter (where reached_model(final_verdict)) as reached_model,
        count(*) filter (where first_shot) as first_shot,
        count(*) filter (where final_verdict = 'infra_error') as infra_error,
        count(*) filter (where not reached_model(final_verdict)
            and final_verdict is distinct from 'infra_error') as unknown_verdict
    from calls
    group by model
)
select
    model,
    reached_model,
    first_shot,
    first_shot / nullif(reached_model, 0) as rate,
    wilson_low(first_shot, reached_model) as ci_low,
    wilson_high(first_shot, reached_model) as ci_high,
    infra_error,
    unknown_verdict
from per_model
order by model
