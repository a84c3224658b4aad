"""`forensics report` (HTML) over ~1M sessions against one raw DuckDB scan, in one run.

    python bench/report.py [--sessions 1000000] [--repeat 3] [--select-star]

Target: within 2x one raw DuckDB scan of the sessions file: the aggregate bench/scan.py times
(three typed fields). For context it also times that scan followed by one of the replay runs'
ids (a raw scan of each file the report reads), and with --select-star DuckDB reading every
field of the sessions file into a table (1.4 GiB of memory).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import dataset, forensics_cmd, interleaved, paired_ratios, python

# The unit stays the plain scan (first attempt in list order), as in the figures before issue 14.
from scan import RAW_DUCKDB_FIRST_IN_LIST as RAW_DUCKDB

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

# The raw scan, then the replay runs' ids: one raw DuckDB scan of each file the report reads.
RAW_BOTH_FILES = (
    RAW_DUCKDB
    + r"""
print(con.execute('''
    select count(*), count(session_id)
    from read_json(?, format = 'newline_delimited', records = true, columns = {'session_id': 'VARCHAR'})
    ''', [sys.argv[2]]).fetchall())
"""
)

# DuckDB's own reading of the whole sessions file: every field, in the types it infers.
SELECT_STAR = r"""
import duckdb, sys
con = duckdb.connect()
con.execute('create table sessions as select * from read_json_auto(?)', [sys.argv[1]])
print(con.execute('select count(*) from sessions').fetchall())
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--week", default="2026-W45")
    ap.add_argument(
        "--select-star", action="store_true", help="also time DuckDB reading every field of the sessions file"
    )
    args = ap.parse_args()
    data = dataset(args.sessions)
    sessions, replays = str(data / "sessions.jsonl"), str(data / "replay_runs.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.html"
        cmds = {
            "report_html": forensics_cmd()
            + [
                "report",
                "--sessions",
                sessions,
                "--replay-runs",
                replays,
                "--week",
                args.week,
                "--format",
                "html",
                "--out",
                str(out),
            ],
            "raw_duckdb_scan": [python(), "-c", RAW_DUCKDB, sessions],
            "raw_duckdb_scan_of_both_files": [python(), "-c", RAW_BOTH_FILES, sessions, replays],
            "bare_reads_of_both_files": [python(), "-c", BARE_READS, sessions, replays],
        }
        if args.select_star:
            cmds["duckdb_select_star_into_table"] = [python(), "-c", SELECT_STAR, sessions]
        res = interleaved(args.repeat, cmds)
        size = out.stat().st_size
    base = res["raw_duckdb_scan"]["wall_s"]
    print(
        json.dumps(
            {
                "sessions": args.sessions,
                "html_bytes": size,
                "results": res,
                "ratios_vs_one_raw_scan": {k: round(v["wall_s"] / base, 2) for k, v in res.items()},
                "per_round_ratios_vs_one_raw_scan": paired_ratios(res, "raw_duckdb_scan"),
                # The report's time over each other command's, round by round.
                "report_over_each": {k: paired_ratios(res, k)["report_html"] for k in res if k != "report_html"},
                "cpu_ratios_vs_one_raw_scan": {
                    k: round(v["cpu_s"] / res["raw_duckdb_scan"]["cpu_s"], 2) for k, v in res.items()
                },
                # Judged on the median round, so one lucky or unlucky run decides nothing.
                "target_within_2x": paired_ratios(res, "raw_duckdb_scan")["report_html"]["median"] <= 2,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
