"""Every figure is right: each measure pinned on hand-made calls, then every named query, the report,
`forensics alarm` and the docs' worked examples held to the plain-Python reference on generated logs
full of anomalies (tests/reference.py)."""

from __future__ import annotations

import json
import re
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.read.sources import resolve
from forensics.report.weekly import build_report, newcombe_interval, render_report
from forensics.store.connection import Store
from forensics.timewindow import resolve_week

from . import reference as ref
from .conftest import session, write_jsonl
from .figures import DOC, DOC_EXAMPLES, check_doc_examples, check_figures_agree, check_queries, check_report, records

WEEK = "2026-W46"
START = datetime(2026, 11, 9, tzinfo=UTC)
END = START + timedelta(days=7)
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
TREND_WEEKS = 3


def attempts(*spec):
    """Attempts from (iteration, verdict_kind) pairs; an iteration of None is left out."""
    out = []
    for iteration, verdict in spec:
        a = {"verdict_kind": verdict}
        if iteration is not None:
            a["iteration"] = iteration
        if verdict == "validation_failed":
            a["error"] = f"phantom W-{100 + len(out)}"
        out.append(a)
    return out


def row(sid, verdict, spec, **extra):
    """A session row with exactly these attempts."""
    r = session(sid, verdict=verdict, **extra)
    r["attempts"] = attempts(*spec)
    return r


def view(store, sid):
    """The sessions view's (first_shot, attempts_to_accept) of one call."""
    return store.execute("select first_shot, attempts_to_accept from sessions where session_id = $s", {"s": sid}).rows[
        0
    ]


# -- each definition, pinned ----------------------------------------------------------------------

FIRST_SHOT_CASES = {
    # session id: (final_verdict, attempts, first shot?, attempts to accept)
    "plain": ("accepted", [(0, "accepted")], True, 1),
    "second": ("accepted", [(0, "validation_failed"), (1, "accepted")], False, 2),
    "logged-out-of-order": ("accepted", [(1, "validation_failed"), (0, "accepted")], True, 1),
    "exhausted-first-accepted": ("max_iter_exhausted", [(0, "accepted"), (1, "no_json")], False, None),
    "infra-with-accepted": ("infra_error", [(0, "accepted")], False, None),
    "repeated-zero": ("accepted", [(0, "validation_failed"), (0, "accepted")], False, 2),
    "no-iteration-zero": ("accepted", [(1, "accepted")], False, 1),
    "unnumbered": ("accepted", [(None, "accepted")], False, 1),
    "unnumbered-goes-last": ("accepted", [(None, "no_json"), (0, "accepted")], True, 1),
    "gap": ("accepted", [(0, "validation_failed"), (5, "accepted")], False, 2),
    "repeats": ("accepted", [(0, "validation_failed"), (0, "validation_failed"), (1, "accepted")], False, 3),
    "accepted-no-accepted-attempt": ("accepted", [(0, "validation_failed")], False, None),
    "two-accepted": ("accepted", [(0, "accepted"), (1, "accepted")], True, 1),
    "no-attempts": ("accepted", [], False, None),
}


@pytest.fixture(scope="module")
def first_shot_store(tmp_path_factory):
    rows = [row(sid, v, spec) for sid, (v, spec, _, _) in FIRST_SHOT_CASES.items()]
    rows.append(session("missing-verdict", final_verdict=None))
    del rows[-1]["final_verdict"]
    p = write_jsonl(tmp_path_factory.mktemp("fs") / "s.jsonl", rows)
    with Store(resolve(str(p), env={})) as st:
        yield st


@pytest.mark.parametrize("sid", sorted(FIRST_SHOT_CASES))
def test_first_shot_and_attempts_to_accept_follow_the_definition(first_shot_store, sid):
    """First shot: accepted, and the first attempt by (iteration, position) is the accepted one at
    iteration 0. Attempts to accept: the accepted attempt's place in that order."""
    _, _, shot, place = FIRST_SHOT_CASES[sid]
    assert view(first_shot_store, sid) == (shot, place)


