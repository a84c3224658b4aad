"""The store (issue 15): ingest and the cron path against one raw DuckDB `read_json` scan of the
same log, in one run, taking turns.

    python bench/store.py [--sessions 1000000] [--repeat 3] [--new 1000] [--skip-many] [--copies K]

With --copies K the store holds K copies of the log (K x SESSIONS rows, in K files), to say how
each figure grows with the store's size; the unit stays one raw scan of one copy.

Figures, each as a ratio to the raw scan (`bench/scan.py`'s aggregate) of the SESSIONS file:
- the first ingest of the whole log (target within 1.5x), and the store's size on disk
  against the JSONL's (target under a third);
- after NEW more sessions are appended: `forensics alarm --store` (ingest + evaluate, target
  under 0.15x), a named query on the store (under 0.1x), `forensics report --store` (under 0.3x);
- 1,000 source files, one new row in one of them: the cron alarm on a store (under 0.2x).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
from itertools import islice
from pathlib import Path

from _common import DATA, dataset, forensics_cmd, interleaved, measure, paired_ratios, python
from scan import RAW_DUCKDB


def du(path: Path) -> int:
    """Bytes of the files under a folder."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--new", type=int, default=1000)
    ap.add_argument("--skip-many", action="store_true", help="skip the 1,000-file case")
    ap.add_argument("--copies", type=int, default=1, help="the store holds this many copies of the log")
    args = ap.parse_args()
    source = dataset(args.sessions)
    work = DATA / f"store-{args.sessions}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    logs = work / "logs"
    logs.mkdir()
    # The log minus its last NEW rows: those are appended after the first ingest.
    with open(source / "sessions.jsonl", "rb") as fh:
        lines = fh.readlines()
    head, tail = lines[: -args.new], lines[-args.new :]
    del lines
    (logs / "sessions.jsonl").write_bytes(b"".join(head))
    shutil.copy(source / "replay_runs.jsonl", logs / "replay_runs.jsonl")
    for i in range(1, args.copies):
        shutil.copy(source / "sessions.jsonl", logs / f"sessions-copy{i}.jsonl")
    jsonl = logs / "sessions.jsonl"
    out: dict = {
        "sessions": args.sessions,
        "copies": args.copies,
        "new_sessions": args.new,
        "jsonl_mib": round(jsonl.stat().st_size / 2**20, 1),
        "results": {},
    }
    fx = forensics_cmd()
    raw = [python(), "-c", RAW_DUCKDB, str(jsonl)]

    # First ingest, against the raw scan, taking turns (each round ingests into a new store).
    ingests, raws = [], []
    for i in range(args.repeat):
        store = work / f"store-{i}"
        ingests.append(
            measure(fx + ["ingest", "--store", str(store), "-s", str(logs), "-r", str(logs / "replay_runs.jsonl")])
        )
        raws.append(measure(raw))
    store = work / "store-0"
    for i in range(1, args.repeat):
        shutil.rmtree(work / f"store-{i}")
    ratio = sorted(a["wall_s"] / b["wall_s"] for a, b in zip(ingests, raws))
    out["results"]["first_ingest"] = {
        "runs": [r["wall_s"] for r in ingests],
        "peak_mib": max(r["peak_mib"] for r in ingests),
        "raw_runs": [r["wall_s"] for r in raws],
        "ratio_median": round(ratio[len(ratio) // 2], 2),
    }
    store_bytes = du(store / "sessions") + du(store / "replay_runs")
    out["store_mib"] = round(store_bytes / 2**20, 1)
    out["store_vs_jsonl"] = round(du(store / "sessions") / jsonl.stat().st_size, 3)

    # The cron path: NEW sessions appended, then each command, taking turns with the raw scan.
    # Each alarm round ingests the NEW rows into a fresh copy of the store.
    with open(jsonl, "ab") as fh:
        fh.write(b"".join(tail))
    copies = []
    for i in range(args.repeat):
        c = work / f"cron-{i}"
        shutil.copytree(store, c)
        copies.append(c)
    alarm_runs, raw_runs = [], []
    for c in copies:
        # As cron runs it: the last 15 minutes, plus every row new since the last alarm.
        alarm_runs.append(measure(fx + ["alarm", "--store", str(c), "--since", "15m", "--format", "json"]))
        raw_runs.append(measure(raw))
    r = sorted(a["wall_s"] / b["wall_s"] for a, b in zip(alarm_runs, raw_runs))
    out["results"]["alarm_store_after_new"] = {
        "runs": [x["wall_s"] for x in alarm_runs],
        "exit": [x["exit"] for x in alarm_runs],
        "ratio_median": round(r[len(r) // 2], 3),
    }
    cron = copies[0]
    res = interleaved(
        args.repeat,
        {
            "run_store": fx + ["run", "first_shot_success_rate", "--store", str(cron), "-f", "json"],
            "report_store": fx + ["report", "--store", str(cron), "--week", "2026-W45"],
            "raw_duckdb": raw,
        },
    )
    rounds = paired_ratios(res, "raw_duckdb")
    out["results"].update(res)
    out["per_round_ratios_vs_raw_duckdb"] = rounds

    if not args.skip_many:
        many = work / "many"
        many.mkdir()
        with open(source / "sessions.jsonl", "rb") as fh:
            for i in range(1000):
                (many / f"sessions.jsonl-{2026100100 + i}").write_bytes(b"".join(islice(fh, 20)))
        mstore = work / "many-store"
        measure(fx + ["ingest", "--store", str(mstore), "-s", str(many)])
        with open(many / "sessions.jsonl-2026100100", "ab") as fh:
            fh.write(tail[0])
        measure(fx + ["alarm", "--store", str(mstore), "--since", "15m", "--format", "json"])  # its state
        with open(many / "sessions.jsonl-2026100100", "ab") as fh:
            fh.write(tail[1])
        m = measure(fx + ["alarm", "--store", str(mstore), "--since", "15m", "--format", "json"])
        b = measure(raw)
        out["results"]["many_files_alarm_store"] = {
            "wall_s": m["wall_s"],
            "exit": m["exit"],
            "ratio": round(m["wall_s"] / b["wall_s"], 3),
        }
    out["targets"] = {
        "first_ingest_within_1.5x": out["results"]["first_ingest"]["ratio_median"] <= 1.5,
        "store_under_a_third": out["store_vs_jsonl"] < 1 / 3,
        "alarm_store_under_0.15x": out["results"]["alarm_store_after_new"]["ratio_median"] < 0.15,
        "run_store_under_0.1x": rounds["run_store"]["median"] < 0.1,
        "report_store_under_0.3x": rounds["report_store"]["median"] < 0.3,
    }
    if "many_files_alarm_store" in out["results"]:
        out["targets"]["many_files_alarm_under_0.2x"] = out["results"]["many_files_alarm_store"]["ratio"] < 0.2
    print(json.dumps(out, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
