"""Files others can touch, and evidence shown whole: the alarm's memory is never written through a
planted link, its events log ends lines at \\n only, and the incident page keeps an artifact's and a
prompt's lines while still showing every other control character escaped."""

from __future__ import annotations

import html
import json
import os
import re
import stat
from pathlib import Path

import pytest

from .conftest import _clean, _ts, mostly_slow, session, write_jsonl

# Line separators Python's str.splitlines() honours besides \n and \r: text inside a JSON string.
SEPARATORS = ["\u2028", "\u2029", "\x85", "\x1c", "\x1d", "\x1e", "\x0b", "\x0c"]


def _events(store: Path) -> list[dict]:
    return [json.loads(x) for x in (store / "alarm-events.jsonl").read_bytes().decode("utf-8").split("\n") if x]


@pytest.mark.parametrize("sep", mostly_slow(SEPARATORS, keep={"\u2028", "\x85"}), ids=lambda s: f"U+{ord(s):04X}")
def test_a_line_separator_in_an_id_or_a_note_keeps_the_incident_and_its_ack(cli, tmp_path, sep):
    sid = f"BAD{sep}1"
    logs = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session(sid, grounded=False, ts=_ts(2))])
    st = tmp_path / "store"
    assert cli("alarm", "--store", st, "-s", logs)[0] == 1
    code, out, _ = cli("ack", sid, "--note", f"looked{sep}at it", "--store", st)
    assert code == 0 and "1 violation acknowledged" in out
    assert [e["event"] for e in _events(st)] == ["new", "acknowledged"]
    # The report's incidents section reads the same log back: the incident is there, acknowledged.
    from forensics.oncall.history import history
    from forensics.oncall.memory import Memory

    events = Memory.of_store(st).events()
    assert [e["event"] for e in events] == ["new", "acknowledged"]
    (inc,) = history(events, *_week_around_now())
    assert inc["session_id"] == sid and inc["acknowledged_at"] is not None and inc["note"] == f"looked{sep}at it"
    assert cli("alarm", "--store", st) == (0, "", "")


def _week_around_now():
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return now - timedelta(days=7), now + timedelta(days=1)


def _plant(link: Path, victim: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(victim, link)


@pytest.mark.parametrize("name", ["alarm-state.json", "alarm-events.jsonl", "alarm-state.json.lock"])
def test_a_link_planted_where_the_memory_writes_is_never_written_through(cli, tmp_path, name):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    logs = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session("BAD-1", grounded=False, ts=_ts(2))])
    state = tmp_path / "memory" / "alarm-state.json"
    target = state.with_name(name.replace("alarm-events", "alarm-state.events"))
    _plant(target, victim)
    code, out, err = cli("alarm", "-s", logs, "--state", state)
    assert victim.read_text() == "precious\n"
    if name == "alarm-state.json":
        # a memory that is a link is neither read nor written: the alarm says so and cannot evaluate
        assert code == 3 and "symbolic link" in err + out and str(state) in err + out
    else:
        assert code == 1 and "BAD-1" in out  # the verdict stands, whatever happened to the memory


@pytest.mark.parametrize(
    "command",
    [
        ("report", "--format", "html", "--out"),
        ("incident", "BAD-1", "--format", "html", "--out"),
        ("notebook", "--force"),
    ],
)
def test_a_link_planted_where_a_command_writes_its_output_is_replaced_not_written_through(cli, tmp_path, command):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    logs = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session("BAD-1", grounded=False, ts=_ts(2))])
    if command[0] == "notebook":
        out = tmp_path / "shared"
        planted = out / "exploration.ipynb"
        args = (*command, out)
    else:
        planted = out = tmp_path / "shared" / "out.html"
        args = (*command, out, "-s", logs)
    _plant(planted, victim)
    _plant(planted.with_name(f".{planted.name}.tmp"), victim)  # and at a temporary name one could guess
    code, _, err = cli(*args)
    assert code == 0, err
    assert victim.read_text() == "precious\n"
    written = out if command[0] != "notebook" else out / "exploration.ipynb"
    assert not written.is_symlink() and written.stat().st_size > 0