def test_first_shots_are_a_subset_of_the_calls_that_reached_the_model(first_shot_store):
    (r,) = first_shot_store.query("first_shot_success_rate").records()
    shots = sum(1 for _, _, shot, _ in FIRST_SHOT_CASES.values() if shot)
    reached = sum(1 for v, *_ in FIRST_SHOT_CASES.values() if v in ("accepted", "max_iter_exhausted"))
    assert (r["first_shot"], r["reached_model"], r["infra_error"], r["unknown_verdict"]) == (shots, reached, 1, 1)
    assert 0 <= r["ci_low"] <= r["rate"] == shots / reached <= r["ci_high"] <= 1


def test_production_figure_still_reproduces(tmp_path):
    """9 calls: 6 first shots, 2 exhausted on no_json, 1 cold-start timeout: 8 reached, 75%."""
    data = [session(f"p{i}", model="qwen3.5:latest") for i in range(6)]
    data += [
        session(f"x{i}", model="qwen3.5:latest", verdict="max_iter_exhausted", attempts=["no_json"] * 3)
        for i in range(2)
    ]
    data.append(session("cold", model="qwen3.5:latest", verdict="infra_error"))
    p = write_jsonl(tmp_path / "prod.jsonl", data)
    with Store(resolve(str(p), env={})) as st:
        (r,) = st.query("first_shot_success_rate").records()
        (w,) = st.query("model_weekly_summary").records()
        data = build_report(st, resolve_week(WEEK), trend_weeks=2, now=NOW)
    assert (r["reached_model"], r["first_shot"], r["rate"], r["infra_error"]) == (8, 6, 0.75, 1)
    assert (w["calls"], w["reached_model"], w["first_shot"], w["first_shot_rate"]) == (9, 8, 6, 0.75)
    (m,) = data["models"]
    assert (m["calls"], m["reached_model"], m["first_shot"], m["first_shot_rate"]) == (9, 8, 6, 0.75)
    assert "| 9 | 8 | 66.7% | 75.0% (41%–93%)" in render_report(data, "markdown")


def test_infra_rows_with_an_accepted_attempt_no_longer_make_200_percent(tmp_path):
    """The issue's case: every infra error carried an accepted attempt; the week read 200% (nan%-100%)."""
    data = [row(f"i{i}", "infra_error", [(0, "accepted")]) for i in range(4)]
    data += [row(f"e{i}", "max_iter_exhausted", [(0, "accepted"), (1, "no_json")]) for i in range(2)]
    p = write_jsonl(tmp_path / "s.jsonl", data)
    with Store(resolve(str(p), env={})) as st:
        (w,) = st.query("model_weekly_summary").records()
        report = render_report(build_report(st, resolve_week(WEEK), trend_weeks=2, now=NOW), "markdown")
    assert (w["first_shot"], w["reached_model"], w["first_shot_rate"]) == (0, 2, 0.0)
    assert "0.0% (0%–66%)" in report and "200.0%" not in report and "nan" not in report


def test_consecutive_rejections_follow_the_attempts_order(tmp_path):
    """Adjacent validation_failed attempts in (iteration, position) order; other verdicts end a run."""
    data = [
        row(
            "repeated",
            "max_iter_exhausted",
            [(0, "validation_failed"), (1, "validation_failed"), (1, "validation_failed")],
        ),
        row(
            "gaps", "max_iter_exhausted", [(0, "validation_failed"), (2, "validation_failed"), (5, "validation_failed")]
        ),
        row(
            "shuffled",
            "max_iter_exhausted",
            [(2, "validation_failed"), (0, "validation_failed"), (1, "no_json"), (3, "validation_failed")],
        ),
        row(
            "broken-by-no-json",
            "max_iter_exhausted",
            [(0, "validation_failed"), (1, "validation_failed"), (2, "no_json"), (3, "validation_failed")],
        ),
    ]
    p = write_jsonl(tmp_path / "s.jsonl", data)
    with Store(resolve(str(p), env={})) as st:
        got = {
            r["session_id"]: (r["longest_run"], r["errors"])
            for r in st.query("three_consecutive_rejections", {"min_run": 1}).records()
        }
    assert got == {
        "repeated": (3, "phantom W-100 | phantom W-101 | phantom W-102"),
        "gaps": (3, "phantom W-100 | phantom W-101 | phantom W-102"),
        # In order: 0 rejected (W-101), 1 no_json, 2 rejected (W-100), 3 rejected (W-103).
        "shuffled": (2, "phantom W-100 | phantom W-103"),
        "broken-by-no-json": (2, "phantom W-100 | phantom W-101"),
    }


