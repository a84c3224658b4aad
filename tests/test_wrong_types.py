"""A value of the wrong JSON type is an empty cell: in every view, query, join, report, alarm and doctor,
on the logs as files and on a store, and the row is kept and counted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import forensics
from forensics.store.ingest import ingest

from .conftest import replay, session, write_jsonl

# Values of each JSON type a key of the given wire type must not hold (null is no value).
WRONG = {
    "string": [123, 1.5, True, False, None, {"a": 1}, ["x"]],
    "integer": ["42", "0", 1.5, True, None, {"a": 1}, [1]],
    "boolean": ["true", "false", 1, 0, None, {"a": True}, [True]],
    "object": ["x", 1, True, None, [1]],
    "number": ["0.5", True, None, {"a": 1}, [0.5]],
    "list": ["oops", 7, True, {"iteration": 0}],
}
SESSION_KEYS = {
    "schema": "string",
    "timestamp": "string",
    "daemon": "string",
    "session_id": "string",
    "kind": "string",
    "model": "string",
    "provider": "string",
    "prompt": "string",
    "iterations": "integer",
    "max_iterations": "integer",
    "final_verdict": "string",
    "attempts": "list",
    "artifact": "object",
    "grounded_in_roster": "boolean",
    "duration_ms": "integer",
}
ATTEMPT_KEYS = {"iteration": "integer", "verdict_kind": "string", "error": "string", "span_id": "string"}
REPLAY_KEYS = {
    "schema": "string",
    "timestamp": "string",
    "session_id": "string",
    "task_id": "string",
    "model": "string",
    "provider": "string",
    "retrieval": "object",
    "output": "string",
    "latency_ms": "integer",
    "tokens_in": "integer",
    "tokens_out": "integer",
    "status": "string",
    "error": "string",
}
RETRIEVAL_KEYS = {"query": "string", "k": "integer", "hits": "list"}
HIT_KEYS = {"doc_id": "string", "score": "number"}


def _base_session():
    row = session("h", attempts=["validation_failed", "accepted"])
    row["attempts"][0]["span_id"] = "sp-0"
    return row


def _base_replay():
    return replay("h", 2, error="none")


def hostile_sessions() -> list[tuple[str, object, dict]]:
    """(what, wrong value, row): every session key and attempt field given every wrong type."""
    out = []
    for key, wire in SESSION_KEYS.items():
        for value in WRONG[wire]:
            row = _base_session()
            row[key] = value
            out.append((key, value, row))
    for key, wire in ATTEMPT_KEYS.items():
        for value in WRONG[wire]:
            row = _base_session()
            row["attempts"][0][key] = value
            out.append((f"attempts.{key}", value, row))
    return out


def hostile_replays() -> list[tuple[str, object, dict]]:
    """(what, wrong value, row): every replay key, retrieval field and hit field given every wrong type."""
    out = []
    for key, wire in REPLAY_KEYS.items():
        for value in WRONG[wire]:
            row = _base_replay()
            row[key] = value
            out.append((key, value, row))
    for key, wire in RETRIEVAL_KEYS.items():
        for value in WRONG[wire]:
            row = _base_replay()
            row["retrieval"][key] = value
            out.append((f"retrieval.{key}", value, row))
    for key, wire in HIT_KEYS.items():
        for value in WRONG[wire]:
            row = _base_replay()
            row["retrieval"]["hits"][0][key] = value
            out.append((f"hits.{key}", value, row))
    return out


SESSIONS = hostile_sessions()
REPLAYS = hostile_replays()


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    """The hostile logs (a good row first), one more copy with an unparsable line (the checked
    read), and a store that ingested the first."""
    d = tmp_path_factory.mktemp("wrong")
    out = {
        "sessions": write_jsonl(d / "sessions.jsonl", [_base_session()] + [r for _, _, r in SESSIONS]),
        "replay_runs": write_jsonl(d / "replay_runs.jsonl", [_base_replay()] + [r for _, _, r in REPLAYS]),
    }
    out["sessions_checked"] = write_jsonl(
        d / "checked" / "sessions.jsonl", [_base_session()] + [r for _, _, r in SESSIONS] + [b"{torn"]
    )
    out["store"] = d / "store"
    ingest(out["store"], [str(out["sessions"])], [str(out["replay_runs"])])
    return out


def _files(logs, sessions_key="sessions"):
    return forensics.connect(sessions=str(logs[sessions_key]), replay_runs=str(logs["replay_runs"]))


ENGINES = ["files", "files_checked", "store"]


def _open(logs, engine):
    if engine == "store":
        return forensics.connect(store=str(logs["store"]))
    return _files(logs, "sessions_checked" if engine == "files_checked" else "sessions")


def _cell(st, view, line, expr):
    rows = st.execute(f"select {expr} from {view} where line = $line", {"line": line}).rows
    assert len(rows) == 1, (view, line, rows)
    return rows[0][0]


def _session_expr(what: str) -> str:
    if what.startswith("attempts."):
        return f"attempts[1].{what.split('.')[1]}"
    return f'"{what}"'


def _replay_expr(what: str) -> str:
    if what.startswith("retrieval."):
        return f"retrieval.{what.split('.')[1]}"
    if what.startswith("hits."):
        return f"retrieval.hits[1].{what.split('.')[1]}"
    return f'"{what}"'


# The whole matrix (every key, every wrong type, three engines) takes about a minute: the slow
# line runs it; the default line keeps the cases below, which name each promise on its own.
@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_every_wrong_typed_value_is_an_empty_cell_and_its_row_is_kept(logs, engine):
    with _open(logs, engine) as st:
        assert st.execute("select count(*) from sessions").rows[0][0] == len(SESSIONS) + 1
        assert st.execute("select count(*) from replay_runs").rows[0][0] == len(REPLAYS) + 1
        good = dict(
            zip(
                st.execute("select * from sessions where line = 1").columns,
                st.execute("select * from sessions where line = 1").rows[0],
            )
        )
        assert good["model"] == "m-a" and good["attempts"][0]["iteration"] == 0
        wrong = []
        for line, (what, value, _) in enumerate(SESSIONS, start=2):
            if _cell(st, "sessions", line, _session_expr(what)) is not None:
                wrong.append((what, value))
            if what == "timestamp" and _cell(st, "sessions", line, "timestamp_raw") is not None:
                wrong.append(("timestamp_raw", value))
            # The rest of the row reads as it was written.
            if what != "model":
                assert _cell(st, "sessions", line, "model") == "m-a", (what, value)
            if what not in ("attempts", "attempts.iteration", "attempts.verdict_kind"):
                assert _cell(st, "sessions", line, "attempts[2].iteration") == 1, (what, value)
        for line, (what, value, _) in enumerate(REPLAYS, start=2):
            if _cell(st, "replay_runs", line, _replay_expr(what)) is not None:
                wrong.append((f"replay {what}", value))
            if what != "model":
                assert _cell(st, "replay_runs", line, "model") == "m-a", (what, value)
        assert wrong == []


@pytest.mark.parametrize("engine", ENGINES)
def test_the_attempts_view_and_the_measures_see_the_empty_cells(logs, engine):
    with _open(logs, engine) as st:
        # iteration "0", 1.5, true, ... on the first attempt: no attempt is at iteration 0.
        lines = [i for i, (w, _, _) in enumerate(SESSIONS, start=2) if w == "attempts.iteration"]
        got = st.execute(
            "select line, iteration, position from attempts where line in (select unnest($l)) and position = 1",
            {"l": lines},
        ).rows
        assert sorted(got) == [(ln, None, 1) for ln in lines]
        errors = [i for i, (w, _, _) in enumerate(SESSIONS, start=2) if w == "attempts.error"]
        got = st.execute(
            "select distinct error from attempts where line in (select unnest($l)) and position = 1", {"l": errors}
        ).rows
        assert got == [(None,)]


def test_a_numeric_session_id_never_joins_the_string_id(tmp_path, cli):
    s = write_jsonl(tmp_path / "s.jsonl", [session("42"), session(42, ts="2026-11-10T10:00:01Z")])
    r = write_jsonl(tmp_path / "r.jsonl", [replay("42", 1), replay(42, 5)])
    with forensics.connect(sessions=str(s), replay_runs=str(r)) as st:
        joined = st.execute("select s.line, r.line from sessions as s join replay_runs as r using (session_id)").rows
        assert joined == [(1, 1)]
        assert st.execute("select count(*) from sessions where session_id is null").rows[0][0] == 1
    code, out, _ = cli("run", "session_replays", "-s", s, "-r", r, "-p", "session_id=42", "-f", "json")
    assert code == 0 and [x["hits"] for x in json.loads(out)] == [1]
    code, out, _ = cli(
        "sql",
        "select count(*) as n from sessions as s join replay_runs using (session_id)",
        "-s",
        s,
        "-r",
        r,
        "-f",
        "json",
    )
    assert json.loads(out) == [{"n": 1}]
    # The store, ingested, answers the same.
    ingest(tmp_path / "store", [str(s)], [str(r)])
    code, out, _ = cli(
        "sql",
        "select count(*) as n from sessions as s join replay_runs using (session_id)",
        "--store",
        tmp_path / "store",
        "-f",
        "json",
    )
    assert json.loads(out) == [{"n": 1}]


def test_the_store_answers_every_view_as_a_cold_read_does_to_the_row(logs):
    with forensics.connect(store=str(logs["store"])) as a, _files(logs) as b:
        for view in ("sessions", "attempts", "replay_runs"):
            cols = [c for c in b.execute(f"select * from {view} limit 0").columns if c not in ("raw",)]
            sel = ", ".join(f'"{c}"' for c in cols)
            got = a.execute(f"select {sel} from {view} order by line, {'position' if view == 'attempts' else 1}").rows
            want = b.execute(f"select {sel} from {view} order by line, {'position' if view == 'attempts' else 1}").rows
            assert len(got) == len(want) and repr(got) == repr(want), view


def test_the_cli_shows_no_value_a_wrong_type_was_turned_into(tmp_path, cli):
    rows = [
        session("m", model=123),
        session("v", verdict="max_iter_exhausted", final_verdict=True),
        session("e", verdict="infra_error"),
        session("ok"),
        session("fs", attempts=["accepted"]),
    ]
    rows[2]["attempts"][0]["error"] = 7
    # A first shot is an accepted attempt at iteration 0: `"iteration": "0"` is no iteration.
    rows[4]["attempts"][0]["iteration"] = "0"
    s = write_jsonl(tmp_path / "s.jsonl", rows)
    code, out, _ = cli("run", "verdict_breakdown", "-s", s, "-f", "json")
    assert code == 0 and "true" not in {str(r.get("final_verdict")) for r in json.loads(out)}
    code, out, _ = cli("sql", "select model, final_verdict from sessions order by line", "-s", s, "-f", "json")
    assert [(r["model"], r["final_verdict"]) for r in json.loads(out)] == [
        (None, "accepted"),
        ("m-a", None),
        ("m-a", "infra_error"),
        ("m-a", "accepted"),
        ("m-a", "accepted"),
    ]
    code, out, _ = cli(
        "sql", "select session_id, first_shot from sessions where final_verdict = 'accepted'", "-s", s, "-f", "json"
    )
    assert {r["session_id"]: r["first_shot"] for r in json.loads(out)} == {"m": True, "ok": True, "fs": False}
    code, out, _ = cli("sql", "select error from attempts where session_id = 'e'", "-s", s, "-f", "json")
    assert json.loads(out) == [{"error": None}]
    code, out, _ = cli("run", "first_shot_success_rate", "-s", s, "-f", "json")
    per_model = {r["model"]: (r["reached_model"], r["first_shot"], r["unknown_verdict"]) for r in json.loads(out)}
    assert per_model == {None: (1, 1, 0), "m-a": (2, 1, 1)}
    code, out, _ = cli("report", "-s", s, "--week", "2026-W46")
    # no model named "123" in any table cell (asked of the cells: a path or a time may hold the digits)
    assert code == 0 and not re.search(r"\|\s*`?123`?\s*\|", out), out


def test_the_alarm_and_its_incident_read_the_typed_columns(tmp_path, cli):
    from datetime import UTC, datetime, timedelta

    now = (datetime.now(UTC) - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows = [session("ok", ts=now), session("bad", ts=now, grounded=False, model=123)]
    rows.append(session("odd", ts=now, grounded=False, final_verdict=True))
    s = write_jsonl(tmp_path / "s.jsonl", rows)
    code, out, err = cli("alarm", "-s", s, "--format", "json")
    assert code == 1, err
    found = {v["session_id"]: v for v in json.loads(out)["violations"]}
    assert found["bad"]["model"] is None and found["bad"]["alarm"] == "ungrounded_accepted"
    # A verdict that is no string is no verdict: the unknown-verdict alarm names it.
    assert found["odd"]["alarm"] == "ungrounded_unknown_verdict"
    code, out, _ = cli("incident", "-s", s, "--format", "json", "--", "bad")
    assert code in (0, 1) and [c["model"] for c in json.loads(out)["calls"]] == [None]


def test_doctor_lists_wrong_types_by_key_and_the_format_rules_they_break(tmp_path, cli):
    art = {"fills": [{"candidate_id": "W-1", "shift": "a"}], "note": "n"}
    reordered = {"note": "n", "fills": [{"shift": "a", "candidate_id": "W-1"}]}
    no_verdict = session("nv", artifact={"x": 1})
    del no_verdict["final_verdict"]
    rows = [
        session("m", model=123),
        session("g", grounded_in_roster=None),
        session("d1", artifact=art),
        session("d1", artifact=reordered),
        no_verdict,
        session("i", attempts=["accepted"]),
    ]
    rows[-1]["attempts"][0]["iteration"] = "0"
    rows.append(session("sp", attempts=["accepted"]))
    rows[-1]["attempts"][0]["span_id"] = None
    s = write_jsonl(tmp_path / "s.jsonl", rows)
    r = write_jsonl(tmp_path / "r.jsonl", [replay(42, 1), replay("x", 1, latency_ms="12")])
    code, out, _ = cli("doctor", "-s", s, "-r", r, "-f", "json")
    assert code == 1
    checks = {c["check"]: c for c in json.loads(out)["checks"]}
    assert checks["type:model"]["rows"] == 1 and checks["type:model"]["examples"][0]["value"] == "123"
    assert checks["type:grounded_in_roster"]["rows"] == 1  # null: the key is left out, never null
    assert checks["type:attempts[].iteration"]["rows"] == 1
    assert checks["type:attempts[].span_id"]["rows"] == 1
    assert checks["type:replay.session_id"]["rows"] == 1 and checks["type:replay.latency_ms"]["rows"] == 1
    # Rows without a verdict are no accepted rows: an artifact or a roster verdict on one breaks the rule.
    assert [e["at"][-2:] for e in checks["artifact_iff_accepted"]["examples"]] == [":5"]
    assert checks["roster_verdict_not_accepted"]["rows"] == 1
    # Two copies whose artifacts differ only in key order are one row logged twice.
    assert sorted(e["at"][-2:] for e in checks["duplicate_row"]["examples"]) == [":3", ":4"]
    # The rows are all still read and counted.
    assert json.loads(out)["files"][0]["rows"] == len(rows)
    code, out, _ = cli("doctor", "-s", s, "-r", r)
    assert "FAIL type:model: 1 row" in out and "(123)" in out


def test_doctor_on_a_store_lists_the_wrong_types_of_its_tails(tmp_path, cli):
    s = write_jsonl(tmp_path / "s.jsonl", [session("a")])
    ingest(tmp_path / "store", [str(s)])
    with open(s, "a") as fh:
        fh.write(json.dumps(session("b", model=123)) + "\n")
    code, out, _ = cli("doctor", "--store", tmp_path / "store", "-f", "json")
    checks = {c["check"]: c for c in json.loads(out)["checks"]}
    assert checks["type:model"]["rows"] == 1
    code, out, _ = cli(
        "sql", "select count(*) as n, count(model) as models from sessions", "--store", tmp_path / "store", "-f", "json"
    )
    assert json.loads(out) == [{"n": 2, "models": 1}]


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("""missing "O'Brien" and 'x' for W-4""", "missing '<v>' and '<v>' for W-<n>"),
        ("""unknown "don't" or "can't" at 3""", "unknown '<v>' or '<v>' at <n>"),
        ("""bad 'a"b' then "c" """, "bad '<v>' then '<v>' "),
    ],
)
def test_fold_error_takes_an_apostrophe_inside_double_quotes_as_part_of_the_value(tmp_path, text, folded):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a")])
    with forensics.connect(sessions=str(p)) as st:
        assert st.execute("select fold_error($t)", {"t": text}).rows[0][0] == folded
