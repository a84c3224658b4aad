"""The same named queries on DuckDB, on a local Apache Spark and on Sail, over the same store (issues 17, 26).

    python bench/spark.py [--sessions 1000000] [--repeat 3] [--master local[2]] [--engines duckdb,spark,sail]

Builds (once) the store of the ~1M-session data set, then, taking turns in one run:
- each query in a warm process: DuckDB (`forensics.connect(store=...)`), Spark (`SparkStore`, its
  local session already up) and Sail (`SparkStore` through Spark Connect to a `sail spark server`
  started here on loopback, from a worker process of its own: one process holds one kind of
  Spark session), so each figure is the engine's own work;
- each engine's start: a new local Spark driver with the views installed; Sail's server until it
  listens, then a session with the views installed;
- whole commands, as a user runs them: `forensics run Q --store S`, with `--engine spark`, and with
  `--engine spark --spark-remote` to the running Sail server.
Prints one JSON object. Spark needs `pip install '.[spark]'` and Java 17; Sail needs a `sail` command
(the `[sail]` extra, here or on PATH: its server reads the pyspark beside it, so it may live in a
venv of its own). `--engines` defaults to every one installed; `--sessions 2000 --repeat 1` is a
quick smoke run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, dataset, forensics_cmd, measure

QUERIES = ["first_shot_success_rate", "model_weekly_summary", "top_rejection_errors", "three_consecutive_rejections"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--engines", default=None, help="comma-separated: duckdb,spark,sail (default: every one installed)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # sc:// URL: serve Sail's column from this process
    ap.add_argument("--store", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.store)
        return
    engines = args.engines.split(",") if args.engines else ["duckdb", *installed()]

    import forensics
    from forensics.catalog import load_catalog
    from forensics.store.ingest import ingest

    logs = dataset(args.sessions)
    store = DATA / f"spark-store-{args.sessions}"
    if not (store / "manifest.json").exists():
        t0 = time.perf_counter()
        ingest(store, sessions=str(logs / "sessions.jsonl"), replay_runs=str(logs / "replay_runs.jsonl"))
        print(f"ingested in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    out: dict = {"sessions": args.sessions, "master": args.master, "engines": engines, "queries": {}}

    duck = forensics.connect(store=store)
    runners = {"duckdb": lambda name: _timed(lambda: len(duck.query(name).rows))}
    spark = sail = None
    if "spark" in engines:
        from forensics.spark.engine import SparkStore

        t0 = time.perf_counter()
        spark = SparkStore(store, load_catalog([]), master=args.master)
        out["spark_start_s"] = round(time.perf_counter() - t0, 2)
        runners["spark"] = lambda name: _timed(lambda: len(spark.query(name).rows))
    if "sail" in engines:
        sail = Sail(store)
        out["sail_server_start_s"], out["sail_session_start_s"] = sail.start_s, sail.session_s
        runners["sail"] = sail.query
    for name in QUERIES:
        times = {e: [] for e in runners}
        rows = {}
        for _ in range(args.repeat):  # taking turns
            for engine, run in runners.items():
                seconds, rows[engine] = run(name)
                times[engine].append(seconds)
        assert len(set(rows.values())) == 1, (name, rows)
        medians = {e: statistics.median(t) for e, t in times.items()}
        entry = {f"{e}_s": round(m, 3) for e, m in medians.items()}
        entry.update({f"{e}_vs_duckdb": round(m / medians["duckdb"], 1) for e, m in medians.items() if e != "duckdb"})
        out["queries"][name] = {**entry, "rows": rows["duckdb"]}
    duck.close()
    if spark is not None:
        spark.close()

    fx = forensics_cmd() + ["run", QUERIES[0], "--store", str(store)]
    commands = {"duckdb": fx}
    if spark is not None:
        commands["spark"] = fx + ["--engine", "spark", "--spark-master", args.master]
    if sail is not None:
        commands["sail"] = fx + ["--engine", "spark", "--spark-remote", sail.url]
    walls = {k: [] for k in commands}
    for _ in range(args.repeat):
        for k, cmd in commands.items():
            result = measure(cmd)
            assert result["exit"] == 0, (k, result["stderr"])
            walls[k].append(result["wall_s"])
    out["command"] = {k: statistics.median(v) for k, v in walls.items()}
    if sail is not None:
        sail.stop()
    print(json.dumps(out, indent=2))


def installed() -> list[str]:
    """The Spark engines this machine can run: a local Spark (the full pyspark), Sail (a `sail` command)."""
    found = []
    try:
        import pyspark

        if (Path(pyspark.__file__).parent / "jars").is_dir():
            found.append("spark")
    except ImportError:
        pass
    if sail_command():
        found.append("sail")
    return found


def sail_command() -> str | None:
    """The `sail` command beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "sail"
    return str(beside) if beside.exists() else shutil.which("sail")


class Sail:
    """A Sail server on a free loopback port, and a worker process holding a Spark Connect session to it."""

    def __init__(self, store: Path, deadline_s: float = 180):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"sc://127.0.0.1:{port}"
        self.log = open(DATA / "sail-server.log", "wb")  # noqa: SIM115 (closed in stop)
        t0 = time.perf_counter()
        self.server = subprocess.Popen(
            [sail_command(), "spark", "server", "--ip", "127.0.0.1", "--port", str(port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=DATA,
        )
        deadline = t0 + deadline_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if self.server.poll() is not None or time.perf_counter() > deadline:
                    raise SystemExit(f"Sail did not listen on {port}: see {DATA / 'sail-server.log'}") from None
                time.sleep(0.1)  # polling the port until the deadline above
        self.start_s = round(time.perf_counter() - t0, 2)
        self.worker = subprocess.Popen(
            [sys.executable, __file__, "--worker", self.url, "--store", str(store)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.session_s = json.loads(self.worker.stdout.readline())["start_s"]

    def query(self, name: str) -> tuple[float, int]:
        """(seconds, rows) of one named query, timed in the worker."""
        self.worker.stdin.write(name + "\n")
        self.worker.stdin.flush()
        answer = json.loads(self.worker.stdout.readline())
        return answer["s"], answer["rows"]

    def stop(self) -> None:
        """End the worker and the server."""
        self.worker.stdin.close()
        self.worker.wait(timeout=60)
        self.server.terminate()
        self.server.wait(timeout=60)
        self.log.close()


def worker(url: str, store: str) -> None:
    """Sail's column: a Spark Connect session to ``url`` answering each query name read from stdin."""
    from forensics.catalog import load_catalog
    from forensics.spark.engine import SparkStore

    t0 = time.perf_counter()
    spark = SparkStore(store, load_catalog([]), remote=url)
    print(json.dumps({"start_s": round(time.perf_counter() - t0, 2)}), flush=True)
    for line in sys.stdin:
        name = line.strip()
        seconds, rows = _timed(lambda: len(spark.query(name).rows))  # noqa: B023 (called at once)
        print(json.dumps({"s": seconds, "rows": rows}), flush=True)
    spark.close()


def _timed(run) -> tuple[float, int]:
    """(seconds, what ``run`` returned)."""
    t = time.perf_counter()
    value = run()
    return time.perf_counter() - t, value


if __name__ == "__main__":
    main()
