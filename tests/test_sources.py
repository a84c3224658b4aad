"""Where the logs are: files, globs, directories; flags beat environment beat config."""

from __future__ import annotations

import gzip

import pytest

from forensics.errors import SourceError
from forensics.read.sources import resolve

from .conftest import session, write_jsonl


def test_file_glob_and_directory(tmp_path):
    a = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [session("a")])
    b = write_jsonl(tmp_path / "logs" / "sessions.jsonl.1", [session("b")])
    gz = tmp_path / "logs" / "sessions.jsonl.2.gz"
    gz.write_bytes(gzip.compress(b'{"session_id":"c"}\n'))
    (tmp_path / "logs" / "notes.txt").write_text("not a log")
    assert resolve(str(a)).sessions == [a]
    assert resolve(str(tmp_path / "logs" / "*.jsonl*")).sessions == [a, b, gz]
    assert resolve(str(tmp_path / "logs")).sessions == [a, b, gz]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("missing.jsonl", "no such file or directory: 'missing.jsonl'"),
        ("nothing-*.jsonl", "the glob 'nothing-*.jsonl' matches no file"),
    ],
)
def test_missing_sources_are_clear_errors(spec, message, tmp_path):
    with pytest.raises(SourceError, match=message.replace("*", r"\*")):
        resolve(spec)


def test_empty_directory_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="holds no"):
        resolve(str(tmp_path / "empty"))


def test_no_source_configured(tmp_path):
    with pytest.raises(SourceError, match="--sessions"):
        resolve(env={}, cwd=tmp_path)


def test_flags_beat_env_beat_config(tmp_path):
    flag = write_jsonl(tmp_path / "flag.jsonl", [session()])
    env = write_jsonl(tmp_path / "env.jsonl", [session()])
    cfg = write_jsonl(tmp_path / "cfg.jsonl", [session()])
    replay = write_jsonl(tmp_path / "r.jsonl", [])
    (tmp_path / "forensics.toml").write_text('[sources]\nsessions = "cfg.jsonl"\nreplay_runs = "r.jsonl"\n')
    e = {"FORENSICS_SESSIONS": str(env)}
    assert resolve(str(flag), env=e, cwd=tmp_path).sessions == [flag]
    got = resolve(env=e, cwd=tmp_path)
    assert got.sessions == [env] and got.origin["sessions"] == "$FORENSICS_SESSIONS"
    got = resolve(env={}, cwd=tmp_path)
    assert got.sessions == [cfg] and got.replay_runs == [replay]


def test_lakehouse_toml(tmp_path):
    v = write_jsonl(tmp_path / "v" / "sessions.jsonl", [session("v")])
    g = write_jsonl(tmp_path / "g" / "sessions.jsonl", [session("g")])
    lake = tmp_path / "lakehouse.toml"
    lake.write_text(f'[validatord]\nsession_log_path = "{v}"\n[gateway]\nsession_log_path = "g/sessions.jsonl"\n')
    assert resolve(config=lake, env={}).sessions == [v, g]
    (tmp_path / "forensics.toml").write_text('lakehouse = "lakehouse.toml"\n')
    assert resolve(env={}, cwd=tmp_path).sessions == [v, g]


def test_bad_config_is_a_clear_error(tmp_path):
    bad = tmp_path / "forensics.toml"
    bad.write_text("sessions = [unclosed\n")
    with pytest.raises(SourceError, match=r"forensics\.toml"):
        resolve(config=bad, env={})


def test_shared_directory_keeps_streams_apart(tmp_path):
    s = write_jsonl(tmp_path / "sessions.jsonl", [session("a")])
    r = write_jsonl(tmp_path / "replay_runs.jsonl", [])
    got = resolve(str(tmp_path), str(tmp_path), env={})
    assert got.sessions == [s] and got.replay_runs == [r]
