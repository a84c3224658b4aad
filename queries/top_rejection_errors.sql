-- name: top_rejection_errors
-- kind: report
-- description: The most common reasons attempts were rejected, per model, with identifiers folded (phantom W-<n>).
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- param: top int = 5  -- how many reasons to keep per model
-- Staff ids (W-123) become W-<n>, other numbers <n> and quoted values '<v>', so one
-- validator complaint about different people counts as one reason. An answer with no
-- JSON in it counts as the reason `(no JSON in the answer)`.
with rejected as (
    select
        model,
        source_file,
        line,
        case
            when verdict_kind = 'no_json' then '(no JSON in the answer)'
            else fold_error(error)
        end as reason,
        error
    from attempts
    where verdict_kind in ('validation_failed', 'no_json')
        and ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
        and ($model is null or model = $model)
),
counted as (
    select
        model,
        reason,
        count(*) as rejections,
        count(distinct (source_file, line)) as sessions,
        min(error) as example
    from rejected
    group by model, reason
)
select
    model,
    reason,
    rejections,
    sessions,
    example
from counted
qualify row_number() over (partition by model order by rejections desc, reason) <= $top
order by model, rejections desc, reason
