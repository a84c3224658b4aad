-- name: rejections_by_class
-- kind: report
-- description: Why attempts were not accepted, per ISO week (UTC) and model: attempts by error class (no_json, schema, completeness, consistency, policy, roster, infra, other).
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- `error_class` is the `attempts` view's (docs/SESSION_LOG.md, "What the figures mean"): every attempt
-- that was not accepted has one, an infrastructure error's included (class `infra`).
-- `attempts` counts them, `sessions` the distinct session ids that met the class, `share`
-- is of the week's and model's attempts not accepted. A row whose timestamp does not parse
-- belongs to no week.
with calls as (
    -- Calls are filtered before their attempts are unnested (as in top_rejection_errors).
    select
        utc_week_start("timestamp") as monday,
        model,
        session_id,
        attempts
    from sessions
    where "timestamp" is not null
        and ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
        and ($model is null or model = $model)
),
classed as (
    select
        monday,
        model,
        session_id,
        error_class(attempt.verdict_kind, attempt.error) as error_class
    from (
        select
            monday,
            model,
            session_id,
            unnest(attempts) as attempt
        from calls
    )
)
select
    strftime(monday, '%G-W%V') as "week",
    model,
    error_class,
    count(*) as attempts,
    count(distinct session_id) as sessions,
    count(*) / sum(count(*)) over (partition by monday, model) as share
from classed
where error_class is not null
group by monday, model, error_class
order by "week", model, attempts desc, error_class
