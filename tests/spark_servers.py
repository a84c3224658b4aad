"""The Spark servers the Spark tests run every query through: Apache Spark's own (a local driver, from the
full pyspark) and Sail (`sail spark server`, from the `[sail]` extra), each skipped where it is not
installed; FORENSICS_REQUIRE_SAIL=1 (set by .ci/run after installing the extra) makes Sail's absence
a failure instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVERS = ("spark", "sail")
# Generous: a JVM or a Rust server starting on a machine whose cores are all busy.
START_DEADLINE_S = 180


@dataclass
class Server:
    """One server: its name, the CLI's flags that reach it, and how a `SparkStore` is opened on it."""

    name: str
    flags: list[str]
    remote: str | None = None
    master: str | None = None

    def open(self, store, catalog=None, **kwargs):
        """A SparkStore over ``store`` on this server."""
        from forensics.catalog import load_catalog
        from forensics.spark.engine import SparkStore

        return SparkStore(store, catalog or load_catalog([]), master=self.master, remote=self.remote, **kwargs)


def local_spark_or_skip() -> Path:
    """pyspark's home when it can start a local Spark (the full pyspark, not the thin client), else skip."""
    pyspark = pytest.importorskip("pyspark")
    home = Path(pyspark.__file__).resolve().parent
    if not (home / "jars").is_dir():
        pytest.skip("this pyspark is the thin client (pyspark-client, the [sail] extra): no local Spark")
    return home


def sail_or_skip() -> str:
    """The `sail` command beside this Python or on PATH; skipped when absent unless FORENSICS_REQUIRE_SAIL=1."""
    beside = Path(sys.executable).parent / "sail"
    found = str(beside) if beside.exists() else shutil.which("sail")
    if found is None:
        if os.environ.get("FORENSICS_REQUIRE_SAIL") == "1":
            pytest.fail("FORENSICS_REQUIRE_SAIL=1 but no `sail` command: pip install '.[sail]'")
        pytest.skip("Sail is not installed: pip install '.[sail]'")
    return found


@contextmanager
def server(name: str, work: Path):
    """The named server, started for the duration (Sail on a free loopback port); yields a `Server`."""
    if name == "spark":
        local_spark_or_skip()
        try:
            yield Server("spark", ["--spark-master", "local[2]"], master="local[2]")
        finally:
            _stop_session()
        return
    exe = sail_or_skip()
    port = free_port()
    log_path = work / "sail.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [exe, "spark", "server", "--ip", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=work,
        )
        try:
            wait_listening(port, proc, log_path)
            url = f"sc://127.0.0.1:{port}"
            yield Server("sail", ["--spark-remote", url], remote=url)
        finally:
            _stop_session()
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _stop_session() -> None:
    """Stop this process's Spark session: one process holds one kind (local or Connect) at a time."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen | None, log: Path, deadline_s: float = START_DEADLINE_S) -> None:
    """Return once ``port`` accepts a connection; fail with the server's log (a file, or a folder of
    *.out files) if the server exits or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the server exited ({proc.returncode}) before listening on {port}: {_tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"the server did not listen on {port} within {deadline_s} s: {_tail(log)}")
        time.sleep(0.2)  # a poll's interval, not a wait for an amount of time: the deadline is above


def _tail(path: Path) -> str:
    """The end of the server's log (or of each *.out in a folder of logs)."""
    files = sorted(path.glob("*.out")) if path.is_dir() else [path]
    try:
        return "".join(f.read_text(errors="replace")[-2000:] for f in files) or "(no log)"
    except OSError:
        return "(no log)"