def _folded(store, text):
    return store.execute("select fold_error($t)", {"t": text}).rows[0][0]


def test_rejection_reasons_fold_as_the_docs_and_the_note_say(first_shot_store):
    """The docs' own example of two messages that are one reason folds to one reason."""
    example = DOC[DOC.index("**Rejection reasons.**") : DOC.index("**Durations.**")]
    a, b = [m for m in re.findall(r"`([^`]*(?:'|\")[^`]*)`", example) if "required" in m]
    assert _folded(first_shot_store, a) == _folded(first_shot_store, b) == "missing required field '<v>' for W-<n>"
    assert _folded(first_shot_store, "unknown field \"notes\" at 12, W-7's 'x'") == (
        "unknown field '<v>' at <n>, W-<n>'<v>'x'"
    )
    note = first_shot_store.catalog.get("top_rejection_errors").notes
    assert "quotes becomes '<v>'" in note and "W-<n>" in note and "<n>" in note


def test_the_real_top_complaint_stays_in_the_top_three(tmp_path):
    """One complaint about four different fields outnumbers three complaints seen twice each."""
    fields = ["shift_id", "date", "site", "role"]
    data = [row(f"f{i}", "max_iter_exhausted", [(0, "validation_failed")]) for i in range(4)]
    for r, f in zip(data, fields):
        r["attempts"][0]["error"] = f"missing required field '{f}'"
    for i, other in enumerate(["fills must be an array", "too many fills", "shift overlaps"]):
        for j in range(2):
            extra = row(f"o{i}{j}", "max_iter_exhausted", [(0, "validation_failed")])
            extra["attempts"][0]["error"] = other
            data.append(extra)
    p = write_jsonl(tmp_path / "s.jsonl", data)
    with Store(resolve(str(p), env={})) as st:
        data = build_report(st, resolve_week(WEEK), trend_weeks=2, now=NOW)
    top = [(r["reason"], r["rejections"]) for r in data["rejections"]]
    assert top[0] == ("missing required field '<v>'", 4) and len(top) == 3


def test_durations_are_linear_percentiles_with_and_without_infra_errors(tmp_path):
    np = pytest.importorskip("numpy")
    every = [100, 200, 300, 5000, 5000]
    data = [session(f"a{i}", duration_ms=d) for i, d in enumerate(every[:3])]
    data += [session(f"t{i}", verdict="infra_error", duration_ms=d) for i, d in enumerate(every[3:])]
    p = write_jsonl(tmp_path / "s.jsonl", data)
    with Store(resolve(str(p), env={})) as st:
        (w,) = st.query("model_weekly_summary").records()
        report = build_report(st, resolve_week(WEEK), trend_weeks=2, now=NOW)
    assert w["p50_duration_ms"] == pytest.approx(np.percentile(every, 50)) == 300
    assert w["p95_duration_ms"] == pytest.approx(np.percentile(every, 95)) == pytest.approx(5000)
    assert w["p50_reached_model_ms"] == pytest.approx(np.percentile(every[:3], 50)) == 200
    assert w["p95_reached_model_ms"] == pytest.approx(np.percentile(every[:3], 95)) == pytest.approx(290)
    md = render_report(report, "markdown")
    assert "| 300 / 5,000 | 200 / 290 |" in md
    assert "p50 / p95 ms, all calls" in md and "p50 / p95 ms, reached model" in md
    assert "linear interpolation (numpy's default)" in md and "infra-error timeouts included" in md


