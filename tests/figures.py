"""Checking forensics' figures against tests/reference.py: the comparisons every figure test shares."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from forensics.oncall.alarm import AlarmOptions, evaluate
from forensics.read.sources import resolve
from forensics.report.weekly import build_report, render_report
from forensics.store.connection import Store
from forensics.timewindow import resolve_week

from . import reference as ref

ROOT = Path(__file__).resolve().parent.parent
RATES = ("rate", "ci_low", "ci_high", "share", "first_shot_rate")

# Each named query: its reference, and the columns (and directions) its rows are ordered by;
# None where that order is total and the rows must come in exactly the reference's order.
QUERIES = {
    "attempts_to_accept": (
        lambda c, r, **p: ref.attempts_to_accept_query(c, **p),
        [("model", 1), ("attempts_to_accept", 1)],
    ),
    "clean_first_shot": (lambda c, r, **p: ref.clean_first_shot(c, **p), [("timestamp", 1), ("session_id", 1)]),
    "failure_streak": (lambda c, r, **p: ref.failure_streak(c, **p), None),
    "first_shot_drop": (lambda c, r, **p: ref.first_shot_drop(c, **p), None),
    "first_shot_success_rate": (lambda c, r, **p: ref.first_shot_success_rate(c, **p), None),
    "infra_error_rate": (lambda c, r, **p: ref.infra_error_rate(c, **p), None),
    "model_weekly_summary": (lambda c, r, **p: ref.model_weekly_summary(c, **p), None),
    "orphans": (lambda c, r, **p: ref.orphans(c, r), None),
    "retrieval_depth_vs_first_shot": (lambda c, r, **p: ref.retrieval_depth_vs_first_shot(c, r, **p), None),
    "session_attempts": (lambda c, r, **p: ref.session_attempts(c, **p), None),
    "session_replays": (lambda c, r, **p: ref.session_replays(r, **p), None),
    "three_consecutive_rejections": (
        lambda c, r, **p: ref.three_consecutive_rejections(c, **p),
        [("timestamp", 1), ("session_id", 1)],
    ),
    "top_rejection_errors": (lambda c, r, **p: ref.top_rejection_errors(c, **p), None),
    "ungrounded_accepted": (lambda c, r, **p: ref.ungrounded_accepted(c, **p), [("timestamp", 1), ("session_id", 1)]),
    "ungrounded_unknown_verdict": (
        lambda c, r, **p: ref.ungrounded_unknown_verdict(c, **p),
        [("timestamp", 1), ("session_id", 1)],
    ),
    "unverified_accepted_fill": (
        lambda c, r, **p: ref.unverified_accepted_fill(c, **p),
        [("timestamp", 1), ("session_id", 1)],
    ),
    "verdict_breakdown": (lambda c, r, **p: ref.verdict_breakdown(c, **p), None),
    "retry_cost": (lambda c, r, **p: ref.retry_cost(c, **p), None),
    "rejections_by_class": (lambda c, r, **p: ref.rejections_by_class(c, **p), None),
    "prompt_template_first_shot": (lambda c, r, **p: ref.prompt_template_first_shot(c, **p), None),
}


def same(a, b) -> bool:
    """Equal values: floats to 1e-9, booleans only to booleans, aware times as instants."""
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _plain(value, json_column: bool):
    if json_column and isinstance(value, str):
        return json.loads(value)
    return value


def records(result) -> list[dict]:
    """A store Result as dicts, JSON columns parsed."""
    js = set(result.json_columns)
    return [{k: _plain(v, k in js) for k, v in zip(result.columns, row)} for row in result.rows]


def _sort_key(row: dict, order):
    key = []
    for column, direction in order:
        v = row[column]
        if isinstance(v, datetime):
            v = v.astimezone(UTC)
        key.append((v is None, (-v if direction < 0 else v) if v is not None else 0))
    return key


def assert_rows(got: list[dict], expected: list[dict], order=None, *, what: str = "") -> None:
    """The rows are the reference's: in its order where that is total (``order`` None), else in the
    same order of ``order``'s columns and otherwise as a multiset (``order`` empty: any order)."""
    assert len(got) == len(expected), f"{what}: {len(got)} rows, reference {len(expected)}\n{got}\n{expected}"
    columns = list(expected[0]) if expected else []
    for g in got:
        assert set(columns) <= set(g), f"{what}: columns {sorted(g)} lack {sorted(set(columns) - set(g))}"
    if order is None:
        for i, (g, e) in enumerate(zip(got, expected)):
            bad = [c for c in columns if not same(g[c], e[c])]
            assert not bad, f"{what}: row {i} differs in {bad}:\n got {g}\n ref {e}"
        return
    assert [_sort_key(g, order) for g in got] == [_sort_key(e, order) for e in expected], f"{what}: order"
    # Rows equal under `order` may come in any order among themselves.
    remaining = list(got)
    for e in expected:
        match = next((g for g in remaining if all(same(g[c], e[c]) for c in columns)), None)
        assert match is not None, f"{what}: no row matches the reference's {e}\n got {remaining}"
        remaining.remove(match)


