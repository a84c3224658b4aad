"""The named-query catalog: every file parses and runs; each required query against hand-computed figures."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from forensics.catalog import builtin_dir, load_catalog, parse_query
from forensics.errors import CatalogError, ParameterError
from forensics.read.sources import resolve
from forensics.store.connection import Store
from forensics.timewindow import parse_time

from .conftest import replay, session, write_jsonl

QUERY_FILES = sorted(builtin_dir().glob("*.sql"))
REQUIRED = {
    "first_shot_success_rate": [
        "model",
        "reached_model",
        "first_shot",
        "rate",
        "ci_low",
        "ci_high",
        "infra_error",
        "unknown_verdict",
    ],
    "clean_first_shot": ["session_id"],
    "three_consecutive_rejections": ["session_id", "timestamp", "model", "kind", "longest_run", "errors"],
    "ungrounded_accepted": ["session_id", "timestamp", "model", "kind", "daemon", "source_file", "line"],
    "unverified_accepted_fill": ["session_id", "timestamp", "model", "kind", "daemon"],
    "retrieval_depth_vs_first_shot": ["model", "hits_bucket", "reached_model", "first_shot", "rate", "infra_error"],
    "model_weekly_summary": [
        "week",
        "model",
        "calls",
        "reached_model",
        "accepted",
        "first_shot",
        "first_shot_rate",
        "max_iter_exhausted",
        "infra_error",
        "mean_attempts_to_accept",
        "p50_duration_ms",
        "p95_duration_ms",
        "p50_reached_model_ms",
        "p95_reached_model_ms",
    ],
    "verdict_breakdown": ["model", "final_verdict"],
    "attempts_to_accept": ["model", "attempts_to_accept", "calls", "share"],
    "top_rejection_errors": ["model", "reason"],
    "infra_error_rate": ["day", "provider"],
    "orphans": ["direction", "session_id"],
}


def wilson(k, n, z=1.96):
    """The 95% Wilson score interval, written out independently of the SQL macro."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def ts(minute: int) -> str:
    return f"2026-11-10T10:{minute:02d}:00Z"


# The small fixture every hand-computed figure below comes from (see the docstring of each test).
MINI_SESSIONS = [
    session("s1", model="m-a", ts=ts(1), duration_ms=100),  # 1 first shot
    session(
        "s1", model="m-a", kind="playbook", ts=ts(2), duration_ms=200, attempts=["validation_failed", "accepted"]
    ),  # 2 second shot
    session("s2", model="m-a", verdict="max_iter_exhausted", ts=ts(3), duration_ms=300),  # 3 three rejections
    session("s3", model="m-a", verdict="infra_error", ts=ts(4), duration_ms=400),  # 4 infra
    session("s4", model="m-a", ts=ts(5), grounded=False, duration_ms=500),  # 5 UNGROUNDED
    session("s5", model="m-b", ts=ts(6), grounded=None, duration_ms=600),  # 6 unverified
    session(
        "s6",
        model="m-b",
        verdict="max_iter_exhausted",
        ts=ts(7),
        duration_ms=700,
        attempts=["validation_failed", "no_json", "validation_failed"],
    ),  # 7 run of 1
    session(
        "s7",
        model="m-b",
        ts=ts(8),
        duration_ms=800,
        max_iterations=4,
        attempts=["validation_failed"] * 3 + ["accepted"],
    ),  # 8 run of 3
    session("s8", model="m-b", kind="playbook", ts=ts(9), duration_ms=900, artifact={}),  # 9 empty artifact
    session("s9", model="m-b", ts="2026-11-15T23:30:00-05:00", duration_ms=1000),  # 10 Sunday night
]
MINI_REPLAYS = [replay("s1", 2), replay("s1", 7), replay("s2", 0), replay("s5", 3), replay("s99", 1)]


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    d = tmp_path_factory.mktemp("mini")
    s = write_jsonl(d / "sessions.jsonl", MINI_SESSIONS)
    r = write_jsonl(d / "replay_runs.jsonl", MINI_REPLAYS)
    with Store(resolve(str(s), str(r), env={})) as st:
        yield st


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    from forensics.sample.logs import generate

    d = tmp_path_factory.mktemp("sample-q")
    generate(d, sessions=600, seed=5)
    with Store(resolve(str(d / "sessions.jsonl"), str(d / "replay_runs.jsonl"), env={})) as st:
        yield st