@pytest.mark.parametrize(
    "k1, n1, k0, n0, low, high",
    [
        # Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10.
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
    ],
)
def test_newcombe_interval_matches_the_published_values(k1, n1, k0, n0, low, high):
    w1, w0 = ref.wilson(k1, n1), ref.wilson(k0, n0)
    got = newcombe_interval(k1 / n1, *w1, k0 / n0, *w0)
    # To the four decimals printed (the paper used z = 1.959964, the macros 1.96).
    assert got == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))


def _two_weeks(tmp_path, prev_shots, cur_shots, n=150):
    data = []
    for week, shots in (("2026-11-03", prev_shots), ("2026-11-10", cur_shots)):
        for i in range(n):
            verdict, spec = (
                ("accepted", [(0, "accepted")])
                if i < shots
                else ("max_iter_exhausted", [(0, "no_json"), (1, "no_json"), (2, "no_json")])
            )
            data.append(row(f"{week}-{i}", verdict, spec, ts=f"{week}T10:00:00Z"))
    p = write_jsonl(tmp_path / "s.jsonl", data)
    with Store(resolve(str(p), env={})) as st:
        return build_report(st, resolve_week(WEEK), trend_weeks=2, now=NOW)


@pytest.mark.parametrize(
    "prev_shots, cur_shots, verdict",
    [
        (75, 96, "up"),  # +14 pp on 150 calls a week (p ~ 0.01), though the two Wilson intervals overlap
        (96, 75, "down"),
        (75, 80, "no real change"),
    ],
)
def test_a_real_change_is_newcombes_interval_excluding_zero(tmp_path, prev_shots, cur_shots, verdict):
    data = _two_weeks(tmp_path, prev_shots, cur_shots)
    (m,) = data["models"]
    assert m["change"]["verdict"] == verdict
    assert (m["change"]["low"] > 0) == (verdict == "up") and (m["change"]["high"] < 0) == (verdict == "down")
    if verdict == "up":
        assert m["ci_low"] < ref.wilson(prev_shots, 150)[1], "the intervals overlap: the old rule said no change"
        md = render_report(data, "markdown")
        assert "▲ up +14.0 pp, real** (+2.8 pp to +24.7 pp)" in md and "Newcombe's 95% score interval" in md


def test_the_reports_alarm_section_counts_rows_whose_timestamp_does_not_parse(tmp_path):
    """The issue's case: the report said `ungrounded_accepted: 0` while `forensics alarm` exited 1."""
    from forensics.oncall.alarm import AlarmOptions, evaluate

    data = [
        session("ok", ts="2026-11-10T10:00:00Z"),
        session("bad-ts", grounded=False, ts="2026-11-10 at noon"),
        session("unverified", grounded=None, ts="yesterday"),
    ]
    p = write_jsonl(tmp_path / "s.jsonl", data)
    with Store(resolve(str(p), env={})) as st:
        report = build_report(st, resolve_week(WEEK), trend_weeks=2, now=NOW)
    outcome = evaluate(AlarmOptions(sessions=[str(p)], config="/dev/null", since=START.isoformat()))
    assert outcome.exit_code == 1 and [v["session_id"] for v in outcome.violations] == ["bad-ts"]
    alarms = {a["name"]: (a["count"], a["session_ids"]) for a in report["alarms"]}
    assert alarms == {
        "ungrounded_accepted": (1, ["bad-ts"]),
        "ungrounded_unknown_verdict": (0, []),
        "unverified_accepted_fill": (1, ["unverified"]),
    }


# -- the worked examples return what their named queries return -----------------------------------


def test_every_worked_example_names_its_query():
    assert [name for name, _ in DOC_EXAMPLES] == [
        "first_shot_success_rate",
        "three_consecutive_rejections",
        "ungrounded_accepted",
        "retrieval_depth_vs_first_shot",
        "model_weekly_summary",
        "retry_cost",
        "rejections_by_class",
        "prompt_template_first_shot",
    ]


