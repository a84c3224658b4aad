-- name: retrieval_depth_vs_first_shot
-- kind: report
-- description: Did we feed the model enough corpus? First-shot rate per model by the retrieval hits of the session's replay runs.
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- Replay runs are folded per session id first (the most hits any of its runs had), so a
-- call is counted once however many replay rows share its id; only the runs of the
-- calls in question are folded. Calls whose session has no replay run fall in the bucket
-- `no replay`. `rate` is first shots out of `reached_model` (accepted or
-- max_iter_exhausted); `infra_error` counts the bucket's calls left out of it. Calls with
-- a missing or unknown final_verdict are in neither.
with calls_in_window as materialized (
    -- Read once, used twice: to pick the replay runs worth folding, and to count.
    select
        session_id,
        model,
        reached_model(final_verdict) as reached,
        final_verdict = 'infra_error' as infra_error,
        first_shot
    from sessions
    where (reached_model(final_verdict) or final_verdict = 'infra_error')
        and ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
        and ($model is null or model = $model)
),
depth_per_session as (
    select
        session_id,
        max(coalesce(hits, 0)) as hits
    from replay_runs
    where session_id in (select session_id from calls_in_window)
    group by session_id
),
calls as (
    select
        c.model,
        d.hits,
        c.reached,
        c.infra_error,
        c.first_shot
    from calls_in_window as c
    left join depth_per_session as d
        on d.session_id = c.session_id
),
bucketed as (
    select
        model,
        reached,
        infra_error,
        first_shot,
        case
            when hits is null then 'no replay'
            when hits = 0 then '0'
            when hits <= 2 then '1-2'
            when hits <= 5 then '3-5'
            else '6+'
        end as hits_bucket,
        case
            when hits is null then 0
            when hits = 0 then 1
            when hits <= 2 then 2
            when hits <= 5 then 3
            else 4
        end as bucket_order
    from calls
),
counted as (
    select
        model,
        hits_bucket,
        bucket_order,
        count(*) filter (where reached) as reached_model,
        count(*) filter (where first_shot) as first_shot,
        count(*) filter (where infra_error) as infra_error
    from bucketed
    group by model, hits_bucket, bucket_order
)
select
    model,
    hits_bucket,
    reached_model,
    first_shot,
    first_shot / nullif(reached_model, 0) as rate,
    wilson_low(first_shot, reached_model) as ci_low,
    wilson_high(first_shot, reached_model) as ci_high,
    infra_error
from counted
order by model, bucket_order
