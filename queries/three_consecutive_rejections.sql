-- name: three_consecutive_rejections
-- kind: report
-- description: Calls where the validator rejected the artifact on at least three consecutive iterations.
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- param: min_run int = 3  -- the shortest run of consecutive rejections to report
-- Only `validation_failed` attempts count; a `no_json` attempt breaks the run.
-- A call is one log row, identified by its source file and line.
with rejections as (
    select
        source_file,
        line,
        iteration,
        error,
        iteration - row_number() over (partition by source_file, line order by iteration) as run_id
    from attempts
    where verdict_kind = 'validation_failed'
),
runs as (
    select
        source_file,
        line,
        count(*) as run_length,
        string_agg(coalesce(error, ''), ' | ' order by iteration) as errors
    from rejections
    group by source_file, line, run_id
),
longest as (
    select
        source_file,
        line,
        max(run_length) as longest_run,
        arg_max(errors, run_length) as errors
    from runs
    group by source_file, line
)
select
    s.session_id,
    s."timestamp",
    s.model,
    s.kind,
    l.longest_run,
    l.errors,
    s.final_verdict,
    s.source_file,
    s.line
from longest as l
join sessions as s
    on s.source_file = l.source_file
    and s.line = l.line
where l.longest_run >= $min_run
    and ($since is null or s."timestamp" >= $since::timestamptz)
    and ($until is null or s."timestamp" < $until::timestamptz)
    and ($model is null or s.model = $model)
order by s."timestamp", s.session_id