EDGE_ROWS = [
    row(sid, v, spec, ts=f"2026-11-1{i % 5}T0{i % 10}:00:00-05:00", model=("m-a", "m-b")[i % 2])
    for i, (sid, (v, spec, _, _)) in enumerate(FIRST_SHOT_CASES.items())
] + [
    row("ungrounded-bad-ts", "accepted", [(0, "accepted")], ts="not a time", grounded=False),
    row("string-verdict", "accepted", [(0, "accepted")], grounded_in_roster="false"),
    row("run", "max_iter_exhausted", [(2, "validation_failed"), (0, "validation_failed"), (1, "validation_failed")]),
]


@pytest.mark.parametrize("data", ["edge", "sample"])
def test_worked_examples_match_their_named_queries(data, tmp_path, sample_dir):
    if data == "sample":
        folder = sample_dir
    else:
        folder = tmp_path / "edge"
        rows = EDGE_ROWS + [EDGE_ROWS[0]]  # a row logged twice
        write_jsonl(folder / "sessions.jsonl", rows)
        write_jsonl(
            folder / "replay_runs.jsonl",
            [{"session_id": "plain", "retrieval": {"hits": [{}] * 4}}, {"session_id": "gap"}],
        )
    check_doc_examples(folder)


@pytest.mark.default_keeps(1)
def test_every_figure_agrees_with_the_reference_on_the_sample(sample_dir):
    s, r = [str(sample_dir / "sessions.jsonl")], [str(sample_dir / "replay_runs.jsonl")]
    start, end = resolve_week("2026-W46")[1:]
    check_queries(s, r, start, end)
    check_figures_agree(s, r, start, end, check_report(s, r, "2026-W46", trend_weeks=4, now=NOW))


# -- generated logs full of anomalies --------------------------------------------------------------

MISSING = object()
ERRORS = st.one_of(
    st.sampled_from(
        [
            "phantom W-101",
            "phantom W-7",
            "missing required field 'shift_id'",
            'missing required field "date"',
            "schema: 'fills' must be an array",
            "too many fills: 12",
            '{"Schema":{"field":"x","reason":"y"}}',
            '{"Kind":"Policy","Field":"","Reason":"r"}',
            '{"Consistency":',
            "Roster: W-3 unknown",
        ]
    ),
    st.text(alphabet="aW-'\"0123456789 é_x", max_size=10),
)
VERDICT_KINDS = ("accepted", "validation_failed", "no_json", "infra_error")


@st.composite
def timestamps(draw):
    """Mostly valid RFC 3339 near the week boundaries in several offsets; some unparseable or absent."""
    kind = draw(st.sampled_from(["ok"] * 6 + ["bad", "missing"]))
    if kind == "missing":
        return MISSING
    if kind == "bad":
        return draw(st.sampled_from(["yesterday at noon", "", "2026-11-31T10:00:00Z"]))
    boundary = draw(st.sampled_from([START, START - timedelta(days=7), START - timedelta(days=14), None]))
    if boundary is None:  # anywhere from the trend's start to the report week's end
        instant = START - timedelta(days=14) + timedelta(seconds=draw(st.integers(0, 21 * 86400 - 1)))
    else:
        instant = boundary + timedelta(microseconds=draw(st.integers(-3 * 3600 * 10**6, 3 * 3600 * 10**6)))
    instant = min(instant, END - timedelta(microseconds=1))  # the logs end with the report's week
    offset = draw(
        st.sampled_from(
            [
                timedelta(0),
                timedelta(hours=-5),
                timedelta(hours=5, minutes=30),
                timedelta(hours=-8),
                timedelta(hours=14),
            ]
        )
    )
    zulu = offset == timedelta(0) and draw(st.booleans())
    local = instant.astimezone(timezone(offset))
    fraction = f"{local.microsecond:06d}{draw(st.integers(0, 999)):03d}"[: draw(st.integers(0, 9))]
    minutes = int(offset.total_seconds()) // 60
    suffix = "Z" if zulu else f"{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + suffix


