-- name: session_attempts
-- kind: report
-- description: Drill into one session id: every call's attempts in order, with the validator's errors.
-- param: session_id text  -- the session (trace) id to show
select
    session_id,
    "timestamp",
    model,
    kind,
    final_verdict,
    iteration,
    verdict_kind,
    error,
    span_id,
    source_file,
    line
from attempts
where session_id = $session_id
order by "timestamp", source_file, line, iteration
