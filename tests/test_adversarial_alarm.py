"""Attacks on the alarm's memory as cron runs it (issue 23): each test is a defect found by one, failing
before its fix. A violation must never be said zero times, nor the same unchanged thing mailed on
every run; every printed command runs as printed; nothing the memory holds is lost or crashes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import _clean, _ts, script_path, session, write_jsonl


def _bash(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """A printed command run by bash as a person would paste it (the installed script on PATH)."""
    bin_dir = str(Path(script_path()).parent)
    script = cwd / "pasted.sh"
    script.write_text(command + "\n", encoding="utf-8")
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(["bash", str(script)], capture_output=True, cwd=cwd, env=env, timeout=120)


# --- every printed command runs as printed -----------------------------------------------------------


@pytest.mark.default_keeps(2)
@pytest.mark.parametrize("sid", ["a\x00b", "\x00-lead", "x" * (128 * 1024)], ids=["nul", "nul-dash", "long"])
def test_an_identity_command_printed_without_a_memory_runs(cli, tmp_path, sid):
    """Without --store or --state the alarm printed `forensics incident --identity KEY -s LOG`, which refused
    to run ("--identity needs the alarm's memory"): the id no shell can pass could not be looked at."""
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session(sid, grounded=False, ts=_ts(2))])
    code, out, _ = cli("alarm", "-s", log, "--format", "json")
    (v,) = json.loads(out)["violations"]
    assert code == 1 and "--identity" in v["incident"]
    shown = _bash(v["incident"].replace("forensics incident", "forensics incident --format json", 1), tmp_path)
    assert shown.returncode == 0, (v["incident"], shown.stderr.decode()[-500:])
    data = json.loads(shown.stdout)
    assert data["session_id"] == sid and [c["session_id"] for c in data["calls"]] == [sid]


def test_an_identity_command_runs_when_the_memory_could_not_record_the_run(cli, tmp_path, monkeypatch):
    """A run whose memory could not be saved printed an identity its memory never held."""
    from forensics.oncall import memory as memory_module

    sid = "a\x00b"
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session(sid, grounded=False, ts=_ts(2))])

    def full_disk(self, state):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(memory_module.Memory, "save", full_disk)
    code, out, err = cli("alarm", "-s", log, "--state", tmp_path / "a.json", "--format", "json")
    (v,) = json.loads(out)["violations"]
    assert code == 1 and "cannot record this alarm" in err
    monkeypatch.undo()
    shown = _bash(v["incident"].replace("forensics incident", "forensics incident --format json", 1), tmp_path)
    assert shown.returncode == 0, (v["incident"], shown.stderr.decode()[-500:])
    assert json.loads(shown.stdout)["session_id"] == sid


# --- never zero times, never a hang ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_memory_held_by_another_process_is_waited_for_lock_wait_then_said(tmp_path):
    """The memory's lock is held while a run says what it found (its stdout may be a pipe nobody reads):
    the next cron run waited for it forever, whatever --lock-wait said, and so did every run after it."""
    from filelock import FileLock

    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session("BAD-1", grounded=False, ts=_ts(2))])
    st = tmp_path / "store"
    cmd = [sys.executable, "-m", "forensics", "alarm", "--store", str(st), "-s", str(log), "--lock-wait", "1"]
    first = subprocess.run(cmd, capture_output=True, cwd=tmp_path, timeout=120)
    assert first.returncode == 1, first.stderr.decode()
    held = FileLock(str(st / "alarm-state.json.lock"))
    held.acquire()
    try:
        try:
            stuck = subprocess.run(cmd, capture_output=True, cwd=tmp_path, timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the alarm waited for its memory's lock past --lock-wait")
    finally:
        held.release()
    # it could not evaluate against its memory: it says so, exit 3, as with another alarm on the files
    said = stuck.stdout.decode() + stuck.stderr.decode()
    assert stuck.returncode == 3, said
    assert "is held by another forensics alarm or ack" in said and "gave up after 1s" in said
    # ... and once the memory is free the violation is still firing: nothing was lost
    again = subprocess.run(cmd, capture_output=True, cwd=tmp_path, timeout=120)
    assert (again.returncode, again.stdout) == (1, b""), again.stderr.decode()


# --- a damaged memory is named, never a traceback ---------------------------------------------------------


def _firing_outside_the_window(cli, tmp_path) -> tuple[Path, Path, dict]:
    """A store whose memory holds BAD-1 firing, its row two hours old (outside --since 15m), its session present."""
    rows = [session("BAD-1", grounded=False, ts=_ts(120)), session("BAD-1", ts=_ts(3))]
    rows += [session(f"ok-{i}", ts=_ts(1 + i / 10)) for i in range(5)]
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", rows)
    st = tmp_path / "store"
    assert cli("alarm", "--store", st, "-s", log)[0] == 1
    state = json.loads((st / "alarm-state.json").read_text())
    return log, st, state


@pytest.mark.default_keeps(1)
@pytest.mark.parametrize(
    "row",
    [{"severity": 5}, {"alarm": [1]}, {"severity": None, "state": "gone"}, {"session_id": "OTHER", "in_window": True}],
    ids=["severity-int", "alarm-list", "severity-null", "session-id"],
)
def test_a_remembered_row_cannot_replace_what_the_memory_says_of_its_incident(cli, tmp_path, row):
    """An incident's remembered row was spread over the violation itself: a damaged one replaced its
    alarm or severity, and the mail crashed with a traceback (exit 1 by the crash, nothing said)."""
    _, st, state = _firing_outside_the_window(cli, tmp_path)
    ((key, inc),) = state["incidents"].items()
    inc["row"].update(row)
    (st / "alarm-state.json").write_text(json.dumps(state))
    for args in (["--since", "15m", "-v"], ["--since", "15m", "--repeat", "0s"], ["-f", "json", "--since", "15m"]):
        code, out, err = cli("alarm", "--store", st, *args)
        assert code == 1 and "Traceback" not in err, (args, out, err)
    (v,) = json.loads(out)["violations"]
    assert (v["alarm"], v["severity"], v["session_id"]) == ("ungrounded_accepted", "critical", "BAD-1")
    assert (v["identity"], v["state"], v["in_window"]) == (key, "firing", False)


def test_a_remembered_problem_of_the_wrong_shape_is_named_not_a_traceback(cli, tmp_path):
    """The memory's problems were checked to be objects, not what they hold: a problem whose text was not
    text crashed the mail saying it recovered."""
    _, st, state = _firing_outside_the_window(cli, tmp_path)
    state["problems"] = {
        "stale": {"since": "2026-01-01T00:00:00Z", "last_notified": "2026-01-01T00:00:00Z", "text": [1]}
    }
    (st / "alarm-state.json").write_text(json.dumps(state))
    code, out, err = cli("alarm", "--store", st, "--since", "15m")
    assert code == 3 and "Traceback" not in err, (out, err)
    assert "alarm-state.json is damaged" in out + err and "move it aside" in out + err


# --- odd configuration ------------------------------------------------------------------------------------


def test_a_config_nested_past_pythons_recursion_limit_is_a_usage_error_not_a_traceback(cli, tmp_path):
    """tomllib parses nesting by recursion: a forensics.toml nested thousands deep raised RecursionError, which
    the alarm's memory of failures met again unguarded: a traceback, exit 1 (a violation's code) from cron."""
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean())
    cfg = tmp_path / "forensics.toml"
    cfg.write_text(f'sessions = "{log}"\nx = {"[" * 5000}{"]" * 5000}\n')
    for command in (["alarm"], ["alarm", "--store", tmp_path / "st"], ["doctor"], ["ack", "--all"]):
        code, out, err = cli(*command, "--config", cfg)
        assert code == 2 and "Traceback" not in err and "unexpected" not in out + err, (command, out, err)
        assert "forensics.toml" in out + err


# --- an evaluation with a problem resolves nothing ------------------------------------------------------


def test_a_run_with_a_problem_resolves_no_incident_of_an_alarm_it_did_not_run(cli, tmp_path):
    """A stale log's run without the cron's --queries-dir resolved the user's firing incident (said RESOLVED,
    then NEW again on the next cron run), where the docs (and the old alarm) resolve nothing on a problem."""
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean())
    queries = tmp_path / "q"
    queries.mkdir()
    (queries / "model_a.sql").write_text(
        "-- name: model_a\n-- kind: alarm\n-- severity: critical\n-- description: one call of m-a\n"
        'select session_id, "timestamp", model, kind, daemon, source_file, line from sessions\n'
        "where session_id = 'ok-m-a-1'\n"
    )
    st = tmp_path / "store"
    assert cli("alarm", "--store", st, "-s", log, "-q", queries)[0] == 1
    code, out, err = cli("alarm", "--store", st, "--max-age", "1s")
    assert code == 1 and "RESOLVED" not in out, (out, err)
    assert "could not evaluate" in out and out.startswith("ALARM: 0 new critical, 1 firing")
    code, out, err = cli("alarm", "--store", st, "-q", queries)
    assert (code, "NEW" in out) == (1, False), (out, err)


# --- the events log holds every change the state holds -------------------------------------------------


def _plant_events_link(state: Path) -> None:
    events = state.with_name("a.events.jsonl")
    events.unlink(missing_ok=True)
    os.symlink(state.parent / "victim", events)


def test_a_run_that_cannot_append_its_events_is_not_recorded_as_said(cli, tmp_path):
    """The state was saved before the events log: when the append failed, the alarm warned 'the next run
    notifies its rows again', but the next run was silent, and the weekly report never listed the incident."""
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session("BAD-1", grounded=False, ts=_ts(2))])
    state = tmp_path / "m" / "a.json"
    state.parent.mkdir()
    _plant_events_link(state)
    code, out, err = cli("alarm", "-s", log, "--state", state)
    assert code == 1 and "session=BAD-1" in out and "the next run notifies its rows again" in err
    code, out, _ = cli("alarm", "-s", log, "--state", state)
    assert code == 1 and "NEW" in out and "session=BAD-1" in out  # as the warning said
    (state.parent / "a.events.jsonl").unlink()
    code, out, _ = cli("alarm", "-s", log, "--state", state)
    assert code == 1 and "NEW" in out  # recorded this time ...
    assert cli("alarm", "-s", log, "--state", state)[:2] == (1, "")  # ... so firing, silent
    events = [json.loads(x) for x in (state.parent / "a.events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["new"]


def test_an_ack_that_cannot_append_its_event_acknowledges_nothing(cli, tmp_path):
    """`ack` saved the acknowledgement, then failed on the events log and said 'unexpected OSError', exit 1:
    the person believed nothing was acknowledged, and the report never showed the acknowledgement."""
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session("BAD-1", grounded=False, ts=_ts(2))])
    state = tmp_path / "m" / "a.json"
    assert cli("alarm", "-s", log, "--state", state)[0] == 1
    _plant_events_link(state)
    code, out, err = cli("ack", "BAD-1", "--state", state)
    assert code != 0 and "a.events.jsonl" in out + err
    code, out, _ = cli("alarm", "-s", log, "--state", state, "-v")
    assert code == 1 and "FIRING" in out and "ACKED" not in out  # as the error said: nothing acknowledged


