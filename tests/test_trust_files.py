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

from .conftest import _clean, _ts, session, write_jsonl

# Line separators Python's str.splitlines() honours besides \n and \r: text inside a JSON string.
SEPARATORS = ["\u2028", "\u2029", "\x85", "\x1c", "\x1d", "\x1e", "\x0b", "\x0c"]


def _events(store: Path) -> list[dict]:
    return [json.loads(x) for x in (store / "alarm-events.jsonl").read_bytes().decode("utf-8").split("\n") if x]


@pytest.mark.parametrize("sep", SEPARATORS, ids=lambda s: f"U+{ord(s):04X}")
def test_a_line_separator_in_an_id_or_a_note_keeps_the_incident_and_its_ack(cli, tmp_path, sep):
    sid = f"BAD{sep}1"
    logs = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session(sid, grounded=False, ts=_ts(2))])
    st = tmp_path / "store"
    assert cli("alarm", "--store", st, "-s", logs)[0] == 1
    code, out, _ = cli("ack", sid, "--note", f"looked{sep}at it", "--store", st)
    assert code == 0 and "1 violation(s) acknowledged" in out
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


@pytest.mark.parametrize("sid", HOSTILE_IDS, ids=["dash-rf", "dash-store", "dash", "dashdash", "nul", "long", "dash-nl"])
@pytest.mark.parametrize("memory", ["store", "state"])
def test_every_printed_incident_command_runs_as_printed_and_shows_that_session(cli, tmp_path, sid, memory):
    import subprocess

    from .conftest import script_path

    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session(sid, grounded=False, ts=_ts(2))])
    where = ["--store", tmp_path / "store", "-s", log] if memory == "store" else ["-s", log, "--state", tmp_path / "a.json"]
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
        ('sessions = 5\n', "sessions"),
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
    code, out, _ = cli("sql", "select session_id, \"timestamp\" from sessions order by 1", "-s", path, "-f", "json")
    rows = {r["session_id"]: r["timestamp"] for r in json.loads(out)}
    assert datetime.fromisoformat(rows["NAIVE-1"]) == when.replace(tzinfo=UTC) and rows["DATE-1"] is None