def assert_rates_in_unit_interval(rows: list[dict], what: str) -> None:
    """Every rate, share and interval bound lies in [0, 1]."""
    for r in rows:
        for c in RATES:
            if r.get(c) is not None:
                assert -1e-12 <= r[c] <= 1 + 1e-12, f"{what}: {c} = {r[c]}"


def param_sets(query, start: datetime, end: datetime) -> list[dict]:
    """No parameters, then every filter the query takes, narrowed to one week."""
    if "session_id" in query.params:
        return [{"session_id": "s1"}, {"session_id": "s2"}]
    narrow = {"since": start, "until": end, "model": "m-a", "kind": "fill", "top": 2, "min_run": 1}
    return [{}, {k: v for k, v in narrow.items() if k in query.params}]


def check_queries(sessions: list[str], replays: list[str], start: datetime, end: datetime) -> None:
    """Every named query, with and without its filters, against the reference."""
    calls, runs = ref.read_calls(sessions), ref.read_replays(replays)
    with Store(resolve(sessions, replays, env={})) as st:
        assert set(QUERIES) == set(st.catalog.names()), "every named query has a reference"
        for name, (reference, order) in QUERIES.items():
            query = st.catalog.get(name)
            for params in param_sets(query, start, end):
                got = records(st.query(name, params))
                what = f"{name} {params}"
                assert_rates_in_unit_interval(got, what)
                assert_rows(got, reference(calls, runs, **params), order, what=what)


def check_figures_agree(sessions: list[str], replays: list[str], start: datetime, end: datetime, report: dict) -> None:
    """The first-shot figures of the queries and the report say the same about one week, per model."""
    window = {"since": start, "until": end}
    with Store(resolve(sessions, replays, env={})) as st:
        rate = {r["model"]: r for r in st.query("first_shot_success_rate", window).records()}
        weekly = {r["model"]: r for r in st.query("model_weekly_summary", window).records()}
        depth: dict = {}
        for r in st.query("retrieval_depth_vs_first_shot", window).records():
            n, k = depth.get(r["model"], (0, 0))
            depth[r["model"]] = (n + r["reached_model"], k + r["first_shot"])
        clean = st.query("clean_first_shot", window).records()
        shots = {(r[0], r[1]) for r in st.execute("select source_file, line from sessions where first_shot").rows}
    in_report = {m["model"]: m for m in report["models"]}
    assert weekly.keys() == in_report.keys()
    for model, r in rate.items():
        figures = {"first_shot_success_rate": (r["reached_model"], r["first_shot"], r["rate"])}
        if r["reached_model"] or r["infra_error"]:
            figures["retrieval_depth_vs_first_shot"] = depth[model] + (r["rate"],)
        if model in weekly:
            w, m = weekly[model], in_report[model]
            figures["model_weekly_summary"] = (w["reached_model"], w["first_shot"], w["first_shot_rate"])
            figures["report"] = (m["reached_model"], m["first_shot"], m["first_shot_rate"])
        assert len(set(figures.values())) == 1, (model, figures)
        assert sum(c["model"] == model for c in clean) <= r["first_shot"]
    assert {(c["source_file"], c["line"]) for c in clean} <= shots, "a clean first shot that is no first shot"