MUTATIONS = ("shuffle", "shift", "repeat", "unnumber", "gap", "add_accepted")


@st.composite
def attempt_lists(draw, verdict):
    """Shaped as the format says; or shaped, then broken in a few of the ways logs break; or anything."""
    how = draw(st.sampled_from(["shaped", "mutated", "mutated", "anything"]))
    if how == "anything":
        return draw(
            st.lists(
                st.fixed_dictionaries(
                    {"verdict_kind": st.sampled_from(VERDICT_KINDS)},
                    optional={"iteration": st.integers(0, 4), "error": ERRORS, "span_id": st.just("sp")},
                ),
                max_size=5,
            )
        )
    if verdict == "infra_error":
        out = [{"iteration": 0, "verdict_kind": "infra_error", "error": "probe timed out after 5 s"}]
    else:
        n = draw(st.integers(1, 4))
        kinds = [draw(st.sampled_from(["validation_failed", "validation_failed", "no_json"])) for _ in range(n)]
        if verdict == "accepted":
            kinds[-1] = "accepted"
        out = []
        for i, k in enumerate(kinds):
            a = {"iteration": i, "verdict_kind": k}
            if k == "validation_failed":
                a["error"] = draw(ERRORS)
            out.append(a)
    if how == "shaped":
        return out
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3, unique=True)):
        at = draw(st.integers(0, len(out) - 1)) if out else 0
        if mutation == "shuffle":
            out = draw(st.permutations(out))
        elif mutation == "shift":  # iteration 0 missing
            out = [{**a, "iteration": a["iteration"] + 1} if "iteration" in a else a for a in out]
        elif mutation == "repeat" and len(out) > 1:
            out[at] = {**out[at], "iteration": out[(at + 1) % len(out)].get("iteration", 0)}
        elif mutation == "unnumber" and out:
            out[at] = {k: v for k, v in out[at].items() if k != "iteration"}
        elif mutation == "gap":
            out = [
                {**a, "iteration": a["iteration"] + 2} if a.get("iteration", 0) >= at and "iteration" in a else a
                for a in out
            ]
        elif mutation == "add_accepted":
            out = out[:at] + [{"iteration": draw(st.integers(0, 3)), "verdict_kind": "accepted"}] + out[at:]
    return out


@st.composite
def session_rows(draw):
    """One session row (now and then logged twice), anomalies included."""
    verdict = draw(st.sampled_from(["accepted", "accepted", "max_iter_exhausted", "infra_error", MISSING, "timeout"]))
    r = {
        "schema": "session.iterate.v1",
        "daemon": draw(st.sampled_from(["validatord", "gateway"])),
        "session_id": draw(st.sampled_from(["s1", "s2", "s3", "s4", "s5", MISSING])),
        "kind": draw(st.sampled_from(["fill", "fill", "playbook"])),
        "model": draw(st.sampled_from(["m-a", "m-a", "m-b", MISSING])),
        "provider": draw(st.sampled_from(["ollama", "vllm"])),
        "prompt": "p",
        "final_verdict": verdict,
        "attempts": draw(attempt_lists(verdict if isinstance(verdict, str) else "max_iter_exhausted")),
        "timestamp": draw(timestamps()),
        "artifact": draw(
            st.sampled_from([{"fills": [{"candidate_id": "W-1"}]}, {}, [], "", None, MISSING])
            if verdict == "accepted"
            else st.sampled_from([MISSING, MISSING, {"x": 1}])
        ),
        "grounded_in_roster": draw(st.sampled_from([True, True, False, "false", None, MISSING])),
        "duration_ms": draw(st.one_of(st.integers(0, 20000), st.just(MISSING))),
        "max_iterations": 3,
    }
    r["iterations"] = sum(1 for a in r["attempts"] if a.get("verdict_kind") != "infra_error")
    copies = draw(st.sampled_from([1, 1, 1, 2]))
    return [{k: v for k, v in r.items() if v is not MISSING}] * copies