def test_a_new_event_said_again_is_one_incident_in_the_history():
    """A run whose events were appended but whose state was not saved says its rows again, and logs them
    again: the weekly report counts the incident once, from when it was first said."""
    from datetime import UTC, datetime

    from forensics.oncall.history import history

    def event(at, kind):
        return {"at": at, "event": kind, "identity": "k", "alarm": "a", "severity": "critical", "session_id": "S"}

    events = [event("2026-11-10T10:00:00Z", "new"), event("2026-11-10T10:05:00Z", "new")]
    events.append(event("2026-11-10T11:00:00Z", "acknowledged"))
    (inc,) = history(events, datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC))
    assert inc["first_seen"] == datetime(2026, 11, 10, 10, tzinfo=UTC) and inc["unacknowledged_s"] == 3600


@pytest.mark.parametrize("where", ["environment", "config"])
def test_an_incident_command_runs_outside_the_alarms_folder_and_environment(cli, tmp_path, monkeypatch, where):
    """Logs the alarm took from $FORENSICS_SESSIONS or ./forensics.toml were left out of the printed command:
    `forensics incident BAD-1`, which a person in another shell or folder could not run ('no sessions log')."""
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session("BAD-1", grounded=False, ts=_ts(2))])
    cron = tmp_path / "cron"
    cron.mkdir()
    monkeypatch.chdir(cron)
    if where == "environment":
        monkeypatch.setenv("FORENSICS_SESSIONS", str(log))
    else:
        (cron / "forensics.toml").write_text(f'sessions = "{log}"\n')
    code, out, _ = cli("alarm", "--format", "json")
    (v,) = json.loads(out)["violations"]
    assert code == 1
    monkeypatch.delenv("FORENSICS_SESSIONS", raising=False)
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    env_free = {k: v for k, v in os.environ.items() if not k.startswith("FORENSICS_")}
    shown = subprocess.run(
        ["bash", "-c", v["incident"].replace("forensics incident", "forensics incident --format json", 1)],
        capture_output=True,
        cwd=elsewhere,
        env={**env_free, "PATH": str(Path(script_path()).parent) + os.pathsep + env_free.get("PATH", "")},
        timeout=120,
    )
    assert shown.returncode == 0, (v["incident"], shown.stderr.decode()[-500:])
    assert json.loads(shown.stdout)["session_id"] == "BAD-1"


