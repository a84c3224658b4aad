-- name: attempts_to_accept
-- kind: report
-- description: Distribution of the attempt at which calls were accepted (1 = first shot), per model.
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- `accepted_on_iteration` is 0-based as in the log; `attempts` is the same plus one.
with accepted as (
    select
        model,
        list_filter(attempts, lambda a: a.verdict_kind = 'accepted')[1].iteration
            as accepted_on_iteration
    from sessions
    where final_verdict = 'accepted'
        and ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
        and ($model is null or model = $model)
)
select
    model,
    accepted_on_iteration,
    accepted_on_iteration + 1 as attempts,
    count(*) as sessions,
    count(*) / sum(count(*)) over (partition by model) as share
from accepted
group by model, accepted_on_iteration
order by model, accepted_on_iteration
