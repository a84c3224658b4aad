"""`forensics doctor`: each invariant caught on a crafted row; healthy data passes."""

from __future__ import annotations

import json
import re

import pytest

from forensics.doctor.logs import INVARIANTS, diagnose
from forensics.read.sources import resolve
from forensics.store.connection import Store

from .conftest import replay, session, write_jsonl


def with_attempts(row, *spec):
    """The row with exactly these (iteration, verdict_kind) attempts."""
    row["attempts"] = [{"iteration": i, "verdict_kind": v} for i, v in spec]
    row["iterations"] = sum(v != "infra_error" for _, v in spec)
    return row


CRAFTED = {
    "iterations_mismatch": session("c1", iterations=5),
    "verdict_vs_last_attempt": session(
        "c2", verdict="max_iter_exhausted", attempts=["validation_failed", "accepted"], iterations=2
    ),
    "artifact_iff_accepted": session("c3", verdict="max_iter_exhausted", artifact={"fills": []}),
    "unknown_verdict_kind": session("c4", attempts=["timeout", "accepted"]),
    "empty_session_id": session(""),
    "roster_verdict_not_boolean": session("c6", grounded_in_roster="false"),
    "roster_verdict_not_accepted": session("c7", verdict="infra_error", grounded_in_roster=False),
    "bad_timestamp": session("c8", ts="yesterday at noon"),
    "unknown_schema": session("c9", schema="session.iterate.v0"),
    "repeated_iteration": with_attempts(
        session("c20", verdict="max_iter_exhausted"), (0, "validation_failed"), (0, "validation_failed"), (1, "no_json")
    ),
    "missing_iteration": with_attempts(session("c21"), (0, "validation_failed"), (2, "accepted")),
    "attempts_out_of_order": with_attempts(session("c12"), (1, "validation_failed"), (0, "accepted")),
    "several_accepted": with_attempts(session("c13"), (0, "accepted"), (1, "accepted")),
    "accepted_not_last": with_attempts(session("c14", verdict="max_iter_exhausted"), (0, "accepted"), (1, "no_json")),
    "accepted_attempt_not_accepted_call": with_attempts(session("c15", verdict="infra_error"), (0, "accepted")),
    "infra_error_attempts": with_attempts(
        session("c16", verdict="infra_error"), (0, "infra_error"), (1, "infra_error")
    ),
    "unknown_final_verdict": session("c17", final_verdict="timeout"),
    # A verbatim copy of the row before it: both copies are listed.
    "duplicate_row": session("good-1"),
    "future_timestamp": session("c18", ts="2999-01-01T00:00:00Z"),
    "ungrounded_accepted": session("c19", grounded=False),
}
# Rows each check should find among good-1, the crafted row and good-2, where not just the crafted one.
FOUND_AT = {"duplicate_row": [":1", ":2"]}


def test_every_invariant_has_a_crafted_row():
    assert set(CRAFTED) == {name for name, _, _ in INVARIANTS}


@pytest.mark.parametrize("check", sorted(CRAFTED))
def test_each_invariant_is_caught(check, tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("good-1"), CRAFTED[check], session("good-2")])
    with Store(resolve(str(p), env={})) as st:
        health = diagnose(st)
    failing = {c["check"]: c for c in health.checks if c["rows"]}
    assert check in failing, f"{check} not caught"
    want = FOUND_AT.get(check, [":2"])
    assert failing[check]["rows"] == len(want)
    assert sorted(e["at"][-2:] for e in failing[check]["examples"]) == want
    assert not health.healthy


def test_sample_is_unhealthy_only_for_its_incidents_and_exit_codes(cli, sample_dir, tmp_path):
    code, out, _ = cli("doctor", "-s", sample_dir / "sessions.jsonl", "-r", sample_dir / "replay_runs.jsonl")
    # The sample holds ungrounded accepted rows on purpose: a log with one is never healthy.
    assert code == 1, out
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("FAIL")] == ["FAIL ungrounded_accepted"]
    assert re.fullmatch(r"\d+ checks ok, 1 problem", out.splitlines()[-1]) and "producers: gateway, validatord" in out
    assert not any(line.startswith("ok ") for line in out.splitlines())  # the passing checks: --verbose
    assert "schemas: session.iterate.v1" in out and "have no replay run" in out
    p = write_jsonl(tmp_path / "s.jsonl", [session("a"), CRAFTED["bad_timestamp"], b"not json"])
    code, out, _ = cli("doctor", "-s", p, "-f", "json")
    data = json.loads(out)
    assert code == 1 and data["healthy"] is False and data["unreadable_lines"] == 1
    assert data["files"][0]["unreadable"] == {"invalid_json": 1}


def test_orphan_rates(tmp_path):
    s = write_jsonl(tmp_path / "s.jsonl", [session("a"), session("a"), session("b")])
    r = write_jsonl(tmp_path / "r.jsonl", [replay("a", 1), replay("zz", 1), {"status": "ok"}])
    with Store(resolve(str(s), str(r), env={})) as st:
        o = diagnose(st).orphans
    assert (
        o["session_ids"],
        o["without_replay"],
        o["replay_session_ids"],
        o["replay_without_session"],
        o["replay_rows_without_session_id"],
    ) == (2, 1, 2, 1, 1)
    assert o["without_replay_rate"] == 0.5


def test_the_figures_rules_catch_only_what_breaks_them(tmp_path):
    """Rows shaped as the format says, in all three shapes and with retries, break none of the new rules."""
    rows = [
        session("a"),
        session("b", attempts=["validation_failed", "no_json", "accepted"]),
        session("c", verdict="max_iter_exhausted"),
        session("d", verdict="infra_error"),
        session("e", ts="2026-11-10T10:00:01Z"),
    ]
    p = write_jsonl(tmp_path / "s.jsonl", rows)
    with Store(resolve(str(p), env={})) as st:
        health = diagnose(st)
    assert health.healthy, [c for c in health.checks if c["rows"]]
