"""`forensics alarm` over ~1M sessions against one raw DuckDB scan of the same file, in one run.

    python bench/alarm.py [--sessions 1000000] [--repeat 3]

Target: the alarm costs no more than one scan (within 1.25x of raw DuckDB's wall time).
The sample data holds 3 planted violations, so `alarm` takes the path that also finds their
line numbers (one more read); `--since 24h` matches no row of the data set and measures the
path that finds nothing (same parse, exit 3 for an empty window).
"""

from __future__ import annotations

import argparse
import json

from _common import best_of, dataset, forensics_cmd, python
from scan import RAW_DUCKDB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sessions = str(dataset(args.sessions) / "sessions.jsonl")
    res = {
        "alarm": best_of(args.repeat, forensics_cmd() + ["alarm", "--sessions", sessions, "--format", "json"]),
        "alarm_nothing_found_since_24h": best_of(args.repeat, forensics_cmd() + [
            "alarm", "--sessions", sessions, "--since", "24h", "--format", "json"]),
        "raw_duckdb_scan": best_of(args.repeat, [python(), "-c", RAW_DUCKDB, sessions]),
    }
    base = res["raw_duckdb_scan"]["wall_s"]
    print(json.dumps({
        "sessions": args.sessions, "results": res,
        "ratios_vs_one_raw_scan": {k: round(v["wall_s"] / base, 2) for k, v in res.items()},
        "target_within_1.25x": res["alarm"]["wall_s"] / base <= 1.25,
    }, indent=2))


if __name__ == "__main__":
    main()
