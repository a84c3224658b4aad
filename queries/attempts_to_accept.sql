-- name: attempts_to_accept
-- kind: report
-- description: Distribution of the attempt at which calls were accepted (1 = first shot), per model.
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- `accepted_on_iteration` is 0-based as in the log; `attempts` is the view's
-- `attempts_to_accept`, the same plus one.
with accepted as (
    select
        model,
        attempts_to_accept
    from sessions
    where final_verdict = 'accepted'
        and ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
        and ($model is null or model = $model)
)
select
    model,
    attempts_to_accept - 1 as accepted_on_iteration,
    attempts_to_accept as attempts,
    count(*) as sessions,
    count(*) / sum(count(*)) over (partition by model) as share
from accepted
group by model, attempts_to_accept
order by model, attempts_to_accept
