"""Append throughput of SessionLogger for ~2 KB rows in one process, against a bare os.write.

    python bench/writer.py [--rows 50000] [--repeat 7]

Each round runs, in turn: the logger (one per daemon, the cheapest pattern), a bare
``os.write`` of the same row pre-encoded on an ``O_APPEND`` descriptor (the floor: no row
building, no encoding, no stat), and, on a fifth of the rows, a logger made per call
(``SessionLogger(path).append(row)``). Prints each one's median rows/s and the per-round ratio
of the logger to the bare write. The target is a median of at least 50,000 rows/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

from forensics import SessionLogger
from forensics.write.loggers import encode_line, session_row

ROW = {
    "session_id": "18abbabdc2306a83-c2306aa9",
    "kind": "fill",
    "model": "qwen3.5:latest",
    "provider": "ollama",
    "prompt": "Produce a fill for site A. " + "context doc-123 " * 100,
    "iterations": 2,
    "max_iterations": 3,
    "final_verdict": "accepted",
    "attempts": [
        {"iteration": 0, "verdict_kind": "validation_failed", "error": "phantom W-12", "span_id": "sp-1"},
        {"iteration": 1, "verdict_kind": "accepted", "span_id": "sp-2"},
    ],
    "artifact": {"fills": [{"candidate_id": "W-1", "shift": 3}]},
    "grounded_in_roster": True,
    "duration_ms": 812,
}


def logger(path: str, rows: int) -> float:
    """One logger for the whole run."""
    log = SessionLogger(path, daemon="bench")
    append = log.append
    t0 = time.perf_counter()
    for _ in range(rows):
        append(ROW)
    elapsed = time.perf_counter() - t0
    log.close()
    assert log.errors == 0 and log.written == rows
    return elapsed


def per_call(path: str, rows: int) -> float:
    """A logger made and dropped for every row, as the README's one-liner does."""
    t0 = time.perf_counter()
    for _ in range(rows):
        SessionLogger(path, daemon="bench").append(ROW)
    return time.perf_counter() - t0


def bare_write(path: str, rows: int) -> float:
    """The floor: the same bytes, encoded once, written with os.write."""
    line = encode_line(session_row(ROW, daemon="bench"))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    write = os.write
    t0 = time.perf_counter()
    for _ in range(rows):
        write(fd, line)
    elapsed = time.perf_counter() - t0
    os.close(fd)
    return elapsed


def run(fn, rows: int) -> float:
    """Rows per second of one pattern writing a fresh file; checks every row is there."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sessions.jsonl")
        elapsed = fn(path, rows)
        with open(path, "rb") as fh:
            lines = sum(1 for _ in fh)
        assert lines == rows, (fn.__name__, lines, rows)
    return rows / elapsed


def main() -> None:
    """Take turns, print the figures as JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=7, help="rounds; medians are printed")
    args = ap.parse_args()
    size = len(encode_line(session_row(ROW, daemon="bench")))
    rates: dict[str, list[float]] = {"logger": [], "bare_write": [], "per_call": []}
    for r in range(args.repeat):
        # Alternate who goes first, so a slow spell of the machine falls on both alike.
        order = ("logger", "bare_write") if r % 2 == 0 else ("bare_write", "logger")
        for name in order:
            rates[name].append(run(globals()[name], args.rows))
        rates["per_call"].append(run(per_call, max(1, args.rows // 5)))
    ratios = sorted(a / b for a, b in zip(rates["logger"], rates["bare_write"]))
    median = statistics.median(rates["logger"])
    print(
        json.dumps(
            {
                "rows": args.rows,
                "row_bytes": size,
                "rounds": args.repeat,
                "logger_rows_per_s": {
                    "median": round(median),
                    "best": round(max(rates["logger"])),
                    "worst": round(min(rates["logger"])),
                },
                "bare_write_rows_per_s": {"median": round(statistics.median(rates["bare_write"]))},
                "per_call_logger_rows_per_s": {"median": round(statistics.median(rates["per_call"]))},
                "logger_over_bare_write": {
                    "median": round(statistics.median(ratios), 3),
                    "range": [round(ratios[0], 3), round(ratios[-1], 3)],
                },
                "mb_per_s_median": round(median * size / 1e6, 1),
                "target_rows_per_s": 50_000,
                "median_meets_target": median >= 50_000,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
