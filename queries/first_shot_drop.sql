-- name: first_shot_drop
-- kind: alarm
-- severity: warn
-- identity: model
-- description: A model whose first-shot rate over the recent window is lower than over the days before it: a real drop, not a point estimate.
-- param: baseline timestamp = 29d  -- the start of the days the recent window is compared against
-- param: recent timestamp = 24h  -- the start of the recent window (it ends at until)
-- param: until timestamp = null  -- the end of the recent window (the alarm's clock)
-- param: min_calls int = 30  -- the fewest calls that reached the model on each side
-- A drop is real when Newcombe's 95% interval for the recent rate minus the earlier one (the
-- report's test of a week's change) lies below 0, and each side has at least `min_calls`
-- calls that reached the model. One row per model that dropped, known by the alarm and the
-- model: `forensics alarm` reads its thresholds from forensics.toml ([alarms.first_shot_drop]).
with calls as (
    select
        model,
        "timestamp" >= $recent::timestamptz as is_recent,
        reached_model(final_verdict) as reached,
        first_shot
    from sessions
    where "timestamp" >= $baseline::timestamptz
        and ($until is null or "timestamp" < $until::timestamptz)
),
per_model as (
    select
        model,
        count(*) filter (where is_recent and reached) as recent_calls,
        count(*) filter (where is_recent and first_shot) as recent_first_shot,
        count(*) filter (where not is_recent and reached) as baseline_calls,
        count(*) filter (where not is_recent and first_shot) as baseline_first_shot
    from calls
    group by model
),
judged as (
    select
        model,
        recent_calls,
        recent_first_shot / recent_calls as recent_rate,
        baseline_calls,
        baseline_first_shot / baseline_calls as baseline_rate,
        newcombe_low(recent_first_shot, recent_calls, baseline_first_shot, baseline_calls) as change_low,
        newcombe_high(recent_first_shot, recent_calls, baseline_first_shot, baseline_calls) as change_high
    from per_model
    where recent_calls >= greatest($min_calls, 1)
        and baseline_calls >= greatest($min_calls, 1)
)
select
    model,
    recent_calls,
    recent_rate,
    baseline_calls,
    baseline_rate,
    change_low,
    change_high
from judged
where change_high < 0
order by model