# --- a log new to a kept memory is evaluated whole ---------------------------------------------------------


def test_a_log_added_to_an_alarm_with_a_state_file_is_evaluated_whole_once(cli, tmp_path):
    """A new memory evaluates every row, but a memory that already existed evaluated only the window of a log
    added to the cron line later: its older violation was never said, and the alarm exited 0 for ever."""
    recent = [session(f"ok-{i}", ts=_ts(1 + i)) for i in range(5)]
    first = write_jsonl(tmp_path / "a" / "sessions.jsonl", recent)
    state = tmp_path / "alarm.json"
    assert cli("alarm", "-s", first, "--state", state, "--since", "15m")[0] == 0
    assert cli("alarm", "-s", first, "--state", state, "--since", "15m") == (0, "", "")
    added = write_jsonl(
        tmp_path / "b" / "sessions.jsonl", [session("OLD-1", grounded=False, ts=_ts(60 * 24 * 3)), *recent]
    )
    code, out, err = cli("alarm", "-s", first, "-s", added, "--state", state, "--since", "15m")
    assert code == 1 and "NEW" in out and "session=OLD-1" in out, (out, err)
    assert "new to the alarm's memory" in err
    # then the window is the window again: firing, silent, and no note
    assert cli("alarm", "-s", first, "-s", added, "--state", state, "--since", "15m") == (1, "", "")


