"""The second adversarial pass, as cron and a new on-call engineer run the alarm: each test is a
hostile case that broke a promise before its fix (docs/SESSION_LOG.md, "What the alarm guarantees")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import _clean, _ts, session, write_jsonl

SLOW_ALARM = """-- name: too_slow
-- kind: alarm
-- severity: critical
-- description: a call slower than ten minutes
select session_id, "timestamp", model, kind, daemon, source_file, line
from sessions where duration_ms > 600000
"""


def _queries(tmp_path: Path) -> Path:
    folder = tmp_path / "queries"
    folder.mkdir()
    (folder / "too_slow.sql").write_text(SLOW_ALARM, encoding="utf-8")
    return folder


# --- a violation never goes quiet ----------------------------------------------------------------


def test_a_run_without_the_crons_queries_does_not_resolve_their_firing_violations(cli, tmp_path):
    """An on-call engineer checked the store by hand without cron's --queries-dir: every firing critical
    incident of the user's alarm was RESOLVED, and cron, whose window no longer held the row, never met
    it again: exit 0 for ever over an unacknowledged critical row."""
    queries = _queries(tmp_path)
    log = write_jsonl(
        tmp_path / "logs" / "sessions.jsonl",
        [*_clean(), session("SLOW-1", ts=_ts(40), duration_ms=999_999), session("ok-now", ts=_ts(1))],
    )
    st = tmp_path / "store"
    code, out, _ = cli("alarm", "--store", st, "-s", log, "--since", "15m", "--queries-dir", queries)
    assert code == 1 and "session=SLOW-1" in out
    code, out, err = cli("alarm", "--store", st, "--since", "15m", "-v")  # by hand, no --queries-dir
    assert code == 1 and "RESOLVED" not in out and "SLOW-1" in out, (out, err)
    assert "its alarm is not run by this configuration" in out  # said why it is still firing
    code, out, err = cli("alarm", "--store", st, "--since", "15m", "--queries-dir", queries, "-v")
    assert code == 1 and "FIRING" in out and "SLOW-1" in out, (out, err)
    # acknowledged, a run without the alarm resolves it: a query removed on purpose leaves nothing open
    assert cli("ack", "SLOW-1", "--store", st)[0] == 0
    code, out, _ = cli("alarm", "--store", st, "--since", "15m", "-v")
    assert code == 0 and "RESOLVED" in out and "SLOW-1" in out


def _stored_ids(cli, st: Path) -> set[str]:
    code, out, err = cli("sql", "select session_id from sessions", "--store", st, "-f", "json")
    assert code == 0, err
    return {r["session_id"] for r in json.loads(out)}


@pytest.mark.slow
def test_rows_a_run_by_hand_ingested_are_still_evaluated_by_crons_own_alarm_queries(cli, tmp_path):
    """A run by hand without cron's --queries-dir ingested a backfilled row and advanced the memory past
    it: cron's user alarm never evaluated it (outside its window, in a batch already "evaluated"), and
    retention then dropped it."""
    queries = _queries(tmp_path)
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [*_clean(), session("ok-now", ts=_ts(1))])
    st = tmp_path / "store"
    assert cli("alarm", "--store", st, "-s", log, "--since", "15m", "--queries-dir", queries)[0] == 0
    assert cli("ingest", "--store", st, "--retain", "2d")[0] == 0
    with open(log, "a", encoding="utf-8") as fh:  # a backfill: a slow call three days old
        fh.write(json.dumps(session("SLOW-OLD", ts=_ts(3 * 24 * 60), duration_ms=999_999)) + "\n")
    assert cli("alarm", "--store", st, "--since", "15m")[0] == 0  # by hand: the built-in alarms only
    assert cli("ingest", "--store", st)[0] == 0
    assert "SLOW-OLD" in _stored_ids(cli, st)  # not evaluated by too_slow yet: held
    code, out, err = cli("alarm", "--store", st, "--since", "15m", "--queries-dir", queries)
    assert code == 1 and "NEW" in out and "session=SLOW-OLD" in out, (out, err)
    assert cli("ingest", "--store", st)[0] == 0
    assert "SLOW-OLD" not in _stored_ids(cli, st)  # evaluated by every query: dropped


# --- retention: a hand-edited manifest ------------------------------------------------------------


def test_a_hand_edited_evaluated_mark_that_names_no_memory_drops_nothing(cli, tmp_path):
    """A mark keyed "." (a folder that exists wherever ingest runs) counted as an alarm's memory at
    whatever batch it claimed, and retention dropped a violation no alarm had evaluated."""
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [*_clean(), session("ok-now", ts=_ts(1))])
    st = tmp_path / "store"
    assert cli("ingest", "--store", st, "-s", log, "--retain", "30d")[0] == 0
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(session("OLD-BAD", grounded=False, ts=_ts(200 * 24 * 60))) + "\n")
    manifest = json.loads((st / "manifest.json").read_text(encoding="utf-8"))
    manifest["evaluated"] = {".": {"batch": 99}, str(tmp_path / "logs"): {"batch": 99}}
    (st / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert cli("ingest", "--store", st)[0] == 0
    assert "OLD-BAD" in _stored_ids(cli, st)
    code, out, _ = cli("alarm", "--store", st, "--since", "1h")
    assert code == 1 and "session=OLD-BAD" in out