@st.composite
def replay_rows(draw):
    """One replay run, with or without a session id and a hit list."""
    r = {
        "schema": "replay.run.v1",
        "timestamp": "2026-11-10T11:00:00Z",
        "task_id": "t",
        "model": "m-a",
        "status": "ok",
        "latency_ms": 10,
    }
    sid = draw(st.sampled_from(["s1", "s2", "s3", "s-orphan", MISSING]))
    if sid is not MISSING:
        r["session_id"] = sid
    hits = draw(st.one_of(st.integers(0, 8), st.just(MISSING)))
    if hits is not MISSING:
        r["retrieval"] = {"query": "q", "k": 8, "hits": [{"doc_id": f"d{i}", "score": 0.5} for i in range(hits)]}
    return r


@st.composite
def logs(draw):
    """Session rows and replay runs, sometimes in bulk, in one or two files, maybe with a torn line."""
    groups = draw(st.lists(session_rows(), max_size=24))
    volume = draw(st.sampled_from([1, 1, 1, 14]))  # now and then enough calls to judge a change
    rows = [r for g in groups for r in g] * volume
    return {
        "rows": rows,
        "replays": draw(st.lists(replay_rows(), max_size=8)),
        "two_files": draw(st.booleans()),
        "broken_line": draw(st.booleans()),
    }


def _write(folder: Path, log: dict) -> tuple[list[str], list[str]]:
    lines = [json.dumps(r, ensure_ascii=False) for r in log["rows"]]
    if log["broken_line"]:
        lines.insert(len(lines) // 2, '{"session_id": "torn", "final_verdict": "acc')
    if log["two_files"]:
        half = len(lines) // 2
        parts = {"sessions.jsonl": lines[:half], "sessions-b.jsonl": lines[half:]}
    else:
        parts = {"sessions.jsonl": lines}
    for name, part in parts.items():
        (folder / name).write_text("".join(line + "\n" for line in part), encoding="utf-8")
    write_jsonl(folder / "replay_runs.jsonl", log["replays"])
    return [str(folder / n) for n in parts], [str(folder / "replay_runs.jsonl")]


@pytest.mark.slow  # about a minute: on the slow line of .ci/run
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs())
def test_every_figure_agrees_with_the_reference_on_anomalous_logs(log):
    """Out-of-order, repeated and missing iterations, accepted attempts on exhausted and infra rows,
    missing and unknown verdicts, duplicate rows, unparseable times and mixed offsets around week
    boundaries, a torn line, two files: every named query, the report, `forensics alarm` and the
    worked examples agree with the reference, and every rate lies in [0, 1]."""
    with tempfile.TemporaryDirectory(prefix="forensics-measures-") as tmp:
        folder = Path(tmp)
        sessions, replays = _write(folder, log)
        check_queries(sessions, replays, START, END)
        report = check_report(sessions, replays, WEEK, trend_weeks=TREND_WEEKS, now=NOW)
        check_figures_agree(sessions, replays, START, END, report)
        if len(sessions) == 1 and not log["broken_line"]:
            check_doc_examples(folder)


def test_the_reference_is_not_vacuous():
    """The reference sees what the store sees on a small log (so agreeing means something)."""
    with tempfile.TemporaryDirectory() as tmp:
        p = write_jsonl(Path(tmp) / "s.jsonl", EDGE_ROWS)
        calls = ref.read_calls([str(p)])
        with Store(resolve(str(p), env={})) as st:
            got = records(st.execute("select session_id, first_shot from sessions order by line"))
    assert len(calls) == len(EDGE_ROWS) == len(got)
    assert [(c.session_id, ref.first_shot(c)) for c in calls] == [(g["session_id"], g["first_shot"]) for g in got]
    assert sum(ref.first_shot(c) for c in calls) >= 4