def rows(store, name, **params):
    return store.query(name, params).records()


# Alarms the sample's well-behaved producers never trip: on it they must find nothing (no false
# positive); tests/test_trust_output.py plants what they look for.
# (The rate and streak alarms: tests/test_rate_alarms.py crafts what they look for.)
EMPTY_ON_SAMPLE = {"ungrounded_unknown_verdict", "failure_streak", "first_shot_drop"}


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.stem)
def test_every_query_parses_and_runs(path, mini, sample_store):
    q = parse_query(path, builtin=True)
    assert q.description, f"{path.name} has no description"
    params = {}
    if "session_id" in q.params:
        params["session_id"] = sample_store.execute(
            "select session_id from replay_runs where session_id in (select session_id from sessions) limit 1"
        ).rows[0][0]
    result = sample_store.query(q.name, params)
    if q.name in EMPTY_ON_SAMPLE:
        assert result.rows == [], f"{q.name} flags the sample's clean rows"
    else:
        assert result.rows, f"{q.name} returned nothing on the sample data"
    for col in REQUIRED.get(q.name, []):
        assert col in result.columns, f"{q.name} lacks column {col}"
    mini.query(q.name, {"session_id": "s1"} if "session_id" in q.params else {})


def test_required_queries_are_all_there():
    names = {p.stem for p in QUERY_FILES}
    assert set(REQUIRED) <= names


