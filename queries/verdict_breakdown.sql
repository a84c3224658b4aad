-- name: verdict_breakdown
-- kind: report
-- description: How calls ended, per model: accepted, max_iter_exhausted, infra_error (and anything else seen).
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- `calls` counts rows (iterate calls); a coordinator session can make several.
select
    model,
    final_verdict,
    count(*) as calls,
    count(*) / sum(count(*)) over (partition by model) as share
from sessions
where ($since is null or "timestamp" >= $since::timestamptz)
    and ($until is null or "timestamp" < $until::timestamptz)
    and ($model is null or model = $model)
group by model, final_verdict
order by model, calls desc, final_verdict