def test_no_temporary_name_of_the_state_can_be_planted(cli, tmp_path):
    """The old fixed name (STATE.tmp) is no longer used: a link there is neither followed nor removed."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    logs = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session("BAD-1", grounded=False, ts=_ts(2))])
    state = tmp_path / "memory" / "alarm-state.json"
    _plant(state.with_name("alarm-state.json.tmp"), victim)
    assert cli("alarm", "-s", logs, "--state", state)[0] == 1
    assert victim.read_text() == "precious\n" and json.loads(state.read_text())["incidents"]
    leftovers = [p.name for p in state.parent.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()]
    assert leftovers == []


def test_the_memory_files_share_the_users_file_mode(cli, tmp_path):
    logs = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session("BAD-1", grounded=False, ts=_ts(2))])
    state = tmp_path / "memory" / "alarm-state.json"
    old = os.umask(0o022)
    try:
        assert cli("alarm", "-s", logs, "--state", state)[0] == 1
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.parent.iterdir() if not p.name.endswith(".lock")}
    assert modes == {"alarm-state.json": 0o644, "alarm-state.events.jsonl": 0o644}


def test_the_incident_page_keeps_the_evidence_lines_and_escapes_the_rest(cli, tmp_path):
    prompt = "Fill the form.\n  Rules:\n\t- cite the roster\n\x1b[2Jcleared\rreturn\u202eevil"
    artifact = {"name": "Ada", "notes": "two\nlines"}
    row = session("BAD-1", grounded=False, ts=_ts(2), prompt=prompt, artifact=artifact)
    logs = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [row])
    code, out, err = cli("incident", "BAD-1", "-s", logs, "--format", "html")
    assert code == 0, err
    pres = [html.unescape(m) for m in re.findall(r"<pre>(.*?)</pre>", out, re.S)]
    shown_prompt = next(p for p in pres if p.startswith("Fill the form."))
    # newlines and indentation are the page's; the terminal-clearing escape, CR and RLO are shown as text
    assert shown_prompt == "Fill the form.\n  Rules:\n\t- cite the roster\n\\x1b[2Jcleared\\rreturn\\u202eevil"
    shown_artifact = next(p for p in pres if '"name"' in p)
    assert json.loads(shown_artifact) == artifact and "\n  " in shown_artifact
    assert "\x1b" not in out and "\u202e" not in out and "\r" not in out


# --- printed commands run as printed -------------------------------------------------------------

HOSTILE_IDS = [
    "-rf",  # read as an option, unless after --
    "--store",
    "-",
    "--",
    "a\x00b",  # no shell argument can hold a NUL
    "x" * 140_000,  # longer than one argument may be
    "-\n$(touch pwned)",
]


@pytest.mark.parametrize(
    "sid",
    mostly_slow(HOSTILE_IDS, keep={"-rf", "-\n$(touch pwned)"}),
    ids=["dash-rf", "dash-store", "dash", "dashdash", "nul", "long", "dash-nl"],
)
@pytest.mark.parametrize("memory", ["store", "state"])
def test_every_printed_incident_command_runs_as_printed_and_shows_that_session(cli, tmp_path, sid, memory):
    import subprocess

    from .conftest import script_path

    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session(sid, grounded=False, ts=_ts(2))])
    where = (
        ["--store", tmp_path / "store", "-s", log] if memory == "store" else ["-s", log, "--state", tmp_path / "a.json"]
    )
    code, out, _ = cli("alarm", *where, "--format", "json")
    (v,) = json.loads(out)["violations"]
    assert code == 1 and v["session_id"] == sid and v["incident"]
    bin_dir = str(Path(script_path()).parent)
    shown = subprocess.run(
        ["bash", "-c", v["incident"].replace("forensics incident", "forensics incident --format json", 1)],
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")},
    )
    assert shown.returncode == 0, (v["incident"][:300], shown.stderr.decode()[-500:])
    data = json.loads(shown.stdout)
    assert data["session_id"] == sid and [c["session_id"] for c in data["calls"]] == [sid]
    assert not (tmp_path / "pwned").exists()


# --- configuration: every key read or refused ------------------------------------------------------


def _alarm_with(cli, tmp_path, body: str, log: Path):
    cfg = tmp_path / "forensics.toml"
    cfg.write_text(body.replace("LOG", str(log)).replace("DIR", str(tmp_path)))
    return cli("alarm", "--config", cfg)


def test_top_level_keys_beside_a_sources_table_are_read(cli, tmp_path):
    """queries_dirs at the top beside [sources] used to be dropped: the user's critical alarm never ran."""
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session("ODD-1", model="m-z", ts=_ts(2))])
    queries = tmp_path / "q"
    queries.mkdir()
    (queries / "model_z.sql").write_text(
        "-- name: model_z\n-- kind: alarm\n-- severity: critical\n-- description: calls of m-z\n"
        "select session_id, \"timestamp\", model, kind, daemon, source_file, line from sessions where model = 'm-z'\n"
    )
    code, out, err = _alarm_with(cli, tmp_path, f'queries_dirs = ["{queries}"]\n[sources]\nsessions = "LOG"\n', log)
    assert code == 1 and "model_z" in out and "ODD-1" in out, (out, err)


