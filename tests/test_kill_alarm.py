"""A kill never loses a notification: kill -9 placed at each step of an alarm run, as cron runs it.

Each case runs the real command line in its own process with one step wrapped so that the process
sends itself SIGKILL there (before or after the step), then runs the alarm again as the next cron
run would. Whatever the step, the new violation is said at least once across the two runs (said
twice is allowed, never zero times), the memory ends up holding it as said (a third run is silent
and firing), and no temporary file is left beside the memory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import _clean, _ts, session, write_jsonl
from .killing import killed_command

pytestmark = pytest.mark.slow

# Where the run is killed: (the function wrapped, "before" or "after" it runs).
STEPS = {
    "after the ingest commits": ("forensics.store.ingest:ingest", "after"),
    "before anything is said": ("forensics.oncall.mail:render_text", "before"),
    "after it is said, before the events log": ("forensics.oncall.memory:Memory.log", "before"),
    "during the events log's append": ("forensics.paths:append_lines", "before"),
    "during the events log's sync": ("os:fsync", "before"),
    "after the events log, before the state is saved": ("forensics.oncall.memory:Memory.save", "before"),
    "during the state's write": ("forensics.oncall.memory:write_atomic", "before"),
    "after the state is saved, before retention is told": ("forensics.store.retention:mark_evaluated", "before"),
    "after retention is told": ("forensics.store.retention:mark_evaluated", "after"),
}


def _alarm(args, *, kill=None, cwd):
    if kill is None:
        cmd = [sys.executable, "-m", "forensics", *map(str, args)]
    else:
        cmd = killed_command(*kill, args)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120, env=os.environ.copy())


@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("mode", ["store", "state"])
def test_a_kill_at_any_step_may_repeat_a_notification_never_lose_one(tmp_path, step, mode):
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [*_clean(), session("BAD-1", grounded=False, ts=_ts(2))])
    memory_dir = tmp_path / "store" if mode == "store" else tmp_path / "memory"
    memory_dir.mkdir()
    args = (
        ["alarm", "--store", memory_dir, "-s", log]
        if mode == "store"
        else ["alarm", "-s", log, "--state", memory_dir / "alarm.json"]
    )
    target, when = STEPS[step]
    if mode == "state" and target.startswith("forensics.store."):
        pytest.skip("no ingest without a store")
    killed = _alarm(args, kill=(target, when), cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stdout, killed.stderr)
    after = _alarm(args, cwd=tmp_path)
    said = [line for line in (killed.stdout + after.stdout).splitlines() if line.startswith("NEW") and "BAD-1" in line]
    assert said, f"killed {step}: the new violation was never said\n{killed.stdout}\n---\n{after.stdout}"
    assert after.returncode == 1
    last = _alarm(args, cwd=tmp_path)
    assert (last.returncode, last.stdout) == (1, ""), last.stdout  # recorded as said, firing
    leftovers = [p.name for p in memory_dir.iterdir() if p.name.startswith(".alarm") and p.name.endswith(".tmp")]
    assert leftovers == []


def test_two_alarms_killed_in_turn_keep_every_acknowledgement(tmp_path):
    """An ack between a run's reconcile and its save would be lost if the run did not hold the lock."""
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [*_clean(), session("BAD-1", grounded=False, ts=_ts(2))])
    state = tmp_path / "alarm.json"
    args = ["alarm", "-s", log, "--state", state]
    assert _alarm(args, cwd=tmp_path).returncode == 1
    acked = _alarm(["ack", "BAD-1", "--state", state], cwd=tmp_path)
    assert acked.returncode == 0, acked.stderr
    killed = _alarm(args, kill=("forensics.oncall.memory:Memory.save", "before"), cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL
    assert _alarm(args, cwd=tmp_path).returncode == 0  # still acknowledged
    assert Path(state).exists()


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_a_kill_while_the_failures_file_is_written_keeps_it_whole_and_the_rows_come(tmp_path, suffix):
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [*_clean(), session("OLD-1", grounded=False, ts=_ts(3))])
    failures = tmp_path / "kept" / f"failures{suffix}"
    args = ["alarm", "-s", log, "--state", tmp_path / "alarm.json", "--store-failures", failures]
    assert _alarm(args, cwd=tmp_path).returncode == 1  # OLD-1 is kept in the file
    with open(log, "a") as fh:
        fh.write(json.dumps(session("BAD-2", grounded=False, ts=_ts(1))) + "\n")
    step = (
        ("forensics.paths:fsync_path", "before") if suffix == ".parquet" else ("forensics.paths:append_lines", "before")
    )
    killed = _alarm(args, kill=step, cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL
    after = _alarm(args, cwd=tmp_path)
    assert after.returncode == 1 and "BAD-2" in killed.stdout + after.stdout
    ids = _kept_ids(failures)
    assert sorted(ids) == ["BAD-2", "OLD-1"], ids  # the old rows kept, the new one written once
    assert [p.name for p in failures.parent.iterdir() if p.name.endswith(".tmp")] == []


def _kept_ids(path: Path) -> list[str]:
    import duckdb

    reader = "read_parquet" if path.suffix == ".parquet" else "read_json_auto"
    return [r[0] for r in duckdb.sql(f"select session_id from {reader}($p)", params={"p": str(path)}).fetchall()]
