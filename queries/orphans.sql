-- name: orphans
-- kind: report
-- description: Session ids found in one stream and not the other, both ways.
-- `session_without_replay`: iterate calls never replayed; `replay_without_session`: replay
-- runs whose coordinator session left no row in the sessions log. Replay rows with no
-- session id at all cannot be joined and are counted apart by `forensics doctor`.
with session_ids as (
    select
        session_id,
        count(*) as rows,
        min("timestamp") as first_seen,
        max("timestamp") as last_seen
    from sessions
    where session_id is not null
    group by session_id
),
replay_ids as (
    select
        session_id,
        count(*) as rows,
        min("timestamp") as first_seen,
        max("timestamp") as last_seen
    from replay_runs
    where session_id is not null
    group by session_id
)
select
    'session_without_replay' as direction,
    s.session_id,
    s.rows,
    s.first_seen,
    s.last_seen
from session_ids as s
anti join replay_ids as r
    on r.session_id = s.session_id
union all
select
    'replay_without_session' as direction,
    r.session_id,
    r.rows,
    r.first_seen,
    r.last_seen
from replay_ids as r
anti join session_ids as s
    on s.session_id = r.session_id
order by direction, first_seen, session_id