REPORT_KEYS = (
    "model",
    "calls",
    "reached_model",
    "accepted",
    "first_shot",
    "first_shot_rate",
    "ci_low",
    "ci_high",
    "max_iter_exhausted",
    "infra_error",
    "mean_attempts_to_accept",
    "p50_duration_ms",
    "p95_duration_ms",
    "p50_reached_model_ms",
    "p95_reached_model_ms",
    "too_few",
)


def check_report(sessions: list[str], replays: list[str], week: str, *, trend_weeks: int, now: datetime) -> dict:
    """The report's figures against the reference; its alarm section against `forensics alarm`."""
    label, start, end = resolve_week(week)
    with Store(resolve(sessions, replays, env={})) as st:
        data = build_report(st, (label, start, end), trend_weeks=trend_weeks, now=now)
    for fmt in ("markdown", "html"):
        assert not re.search(r"\bnan\b", render_report(data, fmt), re.I), "a figure printed as nan"
    want = ref.report(ref.read_calls(sessions), ref.read_replays(replays), start, trend_weeks=trend_weeks)
    got_models = [{k: m[k] for k in REPORT_KEYS} | {"change": m["change"]["verdict"]} for m in data["models"]]
    want_models = [{k: m[k] for k in REPORT_KEYS} | {"change": m["change"]} for m in want.models]
    assert_rows(got_models, want_models, what="report models")
    assert_rates_in_unit_interval(data["models"], "report models")
    assert {a["name"]: (a["count"], a["session_ids"]) for a in data["alarms"]} == want.alarms
    assert_rows(data["rejections"], want.rejections, what="report rejections")
    assert_rows(data["retry_cost"], want.retry_cost, what="report retry cost")
    assert_rows(data["depth"], want.depth, what="report depth")
    assert data["trend"].keys() == want.trend.keys()
    for model, points in want.trend.items():
        assert data["trend"][model].keys() == points.keys()
        assert all(same(data["trend"][model][w], v) for w, v in points.items()), model
    assert data["basis"]["rows"] == want.rows

    # `forensics alarm` over the same week (the logs end with it) says what the report says.
    outcome = evaluate(
        AlarmOptions(
            sessions=list(sessions),
            replay_runs=list(replays),
            config=os.devnull,
            since=start.isoformat(),
            max_unreadable=10**6,
            lock_wait=30,
        )
    )
    found: dict[str, list[str]] = {}
    for v in outcome.violations + outcome.warnings:
        found.setdefault(v["alarm"], []).append(v["session_id"])
    for a in data["alarms"]:
        ids = found.get(a["name"], [])
        assert (a["count"], a["session_ids"]) == (len(ids), sorted({i for i in ids if i})), a["name"]
    return data


DOC = (ROOT / "docs" / "SESSION_LOG.md").read_text(encoding="utf-8")
_SECTION = DOC[DOC.index("## Worked DuckDB examples") : DOC.index("\n## ", DOC.index("## Worked DuckDB examples") + 5)]
# (named query, SQL) for each worked example: the query is named in the paragraph above it.
DOC_EXAMPLES = [
    (re.findall(r"the named query `(\w+)`", before)[-1], sql)
    for before, sql in re.findall(r"((?:(?!```).)*?)```sql\n(.*?)```", _SECTION, re.S)
]


def run_doc_example(sql: str, folder: Path) -> list[dict]:
    """A worked example, run verbatim by plain DuckDB in the folder holding the logs."""
    con = duckdb.connect()
    *setup, last = [s for s in sql.split(";") if s.strip()]
    with contextlib.chdir(folder):
        for statement in setup:
            con.execute(statement)
        cur = con.execute(last)
        columns = [d[0] for d in cur.description]
        return [dict(zip(columns, row)) for row in cur.fetchall()]


def check_doc_examples(folder: Path) -> None:
    """Each worked example returns what its named query returns on sessions.jsonl and replay_runs.jsonl there."""
    s, r = str(folder / "sessions.jsonl"), str(folder / "replay_runs.jsonl")
    with Store(resolve(s, r, env={})) as st:
        for name, sql in DOC_EXAMPLES:
            doc_rows = run_doc_example(sql, folder)
            columns = list(doc_rows[0]) if doc_rows else []
            ours = [{c: row[c] for c in columns} for row in records(st.query(name))]
            assert_rows(doc_rows, ours, [], what=f"worked example for {name}")
