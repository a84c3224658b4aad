-- name: model_weekly_summary
-- kind: report
-- description: Per ISO week (UTC) and model: volume, verdicts, first-shot rate, attempts to accept and latency.
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- `sessions` counts every row; `first_shot_rate` divides by the rows that reached the
-- model (all but infra_error), as first_shot_success_rate does. Weeks are ISO weeks of
-- the UTC timestamp, so a Sunday 23:30 -05:00 row belongs to the next week. Rows are
-- grouped by the week's Monday and labelled once per group: formatting a label per row
-- costs more than the rest of the query.
with calls as (
    select
        utc_week_start("timestamp") as monday,
        model,
        final_verdict,
        duration_ms,
        first_shot,
        attempts_to_accept
    from sessions
    where "timestamp" is not null
        and ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
        and ($model is null or model = $model)
)
select
    strftime(monday, '%G-W%V') as "week",
    model,
    count(*) as sessions,
    count(*) filter (where final_verdict = 'accepted') as accepted,
    count(*) filter (where first_shot) as first_shot,
    count(*) filter (where first_shot)
        / nullif(count(*) filter (where final_verdict <> 'infra_error'), 0) as first_shot_rate,
    wilson_low(count(*) filter (where first_shot),
        count(*) filter (where final_verdict <> 'infra_error')) as ci_low,
    wilson_high(count(*) filter (where first_shot),
        count(*) filter (where final_verdict <> 'infra_error')) as ci_high,
    count(*) filter (where final_verdict = 'max_iter_exhausted') as max_iter_exhausted,
    count(*) filter (where final_verdict = 'infra_error') as infra_error,
    avg(attempts_to_accept) filter (where final_verdict = 'accepted') as mean_attempts_to_accept,
    quantile_cont(duration_ms, 0.5) as p50_duration_ms,
    quantile_cont(duration_ms, 0.95) as p95_duration_ms
from calls
group by monday, model
order by monday, model
