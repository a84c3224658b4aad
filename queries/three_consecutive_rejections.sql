-- name: three_consecutive_rejections
-- kind: report
-- description: Calls where the validator rejected the artifact on at least three consecutive attempts.
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- param: min_run int = 3  -- the shortest run of consecutive rejections to report
-- A run is `validation_failed` attempts next to each other in the call's attempts ordered
-- by iteration, then position; any other verdict (`no_json` included) ends it, and a
-- repeated iteration number is still an attempt. `errors` are the longest run's (the
-- first of equally long runs). A call is one log row, identified by its file and line.
with calls as (
    -- Calls are filtered before their attempts are unnested (see top_rejection_errors).
    select
        session_id,
        "timestamp",
        model,
        kind,
        final_verdict,
        source_file,
        line,
        attempts,
        attempts_in_order(attempts) as ordered
    from sessions
    where ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
        and ($model is null or model = $model)
),
steps as (
    select
        source_file,
        line,
        attempts,
        unnest(ordered) as attempt,
        generate_subscripts(ordered, 1) as step
    from calls
),
rejections as (
    select
        source_file,
        line,
        step,
        attempts[attempt.position].error as error,
        step - row_number() over (partition by source_file, line order by step) as run_id
    from steps
    where attempt.verdict_kind = 'validation_failed'
),
runs as (
    select
        source_file,
        line,
        min(step) as run_start,
        count(*) as run_length,
        string_agg(coalesce(error, ''), ' | ' order by step) as errors
    from rejections
    group by source_file, line, run_id
),
longest as (
    select
        source_file,
        line,
        run_length as longest_run,
        errors
    from runs
    qualify row_number() over (partition by source_file, line order by run_length desc, run_start) = 1
)
select
    c.session_id,
    c."timestamp",
    c.model,
    c.kind,
    l.longest_run,
    l.errors,
    c.final_verdict,
    c.source_file,
    c.line
from longest as l
join calls as c
    on c.source_file = l.source_file
    and c.line = l.line
where l.longest_run >= $min_run
order by c."timestamp", c.session_id
