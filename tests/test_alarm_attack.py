"""Attacks on the alarm's memory, its mail, `ack`, `incident` and --store-failures: each test pins a defect found."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from .conftest import _clean, _ts, session, write_jsonl


def _append(path: Path, rows) -> None:
    """Append rows, or raw text (a torn line) as it is."""
    with open(path, "a", encoding="utf-8") as fh:
        for r in rows:
            fh.write(r if isinstance(r, str) else json.dumps(r) + "\n")


def _events(path: Path) -> list[str]:
    return [json.loads(x)["event"] for x in path.read_text().splitlines()] if path.exists() else []


# --- a notification is never lost -------------------------------------------------------------


def test_a_store_failures_path_that_cannot_be_written_does_not_swallow_the_new_violation(cli, logs, tmp_path):
    state = tmp_path / "alarm.json"
    blocked = logs / "failures.jsonl"  # a folder that is a file: cannot be created, even by root
    code, out, err = cli("alarm", "-s", logs, "--state", state, "--store-failures", blocked)
    assert code == 1, (out, err)
    assert "NEW      CRITICAL ungrounded_accepted" in out and "session=BAD-1" in out
    assert "--store-failures" in out + err and "Traceback" not in out + err


def test_a_new_warning_is_mailed_even_when_the_run_cannot_evaluate(cli, tmp_path):
    log = write_jsonl(tmp_path / "sessions.jsonl", _clean() + [session("WARN-1", grounded=None, ts=_ts(2)), "not json"])
    state = tmp_path / "alarm.json"
    code, out, err = cli("alarm", "-s", log, "--state", state)
    assert code == 3 and "more than --max-unreadable 0" in out + err
    # the memory now holds the warning as notified: this run must have said it
    assert "NEW      WARN     unverified_accepted_fill" in out + err and "session=WARN-1" in out + err
    code, out, _ = cli("alarm", "-s", log, "--state", state, "--max-unreadable", "1")
    # the warning was said once; what recovered (the unreadable line now allowed) is said once too
    assert code == 0 and "WARN-1" not in out and "RECOVERED evaluated again" in out


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


# --- the commands the alarm prints reach what it read ------------------------------------------

_USER_ALARM = """-- name: slow_ungrounded
-- kind: alarm
-- severity: critical
-- description: A user's own alarm.
select session_id, "timestamp", model, kind, daemon, source_file, line
from sessions
where grounded_in_roster = false and duration_ms >= 100
"""

_AGGREGATE_ALARM = """-- name: ungrounded_count
-- kind: alarm
-- severity: critical
-- description: How many ungrounded rows there are (no session_id: an aggregate).
select count(*) as n
from sessions
where grounded_in_roster = false
having count(*) >= 1
"""


def _incident_commands(out: str) -> list[list[str]]:
    return [shlex.split(x.split("incident: ", 1)[1]) for x in out.splitlines() if x.startswith("  incident: ")]


def test_the_printed_incident_command_shows_the_memory_and_the_user_alarms(cli, logs, tmp_path):
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "slow_ungrounded.sql").write_text(_USER_ALARM)
    state = tmp_path / "alarm.json"
    code, out, _ = cli("alarm", "-s", logs, "--state", state, "--queries-dir", queries)
    assert code == 1
    cmds = _incident_commands(out)
    assert len(cmds) == 2 and all(c[:3] == ["forensics", "incident", "BAD-1"] for c in cmds)
    code, out, err = cli(*cmds[0][1:], "--format", "json")
    assert code == 0, err
    alarms = {a["alarm"]: a["state"] for a in json.loads(out)["alarms"]}
    assert alarms == {"ungrounded_accepted": "firing", "slow_ungrounded": "firing"}


def test_incident_with_a_user_alarm_that_has_no_session_id(cli, logs, tmp_path):
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "ungrounded_count.sql").write_text(_AGGREGATE_ALARM)
    code, out, err = cli("incident", "BAD-1", "-s", logs, "--queries-dir", queries, "--format", "json")
    assert code == 0, err
    assert [a["alarm"] for a in json.loads(out)["alarms"]] == ["ungrounded_accepted"]


@pytest.mark.parametrize(
    "sid", ["BAD\n'; touch pwned #", "B\x1b[2J\u202eA\\n'\"$(touch pwned)", "B\u0085C\tD\\x41 `touch pwned`"]
)
def test_the_printed_incident_command_names_the_session_as_logged(cli, tmp_path, sid):
    log = write_jsonl(tmp_path / "sessions.jsonl", _clean() + [session(sid, grounded=False, ts=_ts(2))])
    code, out, _ = cli("alarm", "-s", log)
    assert code == 1
    (line,) = [x for x in out.splitlines() if x.startswith("  incident: ")]
    assert all(0x20 <= ord(c) < 0x7F for c in line), line  # nothing the terminal would act on
    # pasted into a shell, the command gets exactly the session id the row holds, and runs nothing else
    said = subprocess.run(
        ["bash", "-c", 'forensics() { printf %s "$2"; }; ' + line.split("incident: ", 1)[1]],
        capture_output=True,
        cwd=tmp_path,
    )
    assert (said.returncode, said.stdout.decode()) == (0, sid)
    assert not (tmp_path / "pwned").exists()


# --- the state file -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        '{"incidents": []}',
        '{"incidents": {"k": "x"}}',
        '{"incidents": {"k": {}}}',
        '{"incidents": {"k": {"alarm": "ungrounded_accepted", "severity": "critical"}}}',
    ],
)
def test_a_state_of_the_wrong_shape_is_named_not_reset_nor_a_traceback(cli, logs, tmp_path, body):
    state = tmp_path / "alarm.json"
    state.write_text(body)
    code, out, err = cli("alarm", "-s", logs, "--state", state)
    assert code == 3 and str(state) in out + err and "move it aside" in out + err, (code, out, err)
    assert state.read_text() == body
    code, out, err = cli("ack", "--all", "--state", state)
    assert code == 1 and "move it aside" in err and state.read_text() == body


def test_a_state_of_the_old_format_is_taken(cli, logs, tmp_path):
    state = tmp_path / "alarm.json"
    state.write_text('{"batch": 3, "at": "2026-11-30T10:00:00Z"}')
    code, out, _ = cli("alarm", "-s", logs, "--state", state)
    assert code == 1 and out.startswith("ALARM: 1 new critical")
    assert cli("alarm", "-s", logs, "--state", state) == (1, "", "")


_DAILY_ALARM = """-- name: ungrounded_days
-- kind: alarm
-- severity: critical
-- description: The days with an ungrounded row (an aggregate: no session, no row of its own).
select strftime("timestamp", '%Y-%m-%d') as day, count(*) as n
from sessions
where grounded_in_roster = false
group by all
"""


def test_an_aggregate_alarm_of_another_day_is_new_after_an_acknowledgement(cli, tmp_path):
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "ungrounded_days.sql").write_text(_DAILY_ALARM)
    then, now = _ts(3 * 1440), _ts(1)
    log = write_jsonl(tmp_path / "sessions.jsonl", _clean() + [session("BAD-1", grounded=False, ts=then)])
    state = tmp_path / "alarm.json"
    assert cli("alarm", "-s", log, "--state", state, "-q", queries)[0] == 1
    assert cli("ack", "--all", "--state", state)[0] == 0
    assert cli("alarm", "-s", log, "--state", state, "-q", queries) == (0, "", "")
    _append(log, [session("BAD-2", grounded=False, ts=now)])  # another day's violation
    code, out, _ = cli("alarm", "-s", log, "--state", state, "-q", queries, "--format", "json")
    daily = sorted(
        (v["row"]["day"], v["state"]) for v in json.loads(out)["violations"] if v["alarm"] == "ungrounded_days"
    )
    assert code == 1 and daily == [(then[:10], "acknowledged"), (now[:10], "new")], out


def test_a_store_rebuilt_under_a_kept_state_has_every_row_evaluated(cli, tmp_path):
    import shutil

    log = write_jsonl(tmp_path / "sessions.jsonl", [session(f"old-{i}", ts=_ts(300 + i)) for i in range(3)])
    st, state = tmp_path / "store", tmp_path / "alarm.json"
    for i in range(3):  # cron: each run ingests a new batch
        _append(log, [session(f"ok-{i}", ts=_ts(1))])
        assert cli("alarm", "--store", st, "-s", log, "--state", state, "--since", "15m")[0] == 0
    # the store is rebuilt from the same logs (the state kept); meanwhile a violation arrived
    shutil.rmtree(st)
    _append(log, [session("BAD-R", grounded=False, ts=_ts(120))])
    assert cli("ingest", "--store", st, "-s", log)[0] == 0
    _append(log, [session("ok-next", ts=_ts(1))])
    code, out, _ = cli("alarm", "--store", st, "--state", state, "--since", "15m")
    assert code == 1 and "session=BAD-R" in out, out


def test_ack_on_a_memory_that_does_not_exist_is_an_error_and_creates_nothing(cli, logs, tmp_path):
    assert cli("alarm", "--store", tmp_path / "store", "-s", logs)[0] == 1
    typo = tmp_path / "stroe"
    code, out, err = cli("ack", "--all", "--store", typo)
    assert code == 2 and str(typo) in err and "0 violations acknowledged" not in out
    assert not typo.exists()
