"""The store (issues 15 and 26): the first ingest against DuckDB's own conversion of the same
files, and the cron path's cost as the store grows, in one run, each command a fresh process,
taking turns.

    python bench/store.py [--sizes 1,4] [--repeat 3] [--new 1000] [--ingest-repeat N] [--per-file N]

A size of K is K million generated sessions in K files of distinct sessions (seeds 1..K of
the project's generator, each made once into bench/data/; ~1.75 GB a million), with each
file's replay runs (`--per-file` makes smaller files, to try the script). The last file is a copy short of its last NEW lines, appended later.

Figures (wall, CPU-seconds user+sys and peak RSS from wait4 of each command):
- the first ingest against the bare COPY (`preserve_insertion_order=false`, `read_json` of
  each stream's files into one zstd Parquet file, one statement a stream, one process):
  per-round ratios of wall and CPU, median; target within 1.1x, peak at most 1 GiB, and the
  largest size's ingest within 4.4x the 1M one for 4x the data;
- `forensics alarm --store --since 15m` (as cron runs it) with nothing new, against
  `python -c "import duckdb"` (target within 1.3x), and after NEW new rows (each round on a
  fresh copy of the store), the largest size against the smallest (target within 1.1x);
- `forensics report --store --week W`, the largest size against the smallest (within 1.1x).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
from pathlib import Path

from _common import DATA, dataset, forensics_cmd, measure, python

COPY = r"""
import sys, duckdb
con = duckdb.connect()
con.execute("set preserve_insertion_order = false")
out, streams = sys.argv[1], [sys.argv[2].split(","), sys.argv[3].split(",")]
for i, files in enumerate(streams):
    con.execute(
        f"copy (select * from read_json({files!r}, format = 'newline_delimited')) "
        f"to '{out}-{i}.parquet' (format parquet, compression zstd)"
    )
"""


def du(path: Path) -> int:
    """Bytes of the files under a folder."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def median(xs: list[float]) -> float:
    """The median, rounded for printing."""
    return round(statistics.median(xs), 2)


def turns(rounds: int, cmds: dict[str, list[str] | callable]) -> dict[str, list[dict]]:
    """Run the commands in turn, `rounds` times; a callable entry makes its command per round."""
    runs: dict[str, list[dict]] = {name: [] for name in cmds}
    for r in range(rounds):
        for name, cmd in cmds.items():
            runs[name].append(measure(cmd(r) if callable(cmd) else cmd))
    return runs


def summary(runs: list[dict]) -> dict:
    """Each run's wall and CPU, and the peak of any run."""
    return {
        "wall_s": [r["wall_s"] for r in runs],
        "cpu_s": [r["cpu_s"] for r in runs],
        "peak_mib": max(r["peak_mib"] for r in runs),
        "exit": sorted({r["exit"] for r in runs}),
    }


def ratios(a: list[dict], b: list[dict]) -> dict:
    """Round by round, a over b: the median of the wall and of the CPU ratios, and their ranges."""
    wall = [x["wall_s"] / y["wall_s"] for x, y in zip(a, b)]
    cpu = [x["cpu_s"] / y["cpu_s"] for x, y in zip(a, b)]
    return {
        "wall_median": median(wall),
        "wall_range": [round(min(wall), 2), round(max(wall), 2)],
        "cpu_median": median(cpu),
        "cpu_range": [round(min(cpu), 2), round(max(cpu), 2)],
    }


