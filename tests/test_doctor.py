"""`forensics doctor`: each invariant caught on a crafted row; healthy data passes."""

from __future__ import annotations

import json

import pytest

from forensics.doctor import INVARIANTS, diagnose
from forensics.sources import resolve
from forensics.store import Store

from .conftest import replay, session, write_jsonl

CRAFTED = {
    "iterations_mismatch": session("c1", iterations=5),
    "verdict_vs_last_attempt": session("c2", verdict="max_iter_exhausted",
                                       attempts=["validation_failed", "accepted"], iterations=2),
    "artifact_iff_accepted": session("c3", verdict="max_iter_exhausted", artifact={"fills": []}),
    "unknown_verdict_kind": session("c4", attempts=["timeout", "accepted"]),
    "empty_session_id": session(""),
    "roster_verdict_not_boolean": session("c6", grounded_in_roster="false"),
    "roster_verdict_not_accepted": session("c7", verdict="infra_error", grounded_in_roster=False),
    "bad_timestamp": session("c8", ts="yesterday at noon"),
    "unknown_schema": session("c9", schema="session.iterate.v0"),
    "future_timestamp": session("c10", ts="2999-01-01T00:00:00Z"),
    "ungrounded_accepted": session("c11", grounded=False),
}


def test_every_invariant_has_a_crafted_row():
    assert set(CRAFTED) == {name for name, _, _ in INVARIANTS}


@pytest.mark.parametrize("check", sorted(CRAFTED))
def test_each_invariant_is_caught(check, tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("good-1"), CRAFTED[check], session("good-2")])
    with Store(resolve(str(p), env={})) as st:
        health = diagnose(st)
    failing = {c["check"]: c for c in health.checks if c["rows"]}
    assert check in failing, f"{check} not caught"
    assert failing[check]["rows"] == 1 and failing[check]["examples"][0]["at"].endswith(":2")
    assert not health.healthy


def test_sample_is_unhealthy_only_for_its_incidents_and_exit_codes(cli, sample_dir, tmp_path):
    code, out, _ = cli("doctor", "-s", sample_dir / "sessions.jsonl", "-r", sample_dir / "replay_runs.jsonl")
    # The sample holds ungrounded accepted rows on purpose: a log with one is never healthy.
    assert code == 1, out
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("FAIL")] == [
        "FAIL ungrounded_accepted"]
    assert "problems found" in out.splitlines()[-1] and "producers: gateway, validatord" in out
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
    assert (o["session_ids"], o["without_replay"], o["replay_session_ids"], o["replay_without_session"],
            o["replay_rows_without_session_id"]) == (2, 1, 2, 1, 1)
    assert o["without_replay_rate"] == 0.5
