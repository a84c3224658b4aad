"""`forensics alarm` over ~1M sessions against one raw DuckDB scan of the same file, in one run.

    python bench/alarm.py [--sessions 1000000] [--repeat 3]

Target: the alarm costs no more than one scan (within 1.25x of raw DuckDB's wall time).
`alarm_last_day` is the cron run: `--since` the last day of the data set (which ends
2026-11-16), one parse that keeps only that day's rows. `alarm_whole_file` has no window: all
1M rows kept, and the data set's 3 planted violations and 2 warnings send it down the path
that also looks up their line numbers (one more read).
"""

from __future__ import annotations

import argparse
import json

from _common import dataset, forensics_cmd, interleaved, paired_ratios, python
from scan import RAW_DUCKDB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sessions = str(dataset(args.sessions) / "sessions.jsonl")
    # Taking turns: a slow spell of the machine falls on every command alike.
    res = interleaved(
        args.repeat,
        {
            "alarm_last_day": forensics_cmd()
            + ["alarm", "--sessions", sessions, "--since", "2026-11-15T00:00:00Z", "--format", "json"],
            "alarm_whole_file": forensics_cmd() + ["alarm", "--sessions", sessions, "--format", "json"],
            "raw_duckdb_scan": [python(), "-c", RAW_DUCKDB, sessions],
        },
    )
    base = res["raw_duckdb_scan"]["wall_s"]
    rounds = paired_ratios(res, "raw_duckdb_scan")
    print(
        json.dumps(
            {
                "sessions": args.sessions,
                "results": res,
                "ratios_vs_one_raw_scan": {k: round(v["wall_s"] / base, 2) for k, v in res.items()},
                "per_round_ratios_vs_one_raw_scan": rounds,
                # The cron run, judged on the median round.
                "target_within_1.25x": rounds["alarm_last_day"]["median"] <= 1.25,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
