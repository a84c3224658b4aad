-- name: ungrounded_accepted
-- kind: alarm
-- severity: critical
-- description: Accepted artifacts that named someone not on the staff roster (grounded_in_roster = false).
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- Every row is an incident: a hallucinated staff member reached a contract.
-- A row whose timestamp does not parse is in every window, as in `forensics alarm`:
-- a broken timestamp must not hide a violation.
select
    session_id,
    "timestamp",
    model,
    kind,
    daemon,
    provider,
    source_file,
    line
from sessions
where final_verdict = 'accepted'
    and grounded_in_roster = false
    and ("timestamp" is null
        or (($since is null or "timestamp" >= $since::timestamptz)
            and ($until is null or "timestamp" < $until::timestamptz)))
order by "timestamp", session_id
