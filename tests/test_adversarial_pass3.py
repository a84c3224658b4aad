"""The third adversarial pass, as a hostile user reads odd logs through the CLI: each test is a case
that broke a promise before its fix (a wrong-typed value is an empty cell doctor lists; the store
answers as a cold read of the same files)."""

from __future__ import annotations

import json

import pytest

from .conftest import replay, session, write_jsonl


def _rows(cli, sql: str, *where) -> list[dict]:
    code, out, err = cli("sql", sql, *where, "-f", "json")
    assert code == 0, err
    return json.loads(out)


@pytest.mark.slow
def test_a_replay_line_that_repeats_a_key_reads_its_last_copy_cold_as_in_the_store(cli, tmp_path):
    """A replay line giving `status` twice read its first copy ("ok") on a cold read, with no word of
    the repeat, and its last ("error") from the store that ingested the same file: the answers differed."""
    sessions = write_jsonl(tmp_path / "s.jsonl", [session("s-1")])
    line = json.dumps(replay("s-1", 2))[:-1] + ', "status": "error", "session_id": "s-2"}'
    runs = write_jsonl(tmp_path / "r.jsonl", [replay("s-1", 1), line])
    sql = "select session_id, status, line from replay_runs order by line"
    cold = _rows(cli, sql, "-s", sessions, "-r", runs)
    assert cold[1] == {"session_id": "s-2", "status": "error", "line": 2}
    st = tmp_path / "store"
    assert cli("ingest", "--store", st, "-s", sessions, "-r", runs)[0] == 0
    assert _rows(cli, sql, "--store", st) == cold
    code, out, _ = cli("run", "session_replays", "-p", "session_id=s-2", "-s", sessions, "-r", runs, "-f", "json")
    assert code == 0 and len(json.loads(out)) == 1


def test_an_integer_past_bigint_is_an_empty_cell_doctor_lists(cli, tmp_path):
    """2^63 reads as NULL (no BIGINT holds it), but json_type calls it UBIGINT, as it calls every positive
    integer, and doctor let it pass: an empty cell no check named."""
    big = 2**63
    row = session("s-1", duration_ms=big)
    row["attempts"][0]["iteration"] = big
    log = write_jsonl(tmp_path / "s.jsonl", [row, session("s-2", duration_ms=2**63 - 1)])
    rows = _rows(cli, "select session_id, duration_ms, attempts[1].iteration as it from sessions order by 1", "-s", log)
    assert rows == [
        {"session_id": "s-1", "duration_ms": None, "it": None},
        {"session_id": "s-2", "duration_ms": 2**63 - 1, "it": 0},
    ]
    code, out, _ = cli("doctor", "-s", log)
    assert code == 1
    assert "FAIL type:duration_ms: 1 row" in out and str(big) in out
    assert "FAIL type:attempts[].iteration: 1 row" in out
    runs = write_jsonl(tmp_path / "r.jsonl", [replay("s-2", 1, tokens_out=big), replay("s-2", 1)])
    code, out, _ = cli("doctor", "-s", log, "-r", runs)
    assert "FAIL type:replay.tokens_out: 1 row" in out
