-- name: failure_streak
-- kind: alarm
-- severity: warn
-- identity: model
-- description: A model whose last calls all ended max_iter_exhausted or infra_error: a provider outage or a broken prompt.
-- param: since timestamp = null  -- only calls at or after this time
-- param: until timestamp = null  -- only calls before this time (the alarm's clock)
-- param: calls int = 5  -- how many of the model's last calls, all failed, make a streak
-- A model's calls are taken newest first by timestamp (a call without a valid one is not
-- placed, so not counted). One row per model whose last `calls` calls all failed, known by
-- the alarm and the model; `session_id` and `timestamp` are its newest call's, whose
-- `forensics incident` shows the streak. `forensics alarm` reads `calls` and the days it
-- looks back from forensics.toml ([alarms.failure_streak]).
with placed as (
    select
        model,
        session_id,
        "timestamp",
        kind,
        daemon,
        final_verdict,
        row_number() over (
            partition by model
            order by "timestamp" desc, session_id desc nulls last, final_verdict nulls last, kind nulls last,
                daemon nulls last
        ) as back
    from sessions
    where "timestamp" is not null
        and ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
),
last_calls as (
    select
        model,
        count(*) as calls,
        count(*) filter (where final_verdict = 'max_iter_exhausted') as max_iter_exhausted,
        count(*) filter (where final_verdict = 'infra_error') as infra_error,
        min("timestamp") as streak_since
    from placed
    where back <= greatest($calls, 1)
    group by model
)
select
    p.session_id,
    p."timestamp",
    l.model,
    p.kind,
    p.daemon,
    l.calls,
    l.max_iter_exhausted,
    l.infra_error,
    l.streak_since
from last_calls as l
join placed as p
    on p.model is not distinct from l.model
    and p.back = 1
where l.calls >= greatest($calls, 1)
    and l.max_iter_exhausted + l.infra_error = l.calls
order by l.model
