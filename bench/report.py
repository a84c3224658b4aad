"""`forensics report` (HTML) over ~1M sessions against one raw DuckDB scan, in one run.

    python bench/report.py [--sessions 1000000] [--repeat 3]

Target: within 2x one raw DuckDB scan of the sessions file.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import best_of, dataset, forensics_cmd, python
from scan import RAW_DUCKDB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--week", default="2026-W45")
    args = ap.parse_args()
    data = dataset(args.sessions)
    sessions, replays = str(data / "sessions.jsonl"), str(data / "replay_runs.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.html"
        res = {
            "report_html": best_of(args.repeat, forensics_cmd() + [
                "report", "--sessions", sessions, "--replay-runs", replays, "--week", args.week,
                "--format", "html", "--out", str(out)]),
            "raw_duckdb_scan": best_of(args.repeat, [python(), "-c", RAW_DUCKDB, sessions]),
        }
        size = out.stat().st_size
    base = res["raw_duckdb_scan"]["wall_s"]
    print(json.dumps({
        "sessions": args.sessions, "html_bytes": size, "results": res,
        "ratios_vs_one_raw_scan": {k: round(v["wall_s"] / base, 2) for k, v in res.items()},
        "target_within_2x": res["report_html"]["wall_s"] / base <= 2,
    }, indent=2))


if __name__ == "__main__":
    main()
