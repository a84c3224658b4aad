-- name: ungrounded_unknown_verdict
-- kind: alarm
-- severity: critical
-- description: Rows whose roster verdict is false but whose final_verdict is none the format knows (e.g. "Accepted").
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- A roster check runs on accepted artifacts only, so a false verdict beside a verdict that is
-- misspelled, mis-cased or missing is most likely an ungrounded accepted artifact that
-- `ungrounded_accepted` cannot see. Rows exhausted or failed with a false verdict are
-- `forensics doctor`'s (roster_verdict_not_accepted), not an incident.
-- A row whose timestamp does not parse is in every window, as in `forensics alarm`.
select
    session_id,
    "timestamp",
    model,
    kind,
    daemon,
    final_verdict,
    source_file,
    line
from sessions
where grounded_in_roster = false
    and (final_verdict is null or final_verdict not in ('accepted', 'max_iter_exhausted', 'infra_error'))
    and ("timestamp" is null
        or (($since is null or "timestamp" >= $since::timestamptz)
            and ($until is null or "timestamp" < $until::timestamptz)))
order by "timestamp", session_id
