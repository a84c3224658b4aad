"""The cron alarm's fixed cost (issue 26): `alarm --store --since 15m` with nothing new, against
`python -c "import duckdb"`, on small stores made here (no 1M data set needed), taking turns.

    python bench/cron.py [--sessions 20000,200000] [--repeat 5] [--before DIR]

Each size is a store of that many generated sessions (made once into bench/data/cron-N), given
its first two alarms (the first evaluates every row). Then each round runs, each a fresh
process: the alarm on each store with this checkout's code and, with `--before DIR` (a checkout
of the code to compare with, e.g. `git worktree add /tmp/before main`), the same alarm with
DIR's code; and `python -c "import duckdb"`. Both checkouts run as `python -m forensics` with
PYTHONPATH set to them, their bytecode compiled first (a site without .pyc files compiles every
module on every run). Figures: CPU-seconds (user+sys, every thread) and wall from wait4, the
median of the rounds. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
from pathlib import Path

from _common import DATA, HERE, forensics_cmd, measure, python


def store_of(sessions: int) -> Path:
    """A store of `sessions` generated sessions, its alarm's memory made (once)."""
    from forensics.sample.logs import generate

    folder = DATA / f"cron-{sessions}"
    store = folder / "store"
    if not (store / "alarm-state.json").exists():
        generate(folder / "logs", sessions=sessions, force=True)
        logs = folder / "logs"
        fx = forensics_cmd()
        measure(
            [*fx, "ingest", "--store", str(store), "-s", str(logs / "sessions.jsonl")]
            + ["-r", str(logs / "replay_runs.jsonl")]
        )
        for _ in range(2):  # the first evaluates every row the store holds; the second, as cron
            measure([*fx, "alarm", "--store", str(store), "--since", "15m"])
    return store


def main() -> None:
    """Take turns and print the medians."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", default="20000,200000", help="store sizes, comma-separated")
    ap.add_argument("--repeat", type=int, default=5, help="rounds")
    ap.add_argument("--before", type=Path, help="a checkout of the code to compare with")
    args = ap.parse_args()
    trees = {"after": HERE.parent}
    if args.before:
        trees["before"] = args.before.resolve()
    for tree in trees.values():
        compileall.compile_dir(str(tree / "forensics"), quiet=1)
    stores = {int(n): store_of(int(n)) for n in args.sessions.split(",")}
    cmds = {
        f"{name}_{n}": ["env", f"PYTHONPATH={tree}", python(), "-m", "forensics", "alarm", "--store", str(st)]
        + ["--since", "15m"]
        for n, st in stores.items()
        for name, tree in trees.items()
    }
    cmds["import_duckdb"] = [python(), "-c", "import duckdb"]
    runs: dict[str, list[dict]] = {name: [] for name in cmds}
    for _ in range(args.repeat):
        for name, cmd in cmds.items():
            runs[name].append(measure(cmd))
    out = {}
    for name, rs in runs.items():
        out[name] = {
            "cpu_s": round(statistics.median(r["cpu_s"] for r in rs), 3),
            "wall_s": round(statistics.median(r["wall_s"] for r in rs), 3),
            "cpu_runs": [r["cpu_s"] for r in rs],
            "exit": sorted({r["exit"] for r in rs}),
        }
    unit = out["import_duckdb"]["cpu_s"]
    for name in cmds:
        if name != "import_duckdb":
            out[name]["cpu_over_import_duckdb"] = round(out[name]["cpu_s"] / unit, 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
