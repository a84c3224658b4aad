"""The weekly per-model success report: data from the named queries, text from Jinja2 templates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ForensicsError
from ..measures import newcombe_interval
from ..pages import environment
from ..timewindow import week_label
from .chart import chart
from .chart import trend_weeks as trend_weeks_shown
from .glance import alarm_cards, headline, partial_week

# Fewer calls that reached the model than this, and a model's rate is flagged, not ranked.
MIN_SESSIONS = 30


def _model_order(model: str | None) -> tuple[bool, str]:
    """Models by name, a row without one last (as the queries order them)."""
    return (model is None, model or "")


def _by_model(rows: list[dict]) -> dict[str, dict]:
    return {r["model"]: r for r in rows}


def _change(cur: dict, prev: dict | None) -> dict:
    """Compare first-shot rates across weeks: 'up' or 'down' only when the difference's interval excludes 0."""
    if prev is None:
        return {"verdict": "new", "delta": None, "prev_rate": None, "low": None, "high": None}
    if cur["reached_model"] < MIN_SESSIONS or prev["reached_model"] < MIN_SESSIONS:
        return {
            "verdict": "too few sessions",
            "delta": None,
            "prev_rate": prev["first_shot_rate"],
            "low": None,
            "high": None,
        }
    # Both weeks have calls that reached the model, so both rates and intervals exist.
    low, high = newcombe_interval(
        cur["first_shot_rate"], cur["ci_low"], cur["ci_high"], prev["first_shot_rate"], prev["ci_low"], prev["ci_high"]
    )
    verdict = "up" if low > 0 else "down" if high < 0 else "no real change"
    return {
        "verdict": verdict,
        "delta": cur["first_shot_rate"] - prev["first_shot_rate"],
        "prev_rate": prev["first_shot_rate"],
        "low": low,
        "high": high,
    }