@pytest.mark.parametrize(
    "body, names",
    [
        ("sessions = 5\n", "sessions"),
        ('sessions = ["LOG", 5]\n', "sessions"),
        ('sessions = "LOG"\nstore = ["DIR/st"]\n', "store"),
        ('sessions = "LOG"\nqueries_dirs = {a = 1}\n', "queries_dirs"),
        ('sessions = "LOG"\nlakehouse = "forensics.toml"\n', "lakehouse"),
        ('sessions = "LOG"\nlakehouse = "DIR/b.toml"\n', "lakehouse"),  # b.toml names this file back
        ('sources = "LOG"\n', "sources"),
        ('sessions = "LOG"\n[sources]\nsessions = "LOG"\n', "sessions"),
        ('sesions = "LOG"\n[sources]\nreplay_runs = "LOG"\n', "sesions"),
        ('sessions = "LOG"\n[sourcse]\nstore = "x"\n', "sourcse"),
        ('sessions = "LOG\n', "forensics.toml"),  # not TOML
    ],
)
def test_a_config_of_the_wrong_shape_is_a_usage_error_naming_the_key(cli, tmp_path, body, names):
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean())
    (tmp_path / "b.toml").write_text(f'lakehouse = "{tmp_path / "forensics.toml"}"\n')
    for command in (["alarm"], ["run", "first_shot_success_rate"], ["doctor"]):
        cfg = tmp_path / "forensics.toml"
        cfg.write_text(body.replace("LOG", str(log)).replace("DIR", str(tmp_path)))
        code, out, err = cli(*command, "--config", cfg)
        assert code == 2, (command, body, out, err)
        assert names in out + err and "unexpected" not in out + err and "Traceback" not in err, (command, out, err)


# --- the writer writes the format -------------------------------------------------------------------


@pytest.mark.parametrize("given", ["replay.run.v1", "session.iterate.v2", "", 7, None])
def test_a_session_row_is_stamped_with_its_schema_whatever_the_caller_gave(cli, tmp_path, given):
    from forensics import SessionLogger

    path = tmp_path / "logs" / "sessions.jsonl"
    path.parent.mkdir()
    record = session("BAD-1", grounded=False, ts=_ts(2))
    if given is None:
        record.pop("schema", None)
    else:
        record["schema"] = given
    log = SessionLogger(path)
    clean = log.append(record)
    assert json.loads(path.read_bytes())["schema"] == "session.iterate.v1"
    assert clean is (given in (None, "session.iterate.v1"))  # a schema replaced is said, as any value is
    # ... so the reader sees the row and its verdict: the alarm fires
    code, out, _ = cli("alarm", "-s", path)
    assert code == 1 and "BAD-1" in out


def test_a_replay_row_is_stamped_with_its_schema(tmp_path):
    from forensics import ReplayLogger

    path = tmp_path / "replay_runs.jsonl"
    ReplayLogger(path).append({"schema": "session.iterate.v1", "session_id": "s", "status": "ok"})
    assert json.loads(path.read_bytes())["schema"] == "replay.run.v1"


