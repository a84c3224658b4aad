"""Shared fixtures: small hand-made logs, generated sample logs, and ways to run the CLI."""

from __future__ import annotations

import collections
import functools
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer.main
import typer.testing
from typer.testing import CliRunner

from forensics.cli import app
from forensics.sample.logs import generate

from .spark_servers import SERVERS, server

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
PARITY = SHARED / "fixtures" / "parity"
GOLDEN = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="Rewrite tests/golden/* from the current output instead of comparing.",
    )


@pytest.fixture
def golden(request):
    """Compare text with tests/golden/NAME; --update-golden rewrites the file."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update or not path.exists():
            if not update:
                pytest.fail(f"golden file {path} is missing; run pytest --update-golden")
            path.write_text(text, encoding="utf-8")
            return
        assert text == path.read_text(encoding="utf-8"), f"output differs from {path} (pytest --update-golden)"

    return check


def write_jsonl(path: Path, rows, *, raw_tail: bytes = b"") -> Path:
    """Write dict rows (or raw bytes/str lines) as JSONL, plus optional raw bytes at the end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for r in rows:
            if isinstance(r, bytes):
                fh.write(r if r.endswith(b"\n") else r + b"\n")
            elif isinstance(r, str):
                fh.write(r.encode() + b"\n")
            else:
                fh.write(json.dumps(r, ensure_ascii=False).encode() + b"\n")
        fh.write(raw_tail)
    return path


def session(
    session_id="s-1",
    *,
    model="m-a",
    kind="fill",
    verdict="accepted",
    attempts=None,
    ts="2026-11-10T10:00:00Z",
    grounded=True,
    daemon="validatord",
    duration_ms=100,
    **extra,
):
    """One well-formed session row in one of the three shapes."""
    if attempts is None:
        attempts = {
            "accepted": ["accepted"],
            "max_iter_exhausted": ["validation_failed"] * 3,
            "infra_error": ["infra_error"],
        }[verdict]
    atts = []
    for i, v in enumerate(attempts):
        a = {"iteration": i, "verdict_kind": v}
        if v == "validation_failed":
            a["error"] = f"phantom W-{100 + i}"
        if v == "infra_error":
            a["error"] = "connection refused"
        atts.append(a)
    row = {
        "schema": "session.iterate.v1",
        "timestamp": ts,
        "daemon": daemon,
        "session_id": session_id,
        "kind": kind,
        "model": model,
        "provider": "ollama",
        "prompt": "p",
        "iterations": 0 if verdict == "infra_error" else len(atts),
        "max_iterations": 3,
        "final_verdict": verdict,
        "attempts": atts,
        "duration_ms": duration_ms,
    }
    if verdict == "accepted":
        row["artifact"] = {"fills": [{"candidate_id": "W-1"}]}
        if kind == "fill" and grounded is not None:
            row["grounded_in_roster"] = grounded
    row.update(extra)
    return row


def replay(session_id, hits, *, model="m-a", ts="2026-11-10T11:00:00Z", **extra):
    """One replay row with ``hits`` retrieval hits."""
    row = {
        "schema": "replay.run.v1",
        "timestamp": ts,
        "session_id": session_id,
        "task_id": "t",
        "model": model,
        "provider": "ollama",
        "retrieval": {"query": "q", "k": 8, "hits": [{"doc_id": f"d{i}", "score": 0.5} for i in range(hits)]},
        "output": "{}",
        "latency_ms": 10,
        "tokens_in": 1,
        "tokens_out": 1,
        "status": "ok",
    }
    row.update(extra)
    return row


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """Generated sample logs, shared by the tests that only read them."""
    out = tmp_path_factory.mktemp("sample")
    generate(out, sessions=800, seed=11)
    return out


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    """No test sees the developer's FORENSICS_* variables or ./forensics.toml."""
    for key in (
        "FORENSICS_SESSIONS",
        "FORENSICS_REPLAY_RUNS",
        "FORENSICS_QUERIES",
        "FORENSICS_DEBUG",
        "FORENSICS_STORE",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("COLUMNS", "100")  # terminal tables fit the terminal: one width for every test
    monkeypatch.chdir(tmp_path)


def mostly_slow(values, keep):
    """The values as parameters, all but those in `keep` on the slow line: the default line keeps
    one case of each kind, `.ci/run`'s slow line runs the whole matrix."""
    return [v if v in keep else pytest.param(v, marks=pytest.mark.slow) for v in values]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.default_keeps(N)`: the default line runs a test's first N cases, `.ci/run`'s
    slow line the rest (before `-m` selects: the marks added here are what it reads)."""
    seen: collections.Counter = collections.Counter()
    for item in items:
        keeps = item.get_closest_marker("default_keeps")
        if keeps is None:
            continue
        seen[item.nodeid.split("[", 1)[0]] += 1
        if seen[item.nodeid.split("[", 1)[0]] > keeps.args[0]:
            item.add_marker(pytest.mark.slow)


# Typer's CliRunner rebuilds the click command from the functions' signatures on every invoke,
# which costs more than many of the commands the tests run; the app does not change during a run,
# so it is built once. (typer.testing looks the builder up by this module-level name.)
typer.testing._get_command = functools.cache(typer.main.get_command)


@pytest.fixture
def cli():
    """Run the Typer app in-process; returns (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args, input=None):
        res = runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
        return res.exit_code, res.stdout, res.stderr

    return invoke


def script_path() -> str:
    """The installed console script, next to this Python."""
    found = Path(sys.executable).parent / "forensics"
    return str(found) if found.exists() else shutil.which("forensics")


@pytest.fixture
def run_script():
    """Run the installed `forensics` script in a subprocess."""

    def run(*args, input=None, env=None, cwd=None):
        return subprocess.run(
            [script_path(), *map(str, args)],
            input=input,
            capture_output=True,
            env=env if env is not None else os.environ.copy(),
            cwd=cwd,
            timeout=120,
        )

    return run


# --- live logs for the alarm's tests ----------------------------------------------------------


def _ts(minutes_ago: float = 1) -> str:
    """A timestamp this many minutes ago, as a live daemon writes it."""
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _clean(n: int = 5, *, model: str = "m-a") -> list[dict]:
    """Clean recent rows of one model."""
    return [session(f"ok-{model}-{i}", model=model, ts=_ts(30 - i)) for i in range(n)]


@pytest.fixture
def logs(tmp_path):
    """A live log with clean rows and one ungrounded accepted fill (BAD-1)."""
    return write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean() + [session("BAD-1", grounded=False, ts=_ts(2))])


@pytest.fixture(scope="module", params=SERVERS)
def spark_server(request, tmp_path_factory):
    """Each Spark server in turn (tests/spark_servers.py): Apache Spark's own, then Sail; skipped where absent."""
    with server(request.param, tmp_path_factory.mktemp(f"{request.param}-server")) as started:
        yield started
