"""Append throughput of SessionLogger for ~2 KB rows in one process.

    python bench/writer.py [--rows 100000]

Prints rows/s and MB/s; the target is at least 50,000 rows/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

from forensics import SessionLogger
from forensics.writer import encode_line, session_row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs; the median and best are printed")
    args = ap.parse_args()
    row = {
        "session_id": "18abbabdc2306a83-c2306aa9", "kind": "fill", "model": "qwen3.5:latest",
        "provider": "ollama", "prompt": "Produce a fill for site A. " + "context doc-123 " * 100,
        "iterations": 2, "max_iterations": 3, "final_verdict": "accepted",
        "attempts": [{"iteration": 0, "verdict_kind": "validation_failed", "error": "phantom W-12",
                      "span_id": "sp-1"}, {"iteration": 1, "verdict_kind": "accepted", "span_id": "sp-2"}],
        "artifact": {"fills": [{"candidate_id": "W-1", "shift": 3}]}, "grounded_in_roster": True,
        "duration_ms": 812,
    }
    size = len(encode_line(session_row(row)))
    rates = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "sessions.jsonl")
            log = SessionLogger(path, daemon="bench")
            t0 = time.perf_counter()
            for _ in range(args.rows):
                log.append(row)
            elapsed = time.perf_counter() - t0
            log.close()
            lines = sum(1 for _ in open(path, "rb"))
            assert lines == args.rows and log.errors == 0
            rates.append(args.rows / elapsed)
    median = statistics.median(rates)
    print(json.dumps({
        "rows": args.rows, "row_bytes": size, "runs": len(rates),
        "rows_per_s_median": round(median), "rows_per_s_best": round(max(rates)),
        "mb_per_s_median": round(median * size / 1e6, 1),
        "target_rows_per_s": 50_000, "median_meets_target": median >= 50_000,
    }, indent=2))


if __name__ == "__main__":
    main()