# --- a mail that cannot be written -------------------------------------------------------------------------


def test_an_alarm_that_cannot_write_what_it_found_says_so_and_exits_nonzero_without_a_traceback(tmp_path):
    """With its stdout on a full disk (or a closed pipe to the mailer) the alarm died with a traceback; its
    memory rightly recorded nothing, and now it says why in one line, exit 3, and the next run says the row."""
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session("BAD-1", grounded=False, ts=_ts(2))])
    cmd = [sys.executable, "-m", "forensics", "alarm", "--store", str(tmp_path / "st"), "-s", str(log)]
    with open("/dev/full", "w") as full:
        failed = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, cwd=tmp_path, timeout=120)
    said = failed.stderr.decode()
    assert failed.returncode == 3 and "Traceback" not in said, said
    assert "cannot write what it found" in said and "No space left on device" in said
    again = subprocess.run(cmd, capture_output=True, cwd=tmp_path, timeout=120)
    assert again.returncode == 1 and "NEW" in again.stdout.decode() and "BAD-1" in again.stdout.decode()


# --- nothing evaluated recovers nothing ----------------------------------------------------------------


def test_a_run_that_evaluated_nothing_says_no_problem_recovered(cli, tmp_path):
    """A stale log whose window then held no row was said RECOVERED ('evaluated again') in the same mail that
    said nothing was evaluated: the staleness could no longer be measured, not gone."""
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [session(f"ok-{i}", ts=_ts(20 + i)) for i in range(3)])
    st = tmp_path / "st"
    code, out, err = cli("alarm", "--store", st, "-s", log, "--since", "1h", "--max-age", "10m")
    assert code == 3 and "older than --max-age 10m" in out + err
    code, out, err = cli("alarm", "--store", st, "--since", "5m", "--max-age", "10m")
    assert code == 3 and "zero readable session rows" in out + err
    assert "RECOVERED" not in out + err, (out, err)
    # ... and once rows are evaluated again and fresh, it is said recovered, once
    with open(log, "a") as fh:
        fh.write(json.dumps(session("ok-new", ts=_ts(1))) + "\n")
    code, out, err = cli("alarm", "--store", st, "--since", "5m", "--max-age", "10m")
    assert code == 0 and out.count("RECOVERED") == 2, (out, err)