def test_a_naive_datetime_is_written_as_utc_and_read_as_that_instant(cli, tmp_path):
    from datetime import UTC, date, datetime, timedelta

    from forensics import SessionLogger

    path = tmp_path / "sessions.jsonl"
    when = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(minutes=3)
    log = SessionLogger(path)
    assert log.append({**session("NAIVE-1", grounded=False), "timestamp": when, "artifact": {"at": when}}) is True
    assert log.append({**session("DATE-1"), "timestamp": date(2026, 11, 10)}) is False  # no instant: a marker
    naive, dated = [json.loads(x) for x in path.read_bytes().splitlines()]
    assert naive["timestamp"] == when.isoformat() + "+00:00" and naive["artifact"]["at"] == when.isoformat() + "+00:00"
    assert dated["timestamp"].startswith("<forensics: timestamp:")
    code, out, _ = cli("sql", 'select session_id, "timestamp" from sessions order by 1', "-s", path, "-f", "json")
    assert code == 0
    rows = {r["session_id"]: r["timestamp"] for r in json.loads(out)}
    assert datetime.fromisoformat(rows["NAIVE-1"]) == when.replace(tzinfo=UTC) and rows["DATE-1"] is None


# --- starting afresh ------------------------------------------------------------------------------


def _old_violation_logs(tmp_path: Path) -> Path:
    old = session("OLD-1", grounded=False, ts=_ts(60 * 24 * 3))  # three days before the window
    return write_jsonl(tmp_path / "logs" / "sessions.jsonl", [old, *_clean()])


def test_the_first_alarm_on_an_ingested_store_evaluates_every_row_it_holds(cli, tmp_path):
    log, st = _old_violation_logs(tmp_path), tmp_path / "store"
    assert cli("ingest", "--store", st, "-s", log)[0] == 0  # the README's "once: ingest"
    code, out, err = cli("alarm", "--store", st, "--since", "1h")
    assert code == 1 and "NEW" in out and "session=OLD-1" in out, (out, err)
    assert "is new: this run evaluates every row the store holds" in err
    assert cli("alarm", "--store", st, "--since", "1h") == (1, "", "")  # then firing, and silent


def test_a_damaged_state_moved_aside_makes_every_violation_new_again(cli, tmp_path):
    log, st = _old_violation_logs(tmp_path), tmp_path / "store"
    assert cli("alarm", "--store", st, "-s", log, "--since", "1h")[0] == 1
    state = st / "alarm-state.json"
    state.write_text("{damaged")
    code, out, err = cli("alarm", "--store", st, "--since", "1h")
    assert code == 3 and "move it aside" in out + err
    state.rename(st / "alarm-state.json.bad")  # as the message advises
    code, out, err = cli("alarm", "--store", st, "--since", "1h")
    assert code == 1 and "NEW" in out and "session=OLD-1" in out, (out, err)


def test_a_new_state_file_evaluates_every_row_of_the_logs_once(cli, tmp_path):
    log = _old_violation_logs(tmp_path)
    state = tmp_path / "alarm.json"
    code, out, err = cli("alarm", "-s", log, "--state", state, "--since", "1h")
    assert code == 1 and "session=OLD-1" in out and "is new" in err
    # with the memory kept, the window is the window again: the old row stays firing, silently
    assert cli("alarm", "-s", log, "--state", state, "--since", "1h") == (1, "", "")
    # without a memory, --since is the user's window and nothing is started afresh
    assert cli("alarm", "-s", log, "--since", "1h")[0] == 0


# --- problems have a memory too ------------------------------------------------------------------


