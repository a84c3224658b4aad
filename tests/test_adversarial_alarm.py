"""Attacks on the alarm's memory as cron runs it (issue 23): each test is a defect found by one, failing
before its fix. A violation must never be said zero times, nor the same unchanged thing mailed on
every run; every printed command runs as printed; nothing the memory holds is lost or crashes it."""

from __future__ import annotations

import json
import os
import subprocess
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