# --- an incident no shell can name can be acknowledged alone --------------------------------------------


def test_an_incident_named_by_its_identity_is_acknowledged_by_it_alone(cli, tmp_path):
    """An id with a NUL can be named to `incident` by its identity, but `ack` took only session ids: the
    only way to silence it was `ack --all`, which acknowledged every other open violation with it."""
    nul = "a\x00b"
    rows = [*_clean(), session(nul, grounded=False, ts=_ts(2)), session("BAD-2", grounded=False, ts=_ts(3))]
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", rows)
    st = tmp_path / "st"
    code, out, _ = cli("alarm", "--store", st, "-s", log)
    assert code == 1 and "forensics ack --identity KEY" in out
    code, out, _ = cli("alarm", "--store", st, "--format", "json")
    (v,) = [v for v in json.loads(out)["violations"] if v["session_id"] == nul]
    code, out, err = cli("ack", "--identity", v["identity"], "--store", st, "--note", "looked")
    assert code == 0 and "1 violation acknowledged" in out, (out, err)
    code, out, _ = cli("alarm", "--store", st, "--format", "json")
    states = {v["session_id"]: v["state"] for v in json.loads(out)["violations"]}
    assert code == 1 and states == {nul: "acknowledged", "BAD-2": "firing"}
    # an identity with no open incident is an error, and nothing is acknowledged
    code, out, err = cli("ack", "--identity", "0" * 24, "BAD-2", "--store", st)
    assert code == 2 and "0" * 24 in out + err
    assert cli("alarm", "--store", st)[0] == 1


# --- two rows of a user's alarm that names a session but no call are two incidents -----------------------


def test_two_rows_of_a_users_alarm_naming_one_session_but_no_call_are_two_incidents(cli, tmp_path):
    """A user's alarm that aggregates per session (no file and line to read its call back from) was identified
    by the session alone: a second row of that session (another provider) was the first's incident, so the
    ack of the first silenced it, exit 0."""
    queries = tmp_path / "q"
    queries.mkdir()
    (queries / "infra_per_provider.sql").write_text(
        "-- name: infra_per_provider\n-- kind: alarm\n-- severity: critical\n"
        "-- description: sessions whose calls to one provider failed twice\n"
        "select session_id, provider, count(*) as failures from sessions\n"
        "where final_verdict = 'infra_error' group by all having count(*) >= 2 order by all\n"
    )
    failed = [session("S-1", verdict="infra_error", provider="p1", ts=_ts(2 + i)) for i in range(2)]
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [*_clean(), *failed])
    st = tmp_path / "st"
    assert cli("alarm", "--store", st, "-s", log, "-q", queries)[0] == 1
    assert cli("ack", "S-1", "--store", st)[0] == 0
    assert cli("alarm", "--store", st, "-q", queries)[0] == 0
    with open(log, "a") as fh:  # the same session fails twice on another provider
        for _ in range(2):
            fh.write(json.dumps(session("S-1", verdict="infra_error", provider="p2", ts=_ts(1))) + "\n")
    code, out, err = cli("alarm", "--store", st, "-q", queries)
    assert code == 1 and "NEW" in out and "session=S-1" in out, (out, err)