def test_a_stale_log_is_said_once_with_its_age_reminded_and_said_when_it_recovers(cli, tmp_path):
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [session(f"s{i}", ts=_ts(192 + i)) for i in range(3)])
    st = tmp_path / "store"
    code, out, err = cli("alarm", "--store", st, "-s", log, "--max-age", "2h")
    assert code == 3 and "could not evaluate" in err and "older than --max-age 2h: it is 3 h 12 min old" in err
    assert cli("alarm", "--store", st, "--max-age", "2h") == (3, "", "")  # said once; exit 3 carries it
    code, out, err = cli("alarm", "--store", st, "--max-age", "2h", "--repeat", "0s")
    assert code == 3 and err.startswith("REMINDER could not evaluate since ") and "--max-age 2h" in err
    assert cli("alarm", "--store", st, "--max-age", "2h") == (3, "", "")
    with open(log, "a") as fh:  # the daemon writes again
        fh.write(json.dumps(session("fresh", ts=_ts(1))) + "\n")
    code, out, err = cli("alarm", "--store", st, "--max-age", "2h")
    assert code == 0 and "RECOVERED evaluated again" in out and "--max-age 2h" in out, (out, err)
    assert cli("alarm", "--store", st, "--max-age", "2h") == (0, "", "")
    events = [e["event"] for e in _events(st)]
    assert events.count("problem") == 1 and events.count("recovered") == 1


@pytest.mark.slow
def test_a_dead_log_behind_a_firing_incident_is_said_and_not_mailed_every_run_after_an_ack(cli, tmp_path):
    rows = [session("BAD-1", grounded=False, ts=_ts(200)), *[session(f"s{i}", ts=_ts(190 + i)) for i in range(3)]]
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", rows)
    st = tmp_path / "store"
    code, out, err = cli("alarm", "--store", st, "-s", log, "--max-age", "2h")
    assert code == 1 and "session=BAD-1" in out and "also: could not evaluate: the newest row" in out
    assert cli("alarm", "--store", st, "--max-age", "2h") == (1, "", "")
    code, out, err = cli("alarm", "--store", st, "--max-age", "2h", "--repeat", "0s")
    assert code == 1 and "REMINDER could not evaluate since" in out, (out, err)  # seen even behind the incident
    assert cli("ack", "--all", "--store", st)[0] == 0
    for _ in range(2):  # acknowledged: the log is still dead, exit 3, and it was said already
        assert cli("alarm", "--store", st, "--max-age", "2h") == (3, "", "")


def test_a_missing_file_is_said_once_and_its_return_once(cli, tmp_path):
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean())
    state = tmp_path / "alarm.json"
    assert cli("alarm", "-s", log, "--state", state)[0] == 0
    kept = log.read_bytes()
    log.unlink()
    code, out, err = cli("alarm", "-s", log, "--state", state)
    assert code == 3 and "could not evaluate" in err and "no such file" in err
    assert cli("alarm", "-s", log, "--state", state) == (3, "", "")
    log.write_bytes(kept)
    code, out, err = cli("alarm", "-s", log, "--state", state)
    assert code == 0 and "RECOVERED" in out and "no such file" in out
    assert cli("alarm", "-s", log, "--state", state) == (0, "", "")


def test_without_a_memory_every_run_says_what_it_could_not_evaluate(cli, tmp_path):
    log = write_jsonl(tmp_path / "s.jsonl", [session("s", ts=_ts(300))])
    for _ in range(2):
        code, out, err = cli("alarm", "-s", log, "--max-age", "2h")
        assert code == 3 and "could not evaluate" in err and out == ""


# --- resolution is decided by the data ------------------------------------------------------------

_AGGREGATE = """-- name: ungrounded_days
-- kind: alarm
-- severity: critical
-- description: days with an ungrounded accepted artifact
-- param: since timestamp = null
select strftime("timestamp", '%Y-%m-%d') as day, count(*) as n
from sessions
where final_verdict = 'accepted' and grounded_in_roster = false
    and ($since is null or "timestamp" >= $since::timestamptz)
group by all
"""


