"""The ingest's speed work, pinned: kill -9 during a parallel ingest, and the memory cap on a large log.

A killed ingest runs the real command line in its own process, reading a file cut into
pieces written side by side, with one step wrapped so the process sends itself SIGKILL
there; the next ingest must complete the store to what a cold read of the logs answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .conftest import replay, session, write_jsonl
from .killing import killed_command
from .test_ingest import same_as_cold

pytestmark = pytest.mark.slow

# Where the ingest is killed: (the function wrapped, "before" or "after" it runs).
STEPS = {
    "after the sessions' pieces are staged": ("forensics.store.batch:_stage", "after"),
    "after the sessions' files are placed, before the commit": ("forensics.store.batch:_place", "after"),
    "just before the commit": ("forensics.store.ingest:commit", "before"),
}

# A large file, in miniature: cut into pieces read side by side.
_SMALL_PIECES = "import forensics.store.tails as tails; tails.PIECE_BYTES = 4000"


def _logs(tmp_path, *, bad: bool):
    items = [session(f"s-{i}", ts=f"2026-11-{10 + i % 5:02d}T10:{i % 60:02d}:00Z") for i in range(120)]
    if bad:
        items[40:40] = [b"\n", b"{not json\n"]
    log = write_jsonl(tmp_path / "sessions.jsonl", items)
    rlog = write_jsonl(tmp_path / "replay_runs.jsonl", [replay(f"s-{i}", i % 4) for i in range(0, 120, 3)])
    return log, rlog


@pytest.mark.parametrize("bad", [False, True], ids=["clean", "unreadable line"])
@pytest.mark.parametrize("step", list(STEPS))
def test_an_ingest_killed_mid_parallel_write_is_completed_by_the_next(tmp_path, step, bad):
    log, rlog = _logs(tmp_path, bad=bad)
    st = tmp_path / "store"
    args = ["ingest", "--store", str(st), "-s", str(log), "-r", str(rlog), "--format", "json"]
    killed = subprocess.run(
        killed_command(*STEPS[step], args, prelude=_SMALL_PIECES), capture_output=True, text=True, timeout=300
    )
    assert killed.returncode == -9, killed.stderr
    again = subprocess.run(
        [sys.executable, "-m", "forensics", *args], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["rows"] == {"sessions": 120, "replay_runs": 40}
    assert report["unreadable_lines"] == (1 if bad else 0)
    assert same_as_cold(st, [log], [rlog]) == (120, 120)
    assert not list((st / ".tmp").glob("ingest-*"))  # the killed one's pieces and spill are gone


def test_the_memory_cap_holds_on_a_large_log(tmp_path):
    """A few hundred MB of generated logs, ingested in a child: its peak RSS stays under 1 GiB."""
    from forensics.sample.logs import generate

    logs = tmp_path / "logs"
    generate(logs, sessions=200_000, seed=3, weeks=8, context_docs=(80, 150))
    size = sum(p.stat().st_size for p in logs.iterdir())
    assert size > 250 << 20
    proc = subprocess.Popen(
        [sys.executable, "-m", "forensics", "ingest", "--store", str(tmp_path / "store")]
        + ["-s", str(logs / "sessions.jsonl")]
        + ["-r", str(logs / "replay_runs.jsonl")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read().decode()
    assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read().decode()
    assert "200,000 session rows" in out
    assert usage.ru_maxrss * 1024 < 1 << 30, f"peak RSS {usage.ru_maxrss / 1024:.0f} MiB"