def test_an_acknowledged_row_of_such_an_alarm_stays_acknowledged_in_a_memory_of_its_earlier_identity(cli, tmp_path):
    from forensics.oncall.memory import legacy_identity

    queries = tmp_path / "q"
    queries.mkdir()
    (queries / "per_provider.sql").write_text(
        "-- name: per_provider\n-- kind: alarm\n-- severity: critical\n-- description: calls per session and provider\n"
        "select session_id, provider, count(*) as calls from sessions where session_id = 'S-1' group by all\n"
    )
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [*_clean(), session("S-1", provider="p1", ts=_ts(2))])
    st = tmp_path / "st"
    assert cli("alarm", "--store", st, "-s", log, "-q", queries)[0] == 1
    assert cli("ack", "S-1", "--store", st)[0] == 0
    # the memory as the alarm kept it before: keyed by the session alone
    data = json.loads((st / "alarm-state.json").read_text())
    ((key, inc),) = data["incidents"].items()
    old = legacy_identity("per_provider", {"session_id": "S-1"}, {"provider": "p1", "calls": 1})
    assert old != key
    data["incidents"] = {old: inc}
    (st / "alarm-state.json").write_text(json.dumps(data))
    assert cli("alarm", "--store", st, "-q", queries) == (0, "", "")  # still acknowledged, nobody paged
    assert list(json.loads((st / "alarm-state.json").read_text())["incidents"]) == [key]


# --- a warning is mailed when it is new, not on every run -------------------------------------------------


def _log_with_a_bad_line_and_an_untimed_row(tmp_path: Path) -> Path:
    recent = [session(f"ok-{i}", ts=_ts(1 + i)) for i in range(5)]
    untimed = session("UNTIMED-1")
    del untimed["timestamp"]
    return write_jsonl(tmp_path / "logs" / "sessions.jsonl", [*recent[:2], b"{garbage", untimed, *recent[2:]])


@pytest.mark.default_keeps(1)
@pytest.mark.parametrize("memory", ["store", "state"])
def test_a_warning_that_did_not_change_is_not_mailed_on_every_run(cli, tmp_path, memory):
    """One unreadable line or one row without a time (in every window, for ever) was warned on stderr on
    every run: cron mails any output, so the unchanged warning was mailed every five minutes."""
    log = _log_with_a_bad_line_and_an_untimed_row(tmp_path)
    where = (
        ["--store", tmp_path / "st", "-s", log] if memory == "store" else ["-s", log, "--state", tmp_path / "a.json"]
    )
    code, _, err = cli("alarm", *where, "--since", "15m", "--max-unreadable", "5")
    assert code == 0 and "1 unreadable line skipped" in err and "without a valid RFC 3339 timestamp" in err
    assert cli("alarm", *where, "--since", "15m", "--max-unreadable", "5") == (0, "", "")
    # reminded per --repeat, as a problem is; said again when it changes
    code, _, err = cli("alarm", *where, "--since", "15m", "--max-unreadable", "5", "--repeat", "0s")
    assert code == 0 and "without a valid RFC 3339 timestamp" in err
    with open(log, "ab") as fh:
        fh.write(b"{more garbage\n")
    code, _, err = cli("alarm", *where, "--since", "15m", "--max-unreadable", "5")
    assert code == 0 and " unreadable line" in err and "without a valid RFC 3339 timestamp" not in err


def test_without_a_memory_every_run_warns(cli, tmp_path):
    log = _log_with_a_bad_line_and_an_untimed_row(tmp_path)
    for _ in range(2):
        code, _, err = cli("alarm", "-s", log, "--since", "15m", "--max-unreadable", "5")
        assert code == 0 and "1 unreadable line skipped" in err and "without a valid RFC 3339 timestamp" in err


def test_a_log_that_cannot_be_read_whole_is_not_noted_as_new_on_every_run(cli, tmp_path):
    """A rotated file of a log that could not be read (cut short) kept the log new to the memory: every run
    evaluated it whole again and said so on stderr, which cron mailed every time."""
    recent = [session(f"ok-{i}", ts=_ts(1 + i)) for i in range(5)]
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", recent)
    (tmp_path / "logs" / "sessions.jsonl.2.gz").write_bytes(b"\x1f\x8b\x08\x00cut short")
    state = tmp_path / "a.json"
    assert cli("alarm", "-s", log.parent, "--state", state, "--since", "15m")[0] == 3
    code, _, err = cli("alarm", "-s", log.parent, "--state", state, "--since", "15m")
    assert code == 3 and err.count("new to the alarm's memory") <= 1  # said when first met ...
    for _ in range(2):  # ... and not again
        code, out, err = cli("alarm", "-s", log.parent, "--state", state, "--since", "15m")
        assert (code, out, err) == (3, "", ""), (out, err)