@pytest.mark.default_keeps(1)
@pytest.mark.parametrize("case", ["no session id", "aggregate"])
def test_a_violation_that_only_left_the_window_is_never_resolved(cli, tmp_path, case):
    bad = session("X", grounded=False, ts=_ts(60 * 24 * 3))
    if case == "no session id":
        del bad["session_id"]
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [bad, *_clean()])
    extra = []
    if case == "aggregate":
        (tmp_path / "q").mkdir()
        (tmp_path / "q" / "ungrounded_days.sql").write_text(_AGGREGATE)
        extra = ["--queries-dir", tmp_path / "q"]
    st = tmp_path / "store"
    code, out, _ = cli("alarm", "--store", st, "-s", log, "--since", "1h", *extra)
    assert code == 1 and "NEW" in out
    for _ in range(2):  # the next runs look at the last hour: the row is still in the logs
        code, out, err = cli("alarm", "--store", st, "--since", "1h", *extra)
        assert (code, out) == (1, ""), (out, err)
    code, out, _ = cli("alarm", "--store", st, "--since", "1h", "--format", "json", *extra)
    data = json.loads(out)
    assert data["resolved"] == [] and data["summary"]["firing"] >= 1


def test_a_gone_row_met_again_is_no_longer_gone(cli, tmp_path):
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session("BAD-1", grounded=False, ts=_ts(2))])
    state = tmp_path / "alarm.json"
    assert cli("alarm", "-s", log, "--state", state)[0] == 1
    kept = log.read_bytes()
    write_jsonl(log, _clean())  # rotated away for a while ...
    code, out, _ = cli("alarm", "-s", log, "--state", state, "--format", "json")
    (v,) = json.loads(out)["violations"]
    assert code == 1 and v["state"] == "firing" and v["gone_at"]
    log.write_bytes(kept)  # ... and back (a restore)
    code, out, _ = cli("alarm", "-s", log, "--state", state, "--format", "json")
    (v,) = json.loads(out)["violations"]
    assert code == 1 and v["state"] == "firing" and "gone_at" not in v


# --- identity: two calls are never one incident ---------------------------------------------------


@pytest.mark.parametrize("ts", [None, "not a time", "2026-13-45T99:99:99Z"])
def test_two_calls_of_one_session_without_a_valid_time_are_two_incidents(cli, tmp_path, ts):
    def call(duration_ms):
        row = session("S-1", grounded=False, duration_ms=duration_ms)
        if ts is None:
            del row["timestamp"]
        else:
            row["timestamp"] = ts
        return row

    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [*_clean(), call(100)])
    state = tmp_path / "alarm.json"
    assert cli("alarm", "-s", log, "--state", state)[0] == 1
    assert cli("ack", "--all", "--state", state)[0] == 0
    assert cli("alarm", "-s", log, "--state", state)[0] == 0
    with open(log, "a") as fh:  # a second, different call of the same session, as untimed
        fh.write(json.dumps(call(250)) + "\n")
    code, out, _ = cli("alarm", "-s", log, "--state", state)
    assert code == 1 and out.startswith("ALARM: 1 new critical, 0 firing, 1 acknowledged"), out
    # the same line logged twice is the same call: one incident, said once
    with open(log, "a") as fh:
        fh.write(json.dumps(call(250)) + "\n")
    assert cli("alarm", "-s", log, "--state", state)[:2] == (1, "")  # (stderr: the untimed rows, as always)


def test_a_memory_of_the_old_identity_keeps_its_acknowledgements(cli, tmp_path):
    from forensics.oncall.memory import legacy_identity

    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [*_clean(), session("BAD-1", grounded=False, ts=_ts(2))])
    state = tmp_path / "alarm.json"
    code, out, _ = cli("alarm", "-s", log, "--state", state, "--format", "json")
    (v,) = json.loads(out)["violations"]
    assert code == 1 and cli("ack", "BAD-1", "--state", state)[0] == 0
    # the state as version 2 wrote it: keyed by the identity without the call's columns
    data = json.loads(state.read_text())
    (inc,) = data["incidents"].values()
    old = legacy_identity(v["alarm"], {k: v[k] for k in ("session_id", "timestamp", "model", "kind", "daemon")})
    data.update(version=2, incidents={old: inc})
    state.write_text(json.dumps(data))
    assert cli("alarm", "-s", log, "--state", state) == (0, "", "")  # still acknowledged: nobody paged again
    assert list(json.loads(state.read_text())["incidents"]) == [v["identity"]]
