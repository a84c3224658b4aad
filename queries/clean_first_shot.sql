-- name: clean_first_shot
-- kind: report
-- description: Every call where the model produced a real candidate without a retry: a first shot with a non-empty artifact.
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- param: kind text = null  -- only this task kind
-- `first_shot` is the view's (accepted, and the first attempt by iteration, then position,
-- is the accepted one at iteration 0). An empty artifact ({}, [], "" or null) is not a
-- candidate, even when accepted.
select
    session_id,
    "timestamp",
    model,
    kind,
    daemon,
    artifact,
    source_file,
    line
from sessions
where first_shot
    and artifact is not null
    and artifact::varchar not in ('{}', '[]', '""', 'null')
    and ($since is null or "timestamp" >= $since::timestamptz)
    and ($until is null or "timestamp" < $until::timestamptz)
    and ($model is null or model = $model)
    and ($kind is null or kind = $kind)
order by "timestamp", session_id
