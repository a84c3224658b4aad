"""Shared helpers for the store attacks: logs, ingest, and a store-vs-cold comparison."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import forensics  # noqa: E402
from forensics.ingest import ingest  # noqa: E402
from tests.conftest import replay, session  # noqa: E402

PY = "/work/main/.venv/bin/python"


def rows(n, start=0, day=10, **kw):
    return [session(f"s-{i}", ts=f"2026-11-{day + i % 5:02d}T10:{i % 60:02d}:00Z",
                    grounded=i % 7 != 3, **kw) for i in range(start, start + n)]


def line(r) -> bytes:
    return (json.dumps(r) + "\n").encode()


def write(path, items, raw=b"", mode="wb"):
    with open(path, mode) as fh:
        for r in items:
            fh.write(line(r) if isinstance(r, dict) else r)
        fh.write(raw)
    return path


def append(path, items, raw=b""):
    return write(path, items, raw, mode="ab")


def workdir(name) -> Path:
    d = Path(tempfile.mkdtemp(prefix=f"attack-{name}-"))
    return d


def answers(store):
    out = {}
    for name, q in store.catalog.queries.items():
        if any(p.required for p in q.params.values()):
            continue
        out[name] = sorted(map(repr, store.query(name, {}).rows))
    return out


ROWSQL = "select session_id, source_file, line, timestamp from sessions order by all"
RROWSQL = "select session_id, source_file, line from replay_runs order by all"


def compare(store_dir, sessions, replay_runs=None, *, verbose=True):
    """Store+tail vs cold read: returns list of differences (empty = equal)."""
    diffs = []
    with forensics.connect(store=str(store_dir)) as a, \
            forensics.connect(sessions=[str(p) for p in sessions],
                              replay_runs=[str(p) for p in replay_runs or []] or None) as b:
        b.check()
        ga, gb = answers(a), answers(b)
        for k in gb:
            if ga.get(k) != gb[k]:
                diffs.append(f"query {k}: store {len(ga.get(k) or [])} rows, cold {len(gb[k])} rows, "
                             f"{len(set(ga.get(k) or []) ^ set(gb[k]))} differ")
        for sql in (ROWSQL, RROWSQL):
            ra, rb = a.execute(sql).rows, b.execute(sql).rows
            if ra != rb:
                sa, sb = set(ra), set(rb)
                diffs.append(f"{sql!r}: store {len(ra)} rows, cold {len(rb)} rows; "
                             f"only store: {sorted(sa - sb, key=repr)[:4]}; only cold: {sorted(sb - sa, key=repr)[:4]}")
        ua, ub = a.scan.unreadable_lines, b.scan.unreadable_lines
        if ua != ub:
            diffs.append(f"unreadable_lines: store={ua} cold={ub}")
        bad = lambda s: sorted((f.path, bl[1], bl[2]) for f in s.scan.files for bl in f.bad_lines)
        if bad(a) != bad(b):
            diffs.append(f"unreadable lines at: store={bad(a)} cold={bad(b)}")
        per = lambda s: sorted((f.stream, f.path, f.rows) for f in s.scan.files if f.rows)
        if per(a) != per(b):
            diffs.append(f"rows per file: store={per(a)} cold={per(b)}")
    if verbose:
        print("DIFFERENCES:" if diffs else "store == cold read")
        for d in diffs:
            print("  ", d)
    return diffs


def cli(*args, env=None, cwd=None):
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT)
    e.pop("FORENSICS_STORE", None)
    e.update(env or {})
    p = subprocess.run([PY, "-m", "forensics", *map(str, args)], capture_output=True, text=True, env=e, cwd=cwd)
    return p.returncode, p.stdout, p.stderr
