"""The same named queries on DuckDB and on a local Spark, over the same store (issue 17).

    python bench/spark.py [--sessions 1000000] [--repeat 3] [--master local[2]]

Builds (once) the store of the ~1M-session data set, then, taking turns in one run:
- each query in one warm process: DuckDB (`forensics.connect(store=...)`) and Spark
  (`SparkStore`, its session already up), so the figure is the engines' own work;
- Spark's start: a new local driver, the views installed;
- whole commands, as a user runs them: `forensics run Q --store S` and the same with `--engine spark`.
Prints one JSON object. Needs `pip install '.[spark]'` and Java 17.
"""

from __future__ import annotations

import argparse
import json
import statistics
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
    args = ap.parse_args()

    import forensics
    from forensics.catalog import load_catalog
    from forensics.spark.engine import SparkStore
    from forensics.store.ingest import ingest

    logs = dataset(args.sessions)
    store = DATA / f"spark-store-{args.sessions}"
    if not (store / "manifest.json").exists():
        t0 = time.perf_counter()
        ingest(store, sessions=str(logs / "sessions.jsonl"), replay_runs=str(logs / "replay_runs.jsonl"))
        print(f"ingested in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    out: dict = {"sessions": args.sessions, "master": args.master, "queries": {}}

    t0 = time.perf_counter()
    spark = SparkStore(store, load_catalog([]), master=args.master)
    out["spark_start_s"] = round(time.perf_counter() - t0, 2)
    duck = forensics.connect(store=store)
    for name in QUERIES:
        d_times, s_times = [], []
        for _ in range(args.repeat):  # taking turns
            t = time.perf_counter()
            d = duck.query(name)
            d_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            s = spark.query(name)
            s_times.append(time.perf_counter() - t)
        assert len(d.rows) == len(s.rows), name
        dm, sm = statistics.median(d_times), statistics.median(s_times)
        out["queries"][name] = {
            "duckdb_s": round(dm, 3),
            "spark_s": round(sm, 3),
            "spark_vs_duckdb": round(sm / dm, 1),
            "rows": len(d.rows),
        }
    duck.close()
    spark.close()

    fx = forensics_cmd()
    cmd = {"duckdb": [], "spark": []}
    for _ in range(args.repeat):
        cmd["duckdb"].append(measure(fx + ["run", QUERIES[0], "--store", str(store)])["wall_s"])
        cmd["spark"].append(
            measure(
                fx + ["run", QUERIES[0], "--store", str(store), "--engine", "spark", "--spark-master", args.master]
            )["wall_s"]
        )
    out["command"] = {k: statistics.median(v) for k, v in cmd.items()}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
