-- name: attempts_to_accept
-- kind: report
-- description: Distribution of the attempts it took to accept (1 = first shot), per model.
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- `attempts_to_accept` is the view's: the accepted attempt's place among the call's
-- attempts ordered by iteration, then position (not iteration + 1, which gaps and repeats
-- in the numbering would move). An accepted call with no accepted attempt has none: its
-- row shows an empty `attempts_to_accept` (`forensics doctor` lists such calls).
-- `calls` counts accepted calls (rows, not distinct session ids); `share` is of the model's
-- accepted calls.
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
    attempts_to_accept,
    count(*) as calls,
    count(*) / sum(count(*)) over (partition by model) as share
from accepted
group by model, attempts_to_accept
order by model, attempts_to_accept
