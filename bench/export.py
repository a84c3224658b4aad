"""Peak memory of `forensics export` against `forensics sql "select * from sessions" -f jsonl`, on
the generated log (~1M sessions, ~1.4 GB, unless --sessions says otherwise).

    python bench/export.py [--sessions 1000000] [--repeat 1]

The export hands each view to DuckDB's COPY, so no row passes through Python and its peak RSS
should stay flat as the log grows; `sql` fetches every row into Python and renders them all before
printing. `export_jsonl_sessions` writes the same rows as the `sql` command. The commands take
turns, --repeat rounds. Target: every export under 400 MiB at any size. Prints one JSON object with
every figure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from _common import dataset, forensics_cmd, interleaved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    data = dataset(args.sessions)
    sessions, replay = str(data / "sessions.jsonl"), str(data / "replay_runs.jsonl")
    out: dict = {
        "sessions": args.sessions,
        "file_mib": round((data / "sessions.jsonl").stat().st_size / 2**20),
        "replay_file_mib": round((data / "replay_runs.jsonl").stat().st_size / 2**20),
    }
    # Written beside nothing else: a private folder, removed at the end.
    folder = Path(tempfile.mkdtemp(prefix="forensics-bench-export-"))
    try:

        def export(name: str, *extra: str) -> list[str]:
            return forensics_cmd() + ["export", "-s", sessions, "-o", str(folder / name), "--force", *extra]

        cmds = {
            "export_parquet": export("parquet", "-r", replay),
            "export_csv": export("csv", "-r", replay, "-f", "csv"),
            "export_jsonl": export("jsonl", "-r", replay, "-f", "jsonl"),
            "export_jsonl_sessions": export("sessions", "-f", "jsonl", "--view", "sessions"),
            "sql_select_star_jsonl": forensics_cmd() + ["sql", "select * from sessions", "-s", sessions, "-f", "jsonl"],
        }
        res = out["results"] = interleaved(args.repeat, cmds)
        out["written_mib"] = {
            d.name: {p.name: round(p.stat().st_size / 2**20, 1) for p in sorted(d.iterdir())}
            for d in sorted(folder.iterdir())
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    base = res["sql_select_star_jsonl"]["peak_mib"]
    out["peak_vs_sql"] = {k: round(v["peak_mib"] / base, 2) for k, v in res.items()}
    out["targets"] = {
        "exports_under_400_mib": all(v["peak_mib"] < 400 for k, v in res.items() if k.startswith("export"))
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    sys.exit(main())
