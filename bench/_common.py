"""Shared by the benchmarks: the ~1M-session data set (made once) and a wall/peak-memory probe."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
HERE = Path(__file__).resolve().parent


def dataset(sessions: int = 1_000_000, seed: int = 1, *, derive: bool = False, history: bool = False) -> Path:
    """Generate (once) ~1M sessions of ~1 KB each with the project's own generator.

    Another seed gives other sessions (other trace ids) over the same weeks: four seeds make
    the 4M set of four files of distinct sessions. With ``derive``, seed N > 1 is seed 1's
    files with every session id prefixed `dN-` (distinct sessions, the same times and sizes),
    made in seconds where generating takes most of an hour on two cores. With ``history`` too,
    seed N's days are also moved N-1 spans of 8 weeks back: the same rows a day, more history.
    """
    from forensics.sample.logs import generate

    if derive and seed > 1:
        return _derived(dataset(sessions, 1), seed, SPAN * (seed - 1) if history else None)
    out = DATA / (f"n{sessions}" if seed == 1 else f"n{sessions}-seed{seed}")
    if not (out / "sessions.jsonl").exists():
        print(f"generating {sessions} sessions into {out} (once) ...", file=sys.stderr)
        t0 = time.time()
        generate(out, sessions=sessions, seed=seed, weeks=8, context_docs=(80, 150), force=True)
        print(f"  done in {time.time() - t0:.0f}s", file=sys.stderr)
    return out


SPAN = timedelta(weeks=8)  # what one generated file covers
_STAMP = re.compile(rb'"timestamp":"(\d{4}-\d{2}-\d{2})T')


def _derived(base: Path, seed: int, back: timedelta | None) -> Path:
    """Seed 1's files with each session id prefixed, and each row's date moved ``back``, made once
    (see `dataset`). A whole number of days: the time of day and the offset stay as written."""
    out = base.with_name(f"{base.name}-{'history' if back else 'derived'}{seed}")
    moved: dict[bytes, bytes] = {}

    def move(m: re.Match) -> bytes:
        day = m.group(1)
        if day not in moved:
            try:
                moved[day] = (date.fromisoformat(day.decode()) - back).isoformat().encode()
            except ValueError:  # (a producer's bad date stays as bad)
                moved[day] = day
        return b'"timestamp":"' + moved[day] + b"T"

    if not (out / "sessions.jsonl").exists():
        out.mkdir(parents=True, exist_ok=True)
        for name in ("replay_runs.jsonl", "sessions.jsonl"):  # (sessions last: its presence says done)
            part = out / f".{name}.part"
            with open(base / name, "rb") as src, open(part, "wb") as dst:
                for line in src:
                    line = line.replace(b'"session_id":"', f'"session_id":"d{seed}-'.encode(), 1)
                    dst.write(_STAMP.sub(move, line, count=1) if back else line)
            part.rename(out / name)
    return out


def measure(cmd: list[str], *, stdin=None, shell: bool = False) -> dict:
    """Run a command; return its wall time and peak RSS (of it and the children it waited for)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=stdin, shell=shell)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_mib": round(usage.ru_maxrss / 1024, 1),
        "exit": code,
        "stderr": err.strip()[-300:] if code not in (0, 1) else "",
    }


def python() -> str:
    """The interpreter running the benchmark (the project's venv)."""
    return sys.executable


def forensics_cmd() -> list[str]:
    """The installed console script."""
    script = Path(sys.executable).parent / "forensics"
    return [str(script)] if script.exists() else [shutil.which("forensics") or "forensics"]


def have(module: str) -> bool:
    """Whether a Python module is importable here."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _fastest(runs: list[dict]) -> dict:
    """The fastest run (the one least disturbed by the machine), with every run's wall time
    and the least CPU time of any run."""
    best = dict(min(runs, key=lambda r: r["wall_s"]))
    best["runs"] = [r["wall_s"] for r in runs]
    best["cpu_s"] = min(r["cpu_s"] for r in runs)
    return best


def best_of(n: int, cmd: list[str], **kw) -> dict:
    """Run n times in a row; keep the fastest run."""
    return _fastest([measure(cmd, **kw) for _ in range(n)])


def interleaved(n: int, cmds: dict[str, list[str]]) -> dict[str, dict]:
    """Run the commands in turn, n rounds; keep each one's fastest run and every run's time.

    Taking turns means a slow spell of the machine falls on every command alike, so the
    ratios between them hold better than with one command's runs all in a row.
    """
    runs: dict[str, list[dict]] = {name: [] for name in cmds}
    for _ in range(n):
        for name, cmd in cmds.items():
            runs[name].append(measure(cmd))
    return {name: _fastest(rs) for name, rs in runs.items()}


def paired_ratios(results: dict[str, dict], base: str) -> dict[str, dict]:
    """Each command's time over the base command's, round by round: best, median and worst."""
    out = {}
    for name, res in results.items():
        ratios = sorted(a / b for a, b in zip(res["runs"], results[base]["runs"]))
        out[name] = {
            "best": round(ratios[0], 2),
            "median": round(ratios[len(ratios) // 2], 2),
            "worst": round(ratios[-1], 2),
        }
    return out
