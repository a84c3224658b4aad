-- name: session_replays
-- kind: report
-- description: Drill into one session id: its replay runs with what retrieval returned.
-- param: session_id text  -- the session (trace) id to show
select
    session_id,
    "timestamp",
    task_id,
    model,
    status,
    hits,
    retrieval.query as retrieval_query,
    list_transform(retrieval.hits, lambda h: h.doc_id) as doc_ids,
    latency_ms,
    source_file,
    line
from replay_runs
where session_id = $session_id
order by "timestamp", source_file, line
