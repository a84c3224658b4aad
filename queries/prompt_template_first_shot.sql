-- name: prompt_template_first_shot
-- kind: report
-- description: Prompt templates ranked by first-shot rate, with a 95% Wilson interval: which prompts the models get right at once.
-- param: since timestamp = null  -- only rows at or after this time
-- param: until timestamp = null  -- only rows before this time
-- param: model text = null  -- only this model
-- param: kind text = null  -- only this task kind
-- `prompt_template` is the `sessions` view's: the prompt with dates, ids, quoted values and
-- numbers folded, as a short hash of its words and its first eight words (calls without a
-- prompt share the empty template). `rate` is first shots out of `reached_model`, as in
-- first_shot_success_rate; `infra_error` counts the calls left out of it. Ranked by rate,
-- then by the calls that reached the model, then by template.
with calls as (
    select
        prompt_template,
        final_verdict,
        first_shot
    from sessions
    where ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
        and ($model is null or model = $model)
        and ($kind is null or kind = $kind)
),
per_template as (
    select
        prompt_template,
        count(*) as calls,
        count(*) filter (where reached_model(final_verdict)) as reached_model,
        count(*) filter (where first_shot) as first_shot,
        count(*) filter (where final_verdict = 'infra_error') as infra_error
    from calls
    group by prompt_template
)
select
    prompt_template,
    calls,
    reached_model,
    first_shot,
    first_shot / nullif(reached_model, 0) as rate,
    wilson_low(first_shot, reached_model) as ci_low,
    wilson_high(first_shot, reached_model) as ci_high,
    infra_error
from per_template
order by rate desc nulls last, reached_model desc, prompt_template nulls last
