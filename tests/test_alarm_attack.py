"""Attacks on the alarm's memory, its mail, `ack`, `incident` and --store-failures: each test pins a defect found."""

from __future__ import annotations

import json
import shlex
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from .conftest import session, write_jsonl


def _ts(minutes_ago: float = 1) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _clean(n: int = 5) -> list[dict]:
    return [session(f"ok-{i}", ts=_ts(30 - i)) for i in range(n)]


def _append(path: Path, rows) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        for r in rows:
            fh.write(r if isinstance(r, str) else json.dumps(r) + "\n")


def _events(path: Path) -> list[str]:
    return [json.loads(x)["event"] for x in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def logs(tmp_path):
    """A live log with clean rows and one ungrounded accepted fill (BAD-1)."""
    return write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session("BAD-1", grounded=False, ts=_ts(2))])


# --- a notification is never lost -------------------------------------------------------------

def test_a_store_failures_path_that_cannot_be_written_does_not_swallow_the_new_violation(cli, logs, tmp_path):
    state = tmp_path / "alarm.json"
    blocked = logs / "failures.jsonl"  # a folder that is a file: cannot be created, even by root
    code, out, err = cli("alarm", "-s", logs, "--state", state, "--store-failures", blocked)
    assert code == 1, (out, err)
    assert "NEW      CRITICAL ungrounded_accepted" in out and "session=BAD-1" in out
    assert "--store-failures" in out + err and "Traceback" not in out + err


def test_a_new_warning_is_mailed_even_when_the_run_cannot_evaluate(cli, tmp_path):
    log = write_jsonl(tmp_path / "sessions.jsonl", _clean() + [session("WARN-1", grounded=None, ts=_ts(2)),
                                                               "not json"])
    state = tmp_path / "alarm.json"
    code, out, err = cli("alarm", "-s", log, "--state", state)
    assert code == 3 and "more than --max-unreadable 0" in out + err
    # the memory now holds the warning as notified: this run must have said it
    assert "NEW      WARN     unverified_accepted_fill" in out + err and "session=WARN-1" in out + err
    assert cli("alarm", "-s", log, "--state", state, "--max-unreadable", "1")[:2] == (0, "")  # said once


# --- files torn by kill -9 or a full disk ------------------------------------------------------

def test_a_torn_last_event_does_not_swallow_the_next_one(cli, logs, tmp_path):
    state = tmp_path / "alarm.json"
    events = tmp_path / "alarm.events.jsonl"
    events.write_text('{"at": "2026-11-30T10:00:00Z", "event": "new", "ident')  # killed mid-append
    assert cli("alarm", "-s", logs, "--state", state)[0] == 1
    lines = events.read_text().splitlines()
    assert [json.loads(x)["event"] for x in lines[1:]] == ["new"] and json.loads(lines[1])["session_id"] == "BAD-1"


def test_a_torn_store_failures_line_does_not_swallow_the_next_rows(cli, logs, tmp_path):
    out_jsonl = tmp_path / "failures.jsonl"
    out_jsonl.write_text('{"alarm": "ungrounded_accepted", "session_id": "OLD')  # killed mid-append
    assert cli("alarm", "-s", logs, "--store-failures", out_jsonl)[0] == 1
    lines = out_jsonl.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["session_id"] == "BAD-1"
