-- name: unverified_accepted_fill
-- kind: alarm
-- severity: warn
-- description: Accepted fills with no roster verdict: the roster check did not run.
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- A verdict that is present but not a JSON boolean (e.g. the string "false") is no
-- verdict either, and is listed here rather than silently passed.
-- A row whose timestamp does not parse is in every window, as in `forensics alarm`:
-- a broken timestamp must not hide a violation.
select
    session_id,
    "timestamp",
    model,
    kind,
    daemon,
    provider,
    grounded_in_roster_raw,
    source_file,
    line
from sessions
where final_verdict = 'accepted'
    and kind = 'fill'
    and grounded_in_roster is null
    and ("timestamp" is null
        or (($since is null or "timestamp" >= $since::timestamptz)
            and ($until is null or "timestamp" < $until::timestamptz)))
order by "timestamp", session_id