def test_first_shot_success_rate(mini):
    """m-a reached the model 4 times (row 4 is infra), first shot on rows 1 and 5; m-b 5 and 3."""
    got = {r["model"]: r for r in rows(mini, "first_shot_success_rate")}
    for model, (n, k) in {"m-a": (4, 2), "m-b": (5, 3)}.items():
        r = got[model]
        assert (r["reached_model"], r["first_shot"]) == (n, k)
        assert r["rate"] == pytest.approx(k / n)
        low, high = wilson(k, n)
        assert (r["ci_low"], r["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert rows(mini, "first_shot_success_rate", model="m-b")[0]["model"] == "m-b"
    assert len(rows(mini, "first_shot_success_rate", kind="playbook")) == 2


def test_production_figure_is_75_percent(tmp_path):
    """6 first-shot, 2 exhausted on no_json, 1 infra error: 8 reached the model, 6 first shot."""
    data = [session(f"p{i}", model="qwen3.5:latest") for i in range(6)]
    data += [
        session(f"x{i}", model="qwen3.5:latest", verdict="max_iter_exhausted", attempts=["no_json"] * 3)
        for i in range(2)
    ]
    data += [session("cold", model="qwen3.5:latest", verdict="infra_error")]
    p = write_jsonl(tmp_path / "prod.jsonl", data)
    with Store(resolve(str(p), env={})) as st:
        (r,) = rows(st, "first_shot_success_rate")
    assert (r["reached_model"], r["first_shot"], r["rate"]) == (8, 6, 0.75)
    assert (r["infra_error"], r["unknown_verdict"]) == (1, 0)


def test_clean_first_shot(mini):
    """Accepted on iteration 0 with a non-empty artifact: rows 1, 5, 6, 10 (row 9's artifact is {})."""
    assert [r["session_id"] for r in rows(mini, "clean_first_shot")] == ["s1", "s4", "s5", "s9"]


def test_three_consecutive_rejections(mini):
    got = rows(mini, "three_consecutive_rejections")
    assert [(r["session_id"], r["longest_run"]) for r in got] == [("s2", 3), ("s7", 3)]
    assert got[0]["errors"] == "phantom W-100 | phantom W-101 | phantom W-102"
    assert [r["session_id"] for r in rows(mini, "three_consecutive_rejections", min_run=1)] == ["s1", "s2", "s6", "s7"]


def test_alarm_queries(mini):
    (bad,) = rows(mini, "ungrounded_accepted")
    assert (bad["session_id"], bad["model"], bad["kind"], bad["daemon"], bad["line"]) == (
        "s4",
        "m-a",
        "fill",
        "validatord",
        5,
    )
    assert bad["source_file"].endswith("sessions.jsonl")
    assert [r["session_id"] for r in rows(mini, "unverified_accepted_fill")] == ["s5"]


def test_retrieval_depth_counts_each_call_once(mini):
    """s1 has two replay runs (2 and 7 hits): its two calls land once each in '6+', not four times."""
    got = {
        (r["model"], r["hits_bucket"]): (r["reached_model"], r["first_shot"], r["infra_error"])
        for r in rows(mini, "retrieval_depth_vs_first_shot")
    }
    assert got == {
        ("m-a", "no replay"): (1, 1, 1),
        ("m-a", "0"): (1, 0, 0),
        ("m-a", "6+"): (2, 1, 0),
        ("m-b", "no replay"): (4, 2, 0),
        ("m-b", "3-5"): (1, 1, 0),
    }


def test_model_weekly_summary(mini):
    """Rows 1-9 are in 2026-W46; row 10, Sunday 23:30 at -05:00, is Monday 04:30 UTC: W47."""
    got = {(r["week"], r["model"]): r for r in rows(mini, "model_weekly_summary")}
    assert set(got) == {("2026-W46", "m-a"), ("2026-W46", "m-b"), ("2026-W47", "m-b")}
    a = got[("2026-W46", "m-a")]
    assert (a["calls"], a["accepted"], a["first_shot"], a["max_iter_exhausted"], a["infra_error"]) == (5, 3, 2, 1, 1)
    assert a["first_shot_rate"] == 0.5
    assert a["mean_attempts_to_accept"] == pytest.approx(4 / 3)
    assert (a["p50_duration_ms"], a["p95_duration_ms"]) == (300, pytest.approx(480))
    b = got[("2026-W46", "m-b")]
    assert (b["calls"], b["accepted"], b["first_shot"], b["first_shot_rate"]) == (4, 3, 2, 0.5)
    assert b["mean_attempts_to_accept"] == 2.0
    assert (b["p50_duration_ms"], b["p95_duration_ms"]) == (750, pytest.approx(885))
    assert got[("2026-W47", "m-b")]["calls"] == 1


def test_sunday_night_local_time_lands_in_next_iso_week(tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("sun", ts="2026-11-22T23:30:00.5-05:00")])
    with Store(resolve(str(p), env={})) as st:
        assert [r["week"] for r in rows(st, "model_weekly_summary")] == ["2026-W48"]


def test_verdict_breakdown_and_attempts_to_accept(mini):
    got = {(r["model"], r["final_verdict"]): (r["calls"], r["share"]) for r in rows(mini, "verdict_breakdown")}
    assert got == {
        ("m-a", "accepted"): (3, 0.6),
        ("m-a", "max_iter_exhausted"): (1, 0.2),
        ("m-a", "infra_error"): (1, 0.2),
        ("m-b", "accepted"): (4, 0.8),
        ("m-b", "max_iter_exhausted"): (1, 0.2),
    }
    got = {(r["model"], r["attempts_to_accept"]): r["calls"] for r in rows(mini, "attempts_to_accept")}
    assert got == {("m-a", 1): 2, ("m-a", 2): 1, ("m-b", 1): 3, ("m-b", 4): 1}


def test_top_rejection_errors_fold_identifiers(mini):
    got = {(r["model"], r["reason"]): (r["rejections"], r["sessions"]) for r in rows(mini, "top_rejection_errors")}
    assert got == {
        ("m-a", "phantom W-<n>"): (4, 2),
        ("m-b", "phantom W-<n>"): (5, 2),
        ("m-b", "(no JSON in the answer)"): (1, 1),
    }
    assert len(rows(mini, "top_rejection_errors", top=1)) == 2


def test_infra_error_rate(mini):
    got = [(str(r["day"]), r["provider"], r["calls"], r["infra_errors"]) for r in rows(mini, "infra_error_rate")]
    assert got == [("2026-11-10", "ollama", 9, 1), ("2026-11-16", "ollama", 1, 0)]


def test_orphans_both_ways(mini):
    got = {(r["direction"], r["session_id"]) for r in rows(mini, "orphans")}
    assert got == {("session_without_replay", s) for s in ("s3", "s4", "s6", "s7", "s8", "s9")} | {
        ("replay_without_session", "s99")
    }


def test_parameters_are_bound_never_formatted(mini):
    assert rows(mini, "first_shot_success_rate", model="x' OR '1'='1") == []
    assert rows(mini, "session_attempts", session_id="s1' OR '1'='1") == []
    assert len(rows(mini, "session_attempts", session_id="s1")) == 3


def test_time_windows(mini):
    assert {r["model"] for r in rows(mini, "first_shot_success_rate", since="2026-11-10T10:06:00Z")} == {"m-b"}
    assert rows(mini, "first_shot_success_rate", until="2026-11-10")[:1] == []
    assert parse_time("2026-11-01").isoformat() == "2026-11-01T00:00:00+00:00"
    assert parse_time("2026-11-01T08:00:00-05:00").isoformat() == "2026-11-01T13:00:00+00:00"


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("first_shot_success_rate", {"nope": 1}, "unknown parameter nope"),
        ("session_attempts", {}, "missing parameter session_id"),
        ("first_shot_success_rate", {"since": "last tuesday"}, "not a time"),
        ("top_rejection_errors", {"top": "many"}, "is not a valid int"),
    ],
)
def test_parameter_errors(mini, name, params, message):
    with pytest.raises(ParameterError, match=message):
        mini.query(name, params)


