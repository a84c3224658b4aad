-- name: session_attempts
-- kind: report
-- description: Drill into one session id: every call's attempts in order, with the validator's errors.
-- param: session_id text  -- the session (trace) id to show
-- Each call's attempts in the order every figure takes them (attempts_in_order: by
-- iteration, then by `position` in the logged list, 1-based).
with calls as (
    select
        *,
        attempts_in_order(attempts) as ordered
    from sessions
    where session_id = $session_id
),
steps as (
    select
        *,
        unnest(ordered) as attempt,
        generate_subscripts(ordered, 1) as step
    from calls
)
select
    session_id,
    "timestamp",
    model,
    kind,
    final_verdict,
    attempt.iteration as iteration,
    attempt.position as position,
    attempt.verdict_kind as verdict_kind,
    attempts[attempt.position].error as error,
    attempts[attempt.position].span_id as span_id,
    source_file,
    line
from steps
order by "timestamp", source_file, line, step
