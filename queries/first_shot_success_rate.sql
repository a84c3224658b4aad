-- name: first_shot_success_rate
-- kind: report
-- description: First-shot success per model: accepted on iteration 0 out of the calls that reached the model, with a 95% Wilson interval.
-- param: since timestamp = null  -- only rows at or after this time (ISO, or an age like 7d)
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- param: kind text = null  -- only this task kind (fill, playbook, ...)
-- Infrastructure errors never reached the model and are left out of the denominator:
-- the production check of 9 calls (6 first-shot, 2 exhausted, 1 infra error) gives 8, 6, 0.75.
with reached as (
    select
        model,
        first_shot
    from sessions
    where final_verdict <> 'infra_error'
        and ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
        and ($model is null or model = $model)
        and ($kind is null or kind = $kind)
),
per_model as (
    select
        model,
        count(*) as sessions,
        count(*) filter (where first_shot) as first_shot
    from reached
    group by model
)
select
    model,
    sessions,
    first_shot,
    first_shot / sessions as rate,
    wilson_low(first_shot, sessions) as ci_low,
    wilson_high(first_shot, sessions) as ci_high
from per_model
order by model