@pytest.mark.parametrize("name", ["../etc/passwd", "First", "drop table"])
def test_query_names_are_validated(mini, name):
    with pytest.raises(CatalogError, match="invalid query name"):
        mini.query(name)


def _write_query(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"{name}.sql"
    p.write_text(text)
    return p


def test_user_folder_overrides_builtin(tmp_path):
    _write_query(tmp_path / "mine", "orphans", "-- name: orphans\n-- description: mine\nselect 1 as one\n")
    _write_query(
        tmp_path / "mine",
        "my_alarm",
        "-- name: my_alarm\n-- kind: alarm\n-- severity: warn\n-- description: d\nselect 1\n",
    )
    cat = load_catalog([tmp_path / "mine"])
    assert cat.get("orphans").description == "mine" and not cat.get("orphans").builtin
    assert "my_alarm" in [q.name for q in cat.alarms()]


@pytest.mark.parametrize(
    "text, message",
    [
        ("-- name: q\n-- param: since timestamp = null\nselect $since\nwhere $oops\n", r"q\.sql:4: \$oops is used"),
        ("-- name: q\n-- param: 7bad\nselect 1\n", r"q\.sql:2: bad param line"),
        ("-- name: other\nselect 1\n", "differs from the file name"),
        ("-- name: q\n-- kind: alarm\nselect 1\n", "severity"),
        ("-- description: no name\nselect 1\n", r"q\.sql:1: the header has no `-- name:`"),
        ("-- name: q\n-- param: x int = 1\nselect 1\n", "declared but the SQL never uses"),
    ],
)
def test_parse_errors_name_file_and_line(tmp_path, text, message):
    with pytest.raises(CatalogError, match=message):
        parse_query(_write_query(tmp_path, "q", text))
