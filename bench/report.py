"""`forensics report` (HTML) over ~1M sessions against one raw DuckDB scan, in one run.

    python bench/report.py [--sessions 1000000] [--repeat 3]

Target: within 2x one raw DuckDB scan of the sessions file.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import dataset, forensics_cmd, interleaved, paired_ratios, python
from scan import RAW_DUCKDB

# The least any report must do, in DuckDB alone: read both files once, only the fields
# the report's figures come from, with the most lenient types, into nothing but a count.
# Its ratio is the floor under the report's.
BARE_READS = r"""
import duckdb, sys
con = duckdb.connect()
print(con.execute('''
    select count(*), max("timestamp"), max(duration_ms), count(grounded_in_roster),
        max(len(session_id) + len(kind) + len(model) + len(final_verdict)),
        sum(len(attempts)), max(attempts[1].error)
    from read_json(?, format = 'newline_delimited', records = true,
        columns = {'timestamp': 'TIMESTAMPTZ', 'session_id': 'VARCHAR', 'kind': 'VARCHAR',
                   'model': 'VARCHAR', 'final_verdict': 'VARCHAR', 'duration_ms': 'BIGINT',
                   'grounded_in_roster': 'BOOLEAN',
                   'attempts': 'STRUCT(iteration BIGINT, verdict_kind VARCHAR, error VARCHAR)[]'})
    ''', [sys.argv[1]]).fetchall())
print(con.execute('''
    select count(*), max(len(session_id)), sum(len(retrieval.hits))
    from read_json(?, format = 'newline_delimited', records = true,
        columns = {'session_id': 'VARCHAR', 'retrieval': 'STRUCT(hits JSON[])'})
    ''', [sys.argv[2]]).fetchall())
"""


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
        res = interleaved(args.repeat, {
            "report_html": forensics_cmd() + [
                "report", "--sessions", sessions, "--replay-runs", replays, "--week", args.week,
                "--format", "html", "--out", str(out)],
            "raw_duckdb_scan": [python(), "-c", RAW_DUCKDB, sessions],
            "bare_reads_of_both_files": [python(), "-c", BARE_READS, sessions, replays],
        })
        size = out.stat().st_size
    base = res["raw_duckdb_scan"]["wall_s"]
    print(json.dumps({
        "sessions": args.sessions, "html_bytes": size, "results": res,
        "ratios_vs_one_raw_scan": {k: round(v["wall_s"] / base, 2) for k, v in res.items()},
        "per_round_ratios_vs_one_raw_scan": paired_ratios(res, "raw_duckdb_scan"),
        "cpu_ratios_vs_one_raw_scan": {k: round(v["cpu_s"] / res["raw_duckdb_scan"]["cpu_s"], 2)
                                       for k, v in res.items()},
        # Judged on the median round, so one lucky or unlucky run decides nothing.
        "target_within_2x": paired_ratios(res, "raw_duckdb_scan")["report_html"]["median"] <= 2,
    }, indent=2))


if __name__ == "__main__":
    main()