def logs_for(
    size: int, work: Path, new: int, per_file: int, derive: str | None
) -> tuple[list[str], list[str], Path, bytes]:
    """The size's session and replay files; the last sessions file a copy short of its last NEW lines."""
    made = {"derive": derive is not None, "history": derive == "history"}
    sources = [dataset(per_file, seed, **made) for seed in range(1, size + 1)]
    last = work / "sessions-last.jsonl"
    # Streamed, never held whole: a child forked from a large process counts the pages it shared
    # before exec in its peak RSS, so this process stays small while it measures others.
    src = sources[-1] / "sessions.jsonl"
    with open(src, "rb") as fh:
        total = sum(1 for _ in fh)
    with open(src, "rb") as fh, open(last, "wb") as out:
        out.writelines(itertools.islice(fh, total - new))
        tail = fh.read()
    sessions = [str(s / "sessions.jsonl") for s in sources[:-1]] + [str(last)]
    replay = [str(s / "replay_runs.jsonl") for s in sources]
    return sessions, replay, last, tail


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1,4", help="millions of sessions, comma-separated (1,4)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--new", type=int, default=1000)
    ap.add_argument("--week", default="2026-W45")
    ap.add_argument("--ingest-repeat", type=int, help="rounds of ingest/COPY (default --repeat)")
    ap.add_argument("--per-file", type=int, default=1_000_000, help="sessions a file (a size's unit)")
    ap.add_argument(
        "--derive",
        choices=["dense", "history"],
        help="files past the first made from it, not generated: session ids prefixed; "
        "dense: the same days (more rows a day), history: 8 weeks further back each (more days)",
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    fx = forensics_cmd()
    out: dict = {"sizes_millions": sizes, "new_rows": args.new, "load_before": os.getloadavg(), "ingest": {}}
    stores: dict[int, Path] = {}
    appends: dict[int, tuple[Path, bytes]] = {}
    root = DATA / "bench-store"
    shutil.rmtree(root, ignore_errors=True)
    for size in sizes:
        work = root / f"m{size}"
        work.mkdir(parents=True)
        sessions, replay, last, tail = logs_for(size, work, args.new, args.per_file, args.derive)
        appends[size] = (last, tail)
        source_bytes = sum(os.path.getsize(p) for p in sessions + replay)

        def ingest(r: int, work=work, sessions=sessions, replay=replay) -> list[str]:
            shutil.rmtree(work / f"store-{r}", ignore_errors=True)
            cmd = fx + ["ingest", "--store", str(work / f"store-{r}")]
            for s in sessions:
                cmd += ["-s", s]
            for p in replay:
                cmd += ["-r", p]
            return cmd

        def copy(r: int, work=work, sessions=sessions, replay=replay) -> list[str]:
            return [python(), "-c", COPY, str(work / f"copy-{r}"), ",".join(sessions), ",".join(replay)]

        runs = turns(args.ingest_repeat or args.repeat, {"ingest": ingest, "copy": copy})
        store = work / "store-0"
        for r in range(1, args.ingest_repeat or args.repeat):
            shutil.rmtree(work / f"store-{r}", ignore_errors=True)
        for f in work.glob("copy-*.parquet"):
            f.unlink()
        stores[size] = store
        out["ingest"][size] = {
            "source_mib": round(source_bytes / 2**20),
            "store_mib": round(du(store) / 2**20),
            "ingest": summary(runs["ingest"]),
            "copy": summary(runs["copy"]),
            "ingest_over_copy": ratios(runs["ingest"], runs["copy"]),
            "load_after": os.getloadavg(),
        }
        # The alarm's memory: what it has evaluated (cron's first run on a store reads it all).
        measure(fx + ["alarm", "--store", str(store), "--since", "15m", "--format", "json"])

    def alarm(store: Path) -> list[str]:
        return fx + ["alarm", "--store", str(store), "--since", "15m", "--format", "json"]

    lo, hi = min(sizes), max(sizes)
    # Nothing new: no DuckDB should be needed.
    cmds: dict = {f"alarm_{s}M": alarm(stores[s]) for s in sizes}
    cmds["import_duckdb"] = [python(), "-c", "import duckdb"]
    runs = turns(args.repeat, cmds)
    out["alarm_nothing_new"] = {name: summary(rs) for name, rs in runs.items()}
    out["alarm_nothing_new"]["over_import_duckdb"] = {
        f"{s}M": ratios(runs[f"alarm_{s}M"], runs["import_duckdb"]) for s in sizes
    }
    # NEW new rows appended: each round's alarm runs on a fresh copy of the store made before.
    copies = {s: [] for s in sizes}
    for s in sizes:
        for r in range(args.repeat):
            c = stores[s].parent / f"cron-{r}"
            shutil.copytree(stores[s], c)
            copies[s].append(c)
        last, tail = appends[s]
        with open(last, "ab") as fh:
            fh.write(tail)
    runs = turns(args.repeat, {f"alarm_{s}M": (lambda r, s=s: alarm(copies[s][r])) for s in sizes})
    out["alarm_after_new"] = {name: summary(rs) for name, rs in runs.items()}
    if hi != lo:
        out["alarm_after_new"][f"{hi}M_over_{lo}M"] = ratios(runs[f"alarm_{hi}M"], runs[f"alarm_{lo}M"])
    # The week's report, on the stores the new rows went into.
    cmds = {f"report_{s}M": fx + ["report", "--store", str(copies[s][0]), "--week", args.week] for s in sizes}
    runs = turns(args.repeat, cmds)
    out["report_week"] = {name: summary(rs) for name, rs in runs.items()}
    if hi != lo:
        out["report_week"][f"{hi}M_over_{lo}M"] = ratios(runs[f"report_{hi}M"], runs[f"report_{lo}M"])
    out["load_after"] = os.getloadavg()
    ing = out["ingest"]
    out["targets"] = {
        f"ingest_{s}M_within_1.1x_copy_wall_and_cpu": ing[s]["ingest_over_copy"]["wall_median"] <= 1.1
        and ing[s]["ingest_over_copy"]["cpu_median"] <= 1.1
        for s in sizes
    }
    out["targets"]["ingest_peak_at_most_1GiB"] = all(ing[s]["ingest"]["peak_mib"] <= 1024 for s in sizes)
    if hi != lo:
        scale = median(ing[hi]["ingest"]["wall_s"]) / median(ing[lo]["ingest"]["wall_s"])
        out["ingest_scale_wall"] = round(scale, 2)
        out["ingest_scale_cpu"] = round(median(ing[hi]["ingest"]["cpu_s"]) / median(ing[lo]["ingest"]["cpu_s"]), 2)
        out["targets"][f"ingest_{hi}M_within_{1.1 * hi / lo:.1f}x_{lo}M"] = scale <= 1.1 * hi / lo
        out["targets"]["alarm_after_new_within_1.1x"] = (
            out["alarm_after_new"][f"{hi}M_over_{lo}M"]["wall_median"] <= 1.1
        )
        out["targets"]["report_week_within_1.1x"] = out["report_week"][f"{hi}M_over_{lo}M"]["wall_median"] <= 1.1
    out["targets"]["alarm_nothing_new_within_1.3x_import_duckdb"] = all(
        v["wall_median"] <= 1.3 for v in out["alarm_nothing_new"]["over_import_duckdb"].values()
    )
    print(json.dumps(out, indent=2))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
