-- name: model_weekly_summary
-- kind: report
-- description: Per ISO week (UTC) and model: volume, verdicts, first-shot rate, attempts to accept and latency.
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- `calls` counts every row (an iterate call); `reached_model` the calls that ended accepted or
-- max_iter_exhausted, the denominator of `first_shot_rate` (as in first_shot_success_rate;
-- infra errors and unknown verdicts are left out of it). Durations are percentiles by
-- linear interpolation (numpy's default, DuckDB's quantile_cont): `p50_duration_ms` and
-- `p95_duration_ms` over every call, infra-error timeouts included;
-- `p50_reached_model_ms` and `p95_reached_model_ms` over the calls that reached the model.
-- Weeks are ISO weeks of the UTC timestamp, so a Sunday 23:30 -05:00 row belongs to the
-- next week; a row whose timestamp does not parse belongs to no week.
with calls as (
    -- Grouped by the week's Monday and labelled once per group: formatting a label per row
    -- costs more than the rest of the query.
    select
        utc_week_start("timestamp") as monday,
        model,
        final_verdict,
        reached_model(final_verdict) as reached,
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
    count(*) as calls,
    count(*) filter (where reached) as reached_model,
    count(*) filter (where final_verdict = 'accepted') as accepted,
    count(*) filter (where first_shot) as first_shot,
    count(*) filter (where first_shot) / nullif(count(*) filter (where reached), 0) as first_shot_rate,
    wilson_low(count(*) filter (where first_shot), count(*) filter (where reached)) as ci_low,
    wilson_high(count(*) filter (where first_shot), count(*) filter (where reached)) as ci_high,
    count(*) filter (where final_verdict = 'max_iter_exhausted') as max_iter_exhausted,
    count(*) filter (where final_verdict = 'infra_error') as infra_error,
    avg(attempts_to_accept) as mean_attempts_to_accept,
    quantile_cont(duration_ms, 0.5) as p50_duration_ms,
    quantile_cont(duration_ms, 0.95) as p95_duration_ms,
    quantile_cont(duration_ms, 0.5) filter (where reached) as p50_reached_model_ms,
    quantile_cont(duration_ms, 0.95) filter (where reached) as p95_reached_model_ms
from calls
group by monday, model
-- the label sorts as its Monday does (ISO year, then week), and Spark orders only by what it selects
order by "week", model
