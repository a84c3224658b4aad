"""Many small files (hourly rotation kept for weeks): forensics against one DuckDB `read_json`
over the same glob, in one run, taking turns.

    python bench/many_files.py [--files 1000] [--rows 200] [--repeat 3]

The files are the first FILES x ROWS sessions of the benchmark data set, split into
`sessions.jsonl-YYYYMMDDHH` files (logrotate's dateext names) in one folder. Target: reading
them costs within 3x of raw DuckDB over the same glob (the median round), for the named
query and for the alarm. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from itertools import islice

from _common import DATA, dataset, forensics_cmd, interleaved, paired_ratios, python
from scan import RAW_DUCKDB  # the same aggregate; DuckDB takes a glob where a file goes


def split(files: int, rows: int):
    """Write (once) FILES files of ROWS sessions each; returns the folder."""
    out = DATA / f"many-{files}x{rows}"
    if (out / "done").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    source = dataset() / "sessions.jsonl"
    hour = datetime(2026, 10, 1)
    with open(source, "rb") as fh:
        for i in range(files):
            name = f"sessions.jsonl-{(hour + timedelta(hours=i)):%Y%m%d%H}"
            (out / name).write_bytes(b"".join(islice(fh, rows)))
    (out / "done").write_text("")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--rows", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    folder = split(args.files, args.rows)
    glob = str(folder / "sessions.jsonl-*")
    res = interleaved(
        args.repeat,
        {
            "forensics_run": forensics_cmd() + ["run", "first_shot_success_rate", "-s", str(folder), "-f", "json"],
            "forensics_alarm": forensics_cmd() + ["alarm", "-s", str(folder), "--format", "json"],
            "raw_duckdb_glob": [python(), "-c", RAW_DUCKDB, glob],
        },
    )
    rounds = paired_ratios(res, "raw_duckdb_glob")
    print(
        json.dumps(
            {
                "files": args.files,
                "rows_per_file": args.rows,
                "results": res,
                "per_round_ratios_vs_raw_duckdb_glob": rounds,
                "targets": {
                    "run_within_3x": rounds["forensics_run"]["median"] <= 3,
                    "alarm_within_3x": rounds["forensics_alarm"]["median"] <= 3,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
