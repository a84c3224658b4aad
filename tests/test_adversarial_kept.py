"""Behaviour kept across the re-layout and issue 23, found by running the code before and after on the
same inputs: what the old code did and the new one no longer does, outside the deliberate changes."""

from __future__ import annotations

import json

from forensics.read.sources import resolve

from .conftest import _clean, _ts, session, write_jsonl

# --- the alarm lists its rows in the order its query gives them ------------------------------------


def test_the_alarm_lists_violations_in_the_order_its_query_gives_them(cli, tmp_path):
    """Joined back to their calls for their identity, the rows came out in the file's order, not the query's
    ("order by timestamp"): the mail's first --max-rows rows and the JSON were no longer the oldest first."""
    clean = [session(f"ok-{i}", ts=_ts(300 - i / 10)) for i in range(2000)]
    # in the file newest first; the query orders them oldest first
    bad = [session(f"BAD-{i}", grounded=False, ts=_ts(10 + i)) for i in range(6)]
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", bad[:3] + clean + bad[3:])
    code, out, err = cli("run", "ungrounded_accepted", "-s", log, "-f", "json")
    assert code == 0, err
    expected = [r["session_id"] for r in json.loads(out)]
    assert expected == [f"BAD-{i}" for i in reversed(range(6))]
    code, out, err = cli("alarm", "-s", log, "-f", "json")
    assert code == 1, err
    assert [v["session_id"] for v in json.loads(out)["violations"]] == expected
    code, out, _ = cli("alarm", "-s", log, "--max-rows", "2")
    assert code == 1
    shown = [line.split("session=")[1].split()[0] for line in out.splitlines() if line.startswith("NEW")]
    assert shown == expected[:2]


# --- a lakehouse.toml is read as it was ---------------------------------------------------------------


def test_an_empty_session_log_path_in_a_lakehouse_file_names_no_log(tmp_path):
    """An empty path was skipped; it became the config's own folder, read as a log folder (and refused)."""
    v = write_jsonl(tmp_path / "v" / "sessions.jsonl", [session("v")])
    lake = tmp_path / "lakehouse.toml"
    lake.write_text(f'[validatord]\nsession_log_path = "{v}"\n[gateway]\nsession_log_path = ""\n')
    assert resolve(config=lake, env={}).sessions == [v]


def test_a_sources_table_in_a_lakehouse_file_is_read(tmp_path):
    """A lakehouse.toml's [sources] table named the replay runs; it was dropped without a word."""
    v = write_jsonl(tmp_path / "v" / "sessions.jsonl", [session("v")])
    r = write_jsonl(tmp_path / "r" / "replay_runs.jsonl", [])
    lake = tmp_path / "lakehouse.toml"
    lake.write_text(f'[validatord]\nsession_log_path = "{v}"\n[sources]\nreplay_runs = "{r}"\n')
    got = resolve(config=lake, env={})
    assert got.sessions == [v] and got.replay_runs == [r]
    # ... through a forensics.toml's lakehouse key too
    (tmp_path / "forensics.toml").write_text('[sources]\nlakehouse = "lakehouse.toml"\n')
    got = resolve(env={}, cwd=tmp_path)
    assert got.sessions == [v] and got.replay_runs == [r]


def test_an_unknown_key_in_a_lakehouse_files_sources_table_is_refused(cli, tmp_path):
    log = write_jsonl(tmp_path / "v" / "sessions.jsonl", _clean())
    lake = tmp_path / "lakehouse.toml"
    lake.write_text(f'[validatord]\nsession_log_path = "{log}"\n[sources]\nreplay_run = "x"\n')
    code, out, err = cli("doctor", "--config", lake)
    assert code == 2 and "replay_run" in out + err
