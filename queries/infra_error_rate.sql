-- name: infra_error_rate
-- kind: report
-- description: Infrastructure errors per UTC day and provider: the calls that never reached the model.
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
select
    "timestamp"::date as day,
    provider,
    count(*) as calls,
    count(*) filter (where final_verdict = 'infra_error') as infra_errors,
    count(*) filter (where final_verdict = 'infra_error') / count(*) as rate
from sessions
where "timestamp" is not null
    and ($since is null or "timestamp" >= $since::timestamptz)
    and ($until is null or "timestamp" < $until::timestamptz)
group by day, provider
order by day, provider