def build_report(
    store, week: tuple[str, datetime, datetime], *, trend_weeks: int = 8, now: datetime | None = None, memory=None
) -> dict[str, Any]:
    """Gather every section's figures; the logs are parsed once into temp tables first.

    With the alarm's memory (a store's own, or ``memory``), the incidents of the week too.
    """
    label, start, end = week
    trend_start = start - timedelta(weeks=trend_weeks - 1)
    wk = {"since": start, "until": end}
    # Every statement the report runs, bound once, so that the store can ask DuckDB which
    # columns they read and parse only those (no prompts, no line numbers), once.
    sections = {
        "model_weekly_summary": {"since": trend_start, "until": end},
        "top_rejection_errors": {**wk, "top": 3},
        "retrieval_depth_vs_first_shot": wk,
        "retry_cost": wk,
    }
    statements = {}
    for name, params in sections.items():
        q = store.catalog.get(name)
        statements[name] = (q.sql, q.bind(params))
    # A condition alarm (a rate over days, a streak: `-- identity:`) judges no week's rows: its
    # incidents are in the incidents section.
    alarm_queries = [q for q in store.catalog.alarms() if not q.identity]
    for q in alarm_queries:
        params = q.bind({k: v for k, v in wk.items() if k in q.params})
        statements[q.name] = (_ids_only(store, q.sql, params), params)
    # Every statement is bound to its span: a store loads only the trend's days (and counts the
    # rest from its manifest), with replay runs of any day to join them. Logs are read whole
    # anyway, and their load keeps every row's time for the coverage.
    stored = getattr(store, "lake", None) is not None
    store.materialize(
        since=trend_start,
        until=end,
        replay=True,
        columns=store.columns_read(list(statements.values())),
        window_only=stored,
    )

    def run(name: str):
        sql, params = statements[name]
        return store.execute(sql, params)

    coverage = store.coverage()
    weekly = run("model_weekly_summary").records()
    this_week = [r for r in weekly if r["week"] == label]
    prev_year, prev_week, _ = (start - timedelta(days=7)).isocalendar()
    prev_label = f"{prev_year}-W{prev_week:02d}"
    prev = _by_model([r for r in weekly if r["week"] == prev_label])
    models = []
    for r in this_week:
        reached = r["reached_model"]
        models.append(
            {
                **r,
                "accepted_pct": r["accepted"] / r["calls"] if r["calls"] else None,
                "max_iter_pct": r["max_iter_exhausted"] / r["calls"] if r["calls"] else None,
                "infra_pct": r["infra_error"] / r["calls"] if r["calls"] else None,
                "too_few": reached < MIN_SESSIONS,
                "change": _change(r, prev.get(r["model"])),
            }
        )
    # Ranked by first-shot rate; models with too few sessions to judge go last, unranked.
    models.sort(key=lambda m: (m["too_few"], -(m["first_shot_rate"] or 0), _model_order(m["model"])))
    alarms = []
    for q in alarm_queries:
        rows = run(q.name).rows
        alarms.append(
            {
                "name": q.name,
                "severity": q.severity,
                "count": len(rows),
                "session_ids": sorted({sid for (sid,) in rows if sid}),
            }
        )
    # Each model's top reasons, grouped by their error class.
    rejections = sorted(
        run("top_rejection_errors").records(),
        key=lambda r: (_model_order(r["model"]), r["error_class"] or "", -r["rejections"], r["reason"]),
    )
    depth = run("retrieval_depth_vs_first_shot").records()
    buckets = list(dict.fromkeys(r["hits_bucket"] for r in sorted(depth, key=_bucket_order)))
    depth_by_model: dict[str, dict] = {}
    for r in depth:
        depth_by_model.setdefault(r["model"], {})[r["hits_bucket"]] = r
    # Every week of the trend, those without a call included (a report whose logs end early
    # shows the empty weeks as empty, never an older week as the latest), from the first week
    # with data on: a new store's empty past spends no width.
    all_weeks = [week_label(trend_start + timedelta(weeks=k)) for k in range(trend_weeks)]
    weeks = trend_weeks_shown(all_weeks, {r["week"] for r in weekly if r["first_shot_rate"] is not None})
    # The legend and the markdown trend follow the table's order; models not in this week after, by name.
    table_order = [m["model"] for m in models]
    trend_models = table_order + sorted({r["model"] for r in weekly} - set(table_order), key=_model_order)
    trend = {m: {r["week"]: r["first_shot_rate"] for r in weekly if r["model"] == m} for m in trend_models}
    bands = {
        m: {
            r["week"]: {"rate": r["first_shot_rate"], "low": r["ci_low"], "high": r["ci_high"]}
            for r in weekly
            if r["model"] == m
        }
        for m in trend_models
    }
    marks = {m["model"]: m["change"]["verdict"] for m in models if m["change"]["verdict"] in ("up", "down")}
    if memory is None and store.lake is not None:
        from ..oncall.memory import Memory

        memory = Memory.of_store(store.lake.root)
    incidents = silences = None
    if memory is not None:
        from ..oncall.history import history, silence_history

        events = memory.events()
        incidents = history(events, start, end, now)
        silences = silence_history(events, start, end)
    now = now or datetime.now(UTC)
    empty = not this_week
    alarms = alarm_cards(alarms, incidents)
    return {
        "week": label,
        "headline": headline(models, incidents, alarms, empty),
        "partial": partial_week(start, end, now),
        "incidents": incidents,
        "silences": silences,
        "start": start,
        "end": end - timedelta(seconds=1),
        "generated": now,
        "models": models,
        "empty": empty,
        "alarms": alarms,
        "rejections": rejections,
        "retry_cost": sorted(run("retry_cost").records(), key=lambda r: _model_order(r["model"])),
        "depth": depth,
        "depth_buckets": buckets,
        "depth_by_model": dict(sorted(depth_by_model.items(), key=lambda kv: _model_order(kv[0]))),
        # A store's replay runs count as given, whether or not this command named their logs.
        "replay_given": store.lake.replay_sources if store.lake is not None else bool(store.sources.replay_runs),
        "trend_weeks": weeks,
        "trend_left_out": all_weeks[: len(all_weeks) - len(weeks)],
        "trend_empty": [w for w in weeks if not any(p.get(w) is not None for p in trend.values())],
        "trend": trend,
        "chart": chart(weeks, bands, trend_models, marks),
        "min_sessions": MIN_SESSIONS,
        "unknown_verdicts": sum(m["calls"] - m["reached_model"] - m["infra_error"] for m in models),
        "basis": {
            # a store read by DuckDB (its lake) or by Spark (its manifest)
            "store": store.lake is not None or getattr(store, "manifest", None) is not None,
            "files": [f.as_dict() for f in store.scan.files],
            "rows": coverage[0],
            "unreadable_lines": store.scan.unreadable_lines,
            "oldest": coverage[1],
            "newest": coverage[2],
        },
    }


def _ids_only(store, sql: str, params: dict) -> str:
    """An alarm query cut down to its rows' session ids: all the report shows of them."""
    columns = [row[0] for row in store.execute(f"describe {sql}", params).rows]
    ids = "session_id" if "session_id" in columns else "null::varchar as session_id"
    return f"select {ids} from (\n{sql}\n)"


_BUCKETS = ("no replay", "0", "1-2", "3-5", "6+")


def _bucket_order(row: dict) -> int:
    b = row["hits_bucket"]
    return _BUCKETS.index(b) if b in _BUCKETS else len(_BUCKETS)


def render_report(data: dict, fmt: str = "markdown") -> str:
    """Render the report as markdown or standalone HTML."""
    name = {"markdown": "report.md.j2", "html": "report.html.j2"}.get(fmt)
    if name is None:
        raise ForensicsError(f"unknown report format {fmt!r}; try one of: markdown, html")
    return environment().get_template(name).render(**data)
