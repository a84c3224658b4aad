"""The store's checkpoint rules under real rotations (issue 15, "What must show").

Each scenario is what logrotate or a daemon really produces: the rotations are done by Debian's
logrotate with a config per mode and a state file of its own, while the project's writer
appends from other processes (tests/rotation.py). After each, every named query on the store
(`forensics.connect(store=...)`: the store plus each source's live tail) equals the same query
on a cold read of the surviving files (plus, where a scenario deletes or overwrites a file, a
copy of what was rotated away), rows compared as sorted lists; and no session id appears twice
unless the logs hold it twice.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import forensics
from forensics.store.ingest import ingest

from .conftest import mostly_slow
from .rotation import (
    SKIPPED_QUERIES,
    Logrotate,
    Writers,
    child_env,
    diff_summary,
    ids_on_disk,
    keep_before_rotation,
    log_files,
    make_templates,
    named_results,
    needs_logrotate,
    pick_session_id,
    rotated_away,
    view_rows,
)

SESSIONS, REPLAYS = "sessions.jsonl", "replay_runs.jsonl"
# Where the provenance of a row cannot be the same on both sides (its file is gone, or was
# overwritten: the cold read reads a copy under another name), these are blanked on both.
PROVENANCE = ("source_file", "line")


@pytest.fixture(autouse=True)
def _no_store_env(monkeypatch):
    monkeypatch.delenv("FORENSICS_STORE", raising=False)


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    """Realistic rows for the writers (forensics.sample's)."""
    return make_templates(tmp_path_factory.mktemp("templates"), sessions=300, seed=5)


@pytest.fixture(scope="module")
def template_lines(templates):
    """The template rows as JSON objects, for scenarios that write bytes themselves."""
    with open(templates[0], encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def lines_for(template_lines, tag: str, n: int, start: int = 0) -> list[bytes]:
    """n encoded session rows with ids tag-000000..., each ending in a newline."""
    out = []
    for i in range(start, start + n):
        row = dict(template_lines[i % len(template_lines)])
        row["session_id"] = f"{tag}-{i:06d}"
        out.append(json.dumps(row, ensure_ascii=False).encode() + b"\n")
    return out


# --- the comparison --------------------------------------------------------------------------


def compare(store_dir, sessions, replay_runs=(), *, gone_sessions=(), gone_replays=(), full=True, extra_params=None):
    """Assert: the store (plus live tails) answers every named query as a cold read of these files.

    ``gone_*``: copies of what was rotated away or overwritten; their rows are in the store under
    a name the copies do not have, so file and line are blanked on both sides then (and the
    provenance of the surviving files' rows is checked by session id instead).
    """
    s_files = [str(p) for p in [*sessions, *gone_sessions]]
    r_files = [str(p) for p in [*replay_runs, *gone_replays]]
    mask = PROVENANCE if (gone_sessions or gone_replays) else ()
    with forensics.connect(sessions=s_files, replay_runs=r_files or None) as cold:
        sid = pick_session_id(cold) if r_files else cold.execute("select min(session_id) from sessions").rows[0][0]
        cold_rows = view_rows(cold, full=full, mask=mask)
        cold_q = named_results(cold, session_id=sid, mask=mask)
        if extra_params:
            cold_q.update(
                {
                    f"{k} {extra_params}": v
                    for k, v in named_results(cold, session_id=sid, mask=mask, extra=extra_params).items()
                }
            )
        cold_ids = view_rows(cold, full=False)
    with forensics.connect(store=str(store_dir)) as st:
        store_rows = view_rows(st, full=full, mask=mask)
        store_q = named_results(st, session_id=sid, mask=mask)
        if extra_params:
            store_q.update(
                {
                    f"{k} {extra_params}": v
                    for k, v in named_results(st, session_id=sid, mask=mask, extra=extra_params).items()
                }
            )
        store_ids = view_rows(st, full=False)
    failed = {k: v for k, v in cold_q.items() if isinstance(v, tuple)}
    assert not failed, f"the cold read could not answer these queries: {failed}"
    if not r_files:  # no replay log: the store has no replay rows either
        cold_rows.pop("replay_runs", None), store_rows.pop("replay_runs", None)
        cold_ids.pop("replay_runs", None), store_ids.pop("replay_runs", None)
    # No session id twice unless the logs have it twice.
    for view in cold_ids:
        if isinstance(cold_ids[view], list) and isinstance(store_ids[view], list):
            c = Counter(r[2] for r in cold_ids[view])
            s = Counter(r[2] for r in store_ids[view])
            twice = {k: (s[k], c[k]) for k in s if s[k] > c[k]}
            missing = {k: (s[k], c[k]) for k in c if s[k] < c[k]}
            assert not twice and not missing, (
                f"{view}: {len(twice)} ids more often in the store than in the logs "
                f"(e.g. {list(twice.items())[:3]}), {len(missing)} fewer (e.g. {list(missing.items())[:3]}); "
                f"store {sum(s.values())} rows, logs {sum(c.values())}"
            )
    if mask:
        # The surviving files' rows keep their provenance: same file and line as a cold read.
        cold_here = _provenance(sessions, replay_runs)
        for view, cold_ids_here in cold_here.items():
            if not isinstance(store_ids.get(view), list):
                continue
            where = {}
            for f, line, sid_ in store_ids[view]:
                if sid_ in cold_ids_here:
                    where.setdefault(sid_, set()).add((f, line))
            wrong = {k: (where.get(k), v) for k, v in cold_ids_here.items() if where.get(k) != v}
            assert not wrong, (
                f"{view}: {len(wrong)} rows of the surviving files named otherwise "
                f"than a cold read names them, e.g. {list(wrong.items())[:3]}"
            )
    assert store_rows == cold_rows, "the views differ:\n" + diff_summary(store_rows, cold_rows)
    assert store_q == cold_q, "named queries differ:\n" + diff_summary(store_q, cold_q)
    return store_ids


def _provenance(sessions, replay_runs) -> dict:
    """session id -> {(file, line)} of every row of the surviving files, as a cold read names them."""
    out = {}
    with forensics.connect(
        sessions=[str(p) for p in sessions], replay_runs=[str(p) for p in replay_runs] or None
    ) as cold:
        for view in ("sessions", "replay_runs") if replay_runs else ("sessions",):
            where: dict = {}
            for sid, f, line in cold.execute(f"select session_id, source_file, line from {view}").rows:
                where.setdefault(sid, set()).add((f, line))
            out[view] = where
    return out


def rows_on_disk(files) -> int:
    return sum(n for k, n in ids_on_disk(files).items() if k != ("unreadable",))


def assert_nothing_new(store_dir):
    rep = ingest(store_dir)
    assert rep.rows == {"sessions": 0, "replay_runs": 0} and rep.unreadable == 0, (
        f"a second ingest of unchanged files read again: {rep.as_dict()}"
    )


# --- logrotate's modes, with writers appending -------------------------------------------------


# Two writer processes, about a hundred rows a second each, bounded so a slow ingest cannot
# make the data (and the test) grow without end.
def _writers(templates, tmp_path):
    return dict(templates=templates, workdir=tmp_path / "w", n=2, pause=0.01, max_rows=600)


ROTATING_MODES = ["create", "copytruncate", "delaycompress", "compress-dateext", "compress-dateext-hms"]

# Between ingests: one rotation, then two in a row (a file moves twice, or is compressed, before
# the store sees it again), then one more just before the final ingest.
STEPS = ["ingest", "rotate", "ingest", "rotate", "rotate", "ingest", "rotate"]


@needs_logrotate
# The quick run keeps `create` and `compress-dateext-hms` (rename, compression and dateext);
# the other modes, with writers at full speed, run on the slow line of .ci/run.
@pytest.mark.slow
@pytest.mark.parametrize("mode", ROTATING_MODES)
def test_logrotate_mode_while_writers_append(tmp_path, templates, mode):
    logs = tmp_path / "logs"
    logs.mkdir()
    s, r = logs / SESSIONS, logs / REPLAYS
    store = tmp_path / "store"
    rot = Logrotate([s, r], mode, tmp_path / "lr")
    reports = []
    with Writers(s, r, **_writers(templates, tmp_path)) as writers:
        for k, step in enumerate(STEPS):
            # Rows from every writer since the step before (the first ingest needs the files
            # their first rows create), whatever the machine's load.
            writers.appended(s, r, rows=10)
            if step == "rotate":
                rot.rotate()
            elif k == 0:
                reports.append(ingest(store, sessions=str(s), replay_runs=str(r)))
            else:
                reports.append(ingest(store))
        writers.appended(s, r, rows=10)
        ledger = writers.stop()
    reports.append(ingest(store))
    s_files, r_files = log_files(logs, SESSIONS), log_files(logs, REPLAYS)
    assert len(s_files) == 1 + STEPS.count("rotate")
    store_ids = compare(store, s_files, r_files)
    # Every row ingested once: the reports add up to the rows in the files (copytruncate may
    # leave a half-copied last line in name.1: never completed, so never consumed).
    assert sum(rep.rows["sessions"] for rep in reports) == rows_on_disk(s_files)
    assert sum(rep.rows["replay_runs"] for rep in reports) == rows_on_disk(r_files)
    if mode in ("create", "delaycompress") and not rot.backups:
        # logrotate lost nothing in these modes: neither did the store.
        assert Counter(x[2] for x in store_ids["sessions"]) == ledger.session_ids
        assert Counter(x[2] for x in store_ids["replay_runs"]) == ledger.replay_ids


@needs_logrotate
@pytest.mark.parametrize("mode", mostly_slow(ROTATING_MODES, keep={"create", "copytruncate"}))
def test_logrotate_mode_step_by_step(tmp_path, template_lines, mode):
    """The same rules with no writer racing: one rotation between ingests, then two.

    Rows written after an ingest and before a rotation are finished from the rotated file; a
    generation that lived only between two ingests (created by one rotation, rotated away by
    the next) is read whole.
    """
    logs = tmp_path / "logs"
    logs.mkdir()
    s = logs / SESSIONS
    store = tmp_path / "store"
    rot = Logrotate([s], mode, tmp_path / "lr")
    rows = iter(lines_for(template_lines, "step", 200))
    written = 0

    def write(k):
        nonlocal written
        with open(s, "ab") as fh:
            fh.write(b"".join(next(rows) for _ in range(k)))
        written += k

    write(10)
    got = [ingest(store, sessions=str(s)).rows["sessions"]]
    write(5)
    rot.rotate()
    write(4)
    got.append(ingest(store).rows["sessions"])  # 5 from the rotated file, 4 from the new one
    write(6)
    rot.rotate()
    write(7)  # a generation the store never sees live
    rot.rotate()
    write(3)
    got.append(ingest(store).rows["sessions"])
    names = [p.name for p in log_files(logs, SESSIONS)]
    assert len(names) == 4, names
    assert got == [10, 9, 16], f"rows per ingest {got}, files {names}"
    ids = compare(store, log_files(logs, SESSIONS))
    assert Counter(x[2] for x in ids["sessions"]) == Counter(f"step-{i:06d}" for i in range(written))
    assert_nothing_new(store)


@pytest.mark.slow
@needs_logrotate
def test_rows_of_a_file_logrotate_deleted_stay_in_the_store(tmp_path, templates):
    """rotate 1: each rotation deletes the generation before, after the store finished it."""
    logs = tmp_path / "logs"
    logs.mkdir()
    s, r = logs / SESSIONS, logs / REPLAYS
    store = tmp_path / "store"
    rot = Logrotate([s, r], "create", tmp_path / "lr", rotate=1)
    gone: list[Path] = []
    with Writers(s, r, **_writers(templates, tmp_path)) as writers:
        for k in range(3):
            writers.appended(s, r, rows=10)  # the first ingest needs the files their first rows create
            ingest(store, sessions=str(s), replay_runs=str(r)) if k == 0 else ingest(store)
            # rows after the ingest, in every generation: rotated_away knows a deleted file by its head
            writers.appended(s, r, rows=10)
            kept = keep_before_rotation(logs, tmp_path / "keep", f"r{k}")
            rot.rotate()
            writers.moved_on(s, r)
            gone += rotated_away(kept, logs)
        ledger = writers.stop()
    ingest(store)
    assert len(gone) == 4  # sessions and replay runs, rotations 2 and 3
    s_gone = [p for p in gone if SESSIONS in p.name]
    r_gone = [p for p in gone if REPLAYS in p.name]
    store_ids = compare(
        store, log_files(logs, SESSIONS), log_files(logs, REPLAYS), gone_sessions=s_gone, gone_replays=r_gone
    )
    if not rot.backups:
        assert Counter(x[2] for x in store_ids["sessions"]) == ledger.session_ids


# --- what a daemon does to a file ----------------------------------------------------------------


def test_torn_line_is_read_when_its_newline_arrives(tmp_path, template_lines):
    s = tmp_path / "logs" / SESSIONS
    s.parent.mkdir()
    store = tmp_path / "store"
    rows = lines_for(template_lines, "torn", 8)
    cut = len(rows[5]) // 2
    with open(s, "ab") as fh:  # a daemon's buffered write, split before its newline
        fh.write(b"".join(rows[:5]) + rows[5][:cut])
    rep = ingest(store, sessions=str(s))
    assert (rep.rows["sessions"], rep.unreadable) == (5, 0)
    assert rep.bytes == sum(map(len, rows[:5])), "the torn line's bytes were consumed"
    compare(store, [s])  # the live tail holds the torn line, as a cold read does
    with open(s, "ab") as fh:  # the next write finishes the line
        fh.write(rows[5][cut:] + rows[6])
    rep = ingest(store)
    assert (rep.rows["sessions"], rep.unreadable) == (2, 0)
    with open(s, "ab") as fh:  # torn again, then finished by a write of a single newline byte
        fh.write(rows[7][:-1])
    assert (ingest(store).rows["sessions"]) == 0
    with open(s, "ab") as fh:
        fh.write(b"\n")
    assert (ingest(store).rows["sessions"]) == 1
    ids = compare(store, [s])
    assert Counter(x[2] for x in ids["sessions"]) == Counter(f"torn-{i:06d}" for i in range(8))
    assert_nothing_new(store)


def test_truncated_file_is_read_again_from_byte_zero(tmp_path, template_lines):
    s = tmp_path / "logs" / SESSIONS
    s.parent.mkdir()
    store = tmp_path / "store"
    s.write_bytes(b"".join(lines_for(template_lines, "old", 40)))
    ingest(store, sessions=str(s))
    before = tmp_path / "gone" / "before-truncate.jsonl"
    before.parent.mkdir()
    before.write_bytes(s.read_bytes())
    with open(s, "r+b") as fh:  # `> sessions.jsonl`, then the daemon goes on writing
        fh.truncate(0)
    with open(s, "ab") as fh:
        fh.write(b"".join(lines_for(template_lines, "new", 10)))
    assert s.stat().st_size < before.stat().st_size
    rep = ingest(store)
    assert (rep.rows["sessions"], rep.unreadable) == (10, 0)
    compare(store, [s], gone_sessions=[before])
    assert_nothing_new(store)


@pytest.mark.default_keeps(2)
@pytest.mark.parametrize("how", ["in_place", "replaced"])
def test_rewritten_file_is_a_new_file(tmp_path, template_lines, how):
    """Other content under the same name, longer than what was read (so not a truncation)."""
    s = tmp_path / "logs" / SESSIONS
    s.parent.mkdir()
    store = tmp_path / "store"
    s.write_bytes(b"".join(lines_for(template_lines, "old", 30)))
    ingest(store, sessions=str(s))
    before = tmp_path / "gone" / "before-rewrite.jsonl"
    before.parent.mkdir()
    before.write_bytes(s.read_bytes())
    new = b"".join(lines_for(template_lines, "other", 60, start=7))
    if how == "in_place":  # same inode, written over from byte 0
        with open(s, "r+b") as fh:
            fh.write(new)
    else:  # a new file renamed over the old name
        tmp = s.with_name("incoming.tmp")
        tmp.write_bytes(new)
        os.replace(tmp, s)
    assert s.stat().st_size > before.stat().st_size
    rep = ingest(store)
    assert (rep.rows["sessions"], rep.unreadable) == (60, 0), rep.as_dict()
    compare(store, [s], gone_sessions=[before])
    assert_nothing_new(store)


@pytest.mark.default_keeps(1)
@needs_logrotate
@pytest.mark.parametrize("unread", [0, 12])
def test_compressed_copy_is_read_only_past_what_was_read(tmp_path, template_lines, unread):
    """logrotate `compress`: sessions.jsonl -> sessions.jsonl.1.gz; only its unread rows are new."""
    logs = tmp_path / "logs"
    logs.mkdir()
    s = logs / SESSIONS
    store = tmp_path / "store"
    rows = lines_for(template_lines, "gz", 30 + unread + 5)
    s.write_bytes(b"".join(rows[:30]))
    ingest(store, sessions=str(s))
    with open(s, "ab") as fh:
        fh.write(b"".join(rows[30 : 30 + unread]))
    Logrotate([s], "compress", tmp_path / "lr").rotate()
    assert [p.name for p in log_files(logs, SESSIONS)] == [SESSIONS, SESSIONS + ".1.gz"]
    rep = ingest(store)
    assert (rep.rows["sessions"], rep.unreadable) == (unread, 0), rep.as_dict()
    compare(store, log_files(logs, SESSIONS))
    assert_nothing_new(store)
    with open(s, "ab") as fh:  # the new live file
        fh.write(b"".join(rows[30 + unread :]))
    assert ingest(store).rows["sessions"] == 5
    ids = compare(store, log_files(logs, SESSIONS))
    assert sum(Counter(x[2] for x in ids["sessions"]).values()) == len(rows)


def _partial_gzip(data: bytes, fraction: float) -> tuple[bytes, bytes]:
    whole = gzip.compress(data)
    return whole[: int(len(whole) * fraction)], whole


def test_gzip_still_being_written_is_retried_and_named(tmp_path, template_lines):
    """A .gz source whose gzip stream is not finished: named, retried, never failing the others."""
    logs = tmp_path / "logs"
    logs.mkdir()
    live, gz = logs / SESSIONS, logs / "archive.jsonl.gz"
    store = tmp_path / "store"
    live.write_bytes(b"".join(lines_for(template_lines, "live", 10)))
    part, whole = _partial_gzip(b"".join(lines_for(template_lines, "arch", 200)), 0.5)
    gz.write_bytes(part)
    rep = ingest(store, sessions=[str(live), str(gz)])
    named = [f for f in rep.files if f.path == str(gz)]
    assert named and all(f.reason for f in named), (
        f"the unfinished gzip is not named with a reason: {[vars(f) for f in rep.files]}"
    )
    assert any(str(gz) in w for w in rep.warnings), rep.warnings
    live_rows = [f.rows for f in rep.files if f.path == str(live)]
    assert live_rows == [10], [vars(f) for f in rep.files]
    gz.write_bytes(whole)  # gzip finished
    rep = ingest(store)
    ids = compare(store, [live, gz])
    assert Counter(x[2] for x in ids["sessions"]) == ids_on_disk([live, gz])
    assert len(ids["sessions"]) == 210
    assert_nothing_new(store)


def test_rotation_caught_while_gzip_compresses(tmp_path, template_lines):
    """logrotate `compress` caught half way: sessions.jsonl.1 and a partial sessions.jsonl.1.gz side by side."""
    logs = tmp_path / "logs"
    logs.mkdir()
    s = logs / SESSIONS
    one, one_gz = logs / (SESSIONS + ".1"), logs / (SESSIONS + ".1.gz")
    store = tmp_path / "store"
    rows = lines_for(template_lines, "mid", 50)
    s.write_bytes(b"".join(rows[:30]))
    ingest(store, sessions=str(s))
    with open(s, "ab") as fh:
        fh.write(b"".join(rows[30:40]))
    os.rename(s, one)  # what logrotate does, in its order: rename, create, compress
    s.write_bytes(b"")
    part, whole = _partial_gzip(one.read_bytes(), 0.4)
    one_gz.write_bytes(part)
    rep = ingest(store)  # must not fail on the partial .gz; finishes the rotated file from .1
    assert rep.rows["sessions"] == 10, rep.as_dict()
    one_gz.write_bytes(whole)  # gzip done: it removes its input
    one.unlink()
    with open(s, "ab") as fh:
        fh.write(b"".join(rows[40:]))
    rep = ingest(store)
    assert rep.rows["sessions"] == 10, rep.as_dict()  # the new live rows, not the .gz again
    ids = compare(store, log_files(logs, SESSIONS))
    assert Counter(x[2] for x in ids["sessions"]) == Counter(f"mid-{i:06d}" for i in range(50))
    assert_nothing_new(store)


# --- kill -9, a reader, writers ------------------------------------------------------------------


def _ingest_command(store, sessions=None, replay_runs=None) -> list[str]:
    """`forensics ingest --store ...` when the command line has it, else the same call from Python."""
    if _HAS_CLI_INGEST():
        cmd = [sys.executable, "-m", "forensics", "ingest", "--store", str(store)]
        if sessions:
            cmd += ["-s", str(sessions)]
        if replay_runs:
            cmd += ["-r", str(replay_runs)]
        return cmd
    code = (
        "import sys; from forensics.store.ingest import ingest; "
        "r = ingest(sys.argv[1], sys.argv[2] or None, sys.argv[3] or None); print(r.as_dict()['rows'])"
    )
    return [sys.executable, "-c", code, str(store), str(sessions or ""), str(replay_runs or "")]


_cli_checked: list = []


def _HAS_CLI_INGEST() -> bool:
    if not _cli_checked:
        done = subprocess.run(
            [sys.executable, "-m", "forensics", "ingest", "--help"],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        _cli_checked.append(done.returncode == 0)
    return _cli_checked[0]


@pytest.fixture(scope="module")
def big_logs(tmp_path_factory):
    """Generated logs big enough that one ingest takes about a second."""
    from forensics.sample.logs import generate

    out = tmp_path_factory.mktemp("big")
    generate(out, sessions=20000, seed=13)
    return out / SESSIONS, out / REPLAYS


def _kill_after(cmd, delay: float) -> str:
    """Run cmd, SIGKILL it after delay seconds; whether it was killed or had finished first."""
    proc = subprocess.Popen(cmd, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return "finished before the kill" if finished else "killed"


def _timed(cmd) -> float:
    t0 = time.monotonic()
    done = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - t0


def _store_state(store: Path) -> str:
    if not store.exists():
        return "no store folder"
    parquet = len(list(store.rglob("*.parquet")))
    return ("manifest" if (store / "manifest.json").exists() else "NO manifest") + f", {parquet} parquet files"


KILL_POINTS = (0.2, 0.45, 0.7, 0.9, 0.98)


@pytest.mark.slow
def test_kill_9_during_ingest_loses_and_duplicates_nothing(tmp_path, big_logs):
    """SIGKILL `forensics ingest` at several points of its run, then ingest again: the store is the logs."""
    s, r = big_logs
    with forensics.connect(sessions=[str(s)], replay_runs=[str(r)]) as cold:
        cold_ids = view_rows(cold, full=False)
    full = _timed(_ingest_command(tmp_path / "calibrate", s, r))
    failures, outcomes = [], [f"a full first ingest takes {full:.2f}s"]

    def after_kill(store, label, expected, rerun):
        """The store after the kill (committed state plus tails), then after the next ingest (rerun)."""
        state = _store_state(store)

        def store_ids():
            with forensics.connect(store=str(store)) as st:
                got = view_rows(st, full=False)
            return {k: v for k, v in got.items() if k in expected}

        if (store / "manifest.json").exists():
            got = store_ids()
            if got != expected:
                failures.append(f"{label}, read right after the kill ({state}):\n" + diff_summary(got, expected))
        again = subprocess.run(rerun, env=child_env(), capture_output=True, text=True, timeout=300)
        if again.returncode != 0:
            failures.append(f"{label}: the next ingest failed ({state}): {again.stderr.strip().splitlines()[-1]}")
            return state
        got = store_ids()
        if got != expected:
            failures.append(f"{label}, then ingested again:\n" + diff_summary(got, expected))
        return state

    # 1. The first ingest into a new store, killed at a fraction of its time.
    for i, frac in enumerate(KILL_POINTS):
        store = tmp_path / f"first{i}"
        how = _kill_after(_ingest_command(store, s, r), full * frac)
        # Nothing committed yet, so nothing remembered: the same command again, as cron would run it.
        state = after_kill(store, f"first ingest killed at {frac:.0%}", cold_ids, _ingest_command(store, s, r))
        outcomes.append(f"first ingest, kill at {frac:.0%}: {how}; left {state}")

    # 2. A store in use (cron): the log grows by a chunk, the ingest of the chunk is killed.
    lines = s.read_bytes().splitlines(keepends=True)
    chunks = [b"".join(lines[i * len(lines) // 6 : (i + 1) * len(lines) // 6]) for i in range(6)]
    live = tmp_path / "logs" / SESSIONS
    live.parent.mkdir()
    live.write_bytes(chunks[0])
    store = tmp_path / "cron"
    _timed(_ingest_command(store, live))
    with open(live, "ab") as fh:
        fh.write(chunks[1])
    chunk_time = _timed(_ingest_command(store))
    outcomes.append(f"an ingest of one more sixth takes {chunk_time:.2f}s")
    for frac, chunk in zip(KILL_POINTS[:4], chunks[2:]):
        with open(live, "ab") as fh:
            fh.write(chunk)
        with forensics.connect(sessions=[str(live)]) as cold:
            expected = {"sessions": view_rows(cold, full=False)["sessions"]}
        how = _kill_after(_ingest_command(store), chunk_time * frac)
        state = after_kill(store, f"a later ingest killed at {frac:.0%}", expected, _ingest_command(store))
        outcomes.append(f"later ingest, kill at {frac:.0%}: {how}; left {state}")
    print("\n".join(outcomes))
    assert not failures, "\n".join(outcomes + ["FAILURES:"] + failures)
    compare(store, [live], full=False)
    assert_nothing_new(store)


_READER = r"""
import json, os, sys, time
import forensics
cfg = json.loads(sys.argv[1])
def lines(paths):
    n = 0
    for p in paths:
        with open(p, "rb") as fh:
            n += fh.read().count(b"\n")
    return n
def counts(st):
    return [st.execute("select count(*) from sessions").rows[0][0],
            st.execute("select count(*) from replay_runs").rows[0][0]]
held = forensics.connect(store=cfg["store"])  # one connection kept open all along
held_counts = counts(held)
out = open(cfg["out"], "w")
open(cfg["ready"], "w").close()
while not os.path.exists(cfg["stop"]):
    rec = {"t0": time.time(), "n0": [lines(cfg["sessions"]), lines(cfg["replay_runs"])]}
    try:
        with forensics.connect(store=cfg["store"]) as st:
            rec["c"] = counts(st)
            rec["dup"] = st.execute("select count(*) - count(distinct session_id) from sessions").rows[0][0]
    except Exception as exc:
        rec["err"] = f"{type(exc).__name__}: {exc}"
    try:
        rec["held"] = counts(held)
    except Exception as exc:
        rec["held_err"] = f"{type(exc).__name__}: {exc}"
    rec["n1"] = [lines(cfg["sessions"]), lines(cfg["replay_runs"])]
    rec["t1"] = time.time()
    out.write(json.dumps(rec) + "\n")
    out.flush()
out.write(json.dumps({"held_at_open": held_counts}) + "\n")
"""


@pytest.mark.slow
def test_reader_always_sees_one_committed_state_while_ingest_commits(tmp_path, templates):
    from forensics.write.loggers import ReplayLogger, SessionLogger

    logs = tmp_path / "logs"
    logs.mkdir()
    s, r = logs / SESSIONS, logs / REPLAYS
    store = tmp_path / "store"
    srows = [json.loads(x) for x in open(templates[0], encoding="utf-8")]
    rrows = [json.loads(x) for x in open(templates[1], encoding="utf-8")]
    n = 0

    def append(count):
        nonlocal n
        with SessionLogger(s) as slog, ReplayLogger(r) as rlog:
            for _ in range(count):
                row = dict(srows[n % len(srows)], session_id=f"rd-{n:06d}")
                slog.append(row)
                if n % 2 == 0:
                    rlog.append(dict(rrows[n % len(rrows)], session_id=row["session_id"]))
                n += 1

    append(2000)
    ingest(store, sessions=str(s), replay_runs=str(r))
    append(100)  # a live tail: the connection the reader keeps open reads it from a copy
    cfg = {
        "store": str(store),
        "sessions": [str(s)],
        "replay_runs": [str(r)],
        "out": str(tmp_path / "reads.jsonl"),
        "ready": str(tmp_path / "reader.ready"),
        "stop": str(tmp_path / "reader.stop"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", _READER, json.dumps(cfg)], env=child_env(), stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not Path(cfg["ready"]).exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the reader did not open the store within 60s"
            time.sleep(0.02)
        windows = []
        for k in range(4):
            append(400)
            t0 = time.time()
            ingest(store, compact=k == 3)  # the last commit also merges the small files
            windows.append((t0, time.time()))
        Path(cfg["stop"]).touch()
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    records = [json.loads(x) for x in open(cfg["out"])]
    held_at_open = records.pop()["held_at_open"]
    errors = [x for x in records if "err" in x or "held_err" in x]
    assert not errors, f"{len(errors)} of {len(records)} reads failed, e.g. {errors[:2]}"
    bad = [x for x in records if not all(a <= c <= b for a, c, b in zip(x["n0"], x["c"], x["n1"])) or x["dup"] != 0]
    assert not bad, f"{len(bad)} of {len(records)} reads saw no committed state, e.g. {bad[:3]}"
    assert all(x["held"] == held_at_open for x in records), "a connection kept open changed under its reader"
    overlapping = [x for x in records if any(x["t0"] < b and a < x["t1"] for a, b in windows)]
    assert overlapping, f"no read overlapped an ingest ({len(records)} reads): the test proved nothing"
    compare(store, [s], [r])


@pytest.mark.slow
def test_writers_append_while_ingest_reads(tmp_path, templates):
    logs = tmp_path / "logs"
    logs.mkdir()
    s, r = logs / SESSIONS, logs / REPLAYS
    store = tmp_path / "store"
    total = {"sessions": 0, "replay_runs": 0}
    with Writers(s, r, **dict(_writers(templates, tmp_path), pause=0.002, max_rows=2000)) as writers:
        writers.appended(s, r, rows=25)  # the first ingest needs the files their first rows create
        for k in range(6):
            rep = ingest(store, sessions=str(s), replay_runs=str(r)) if k == 0 else ingest(store)
            for key in total:
                total[key] += rep.rows[key]
            assert rep.unreadable == 0, rep.as_dict()  # a line still being written is not read yet
            writers.appended(s, r, rows=12)
        ledger = writers.stop()
    rep = ingest(store)
    for key in total:
        total[key] += rep.rows[key]
    assert total == {"sessions": ledger.sessions, "replay_runs": ledger.replay_runs}
    ids = compare(store, [s], [r])
    assert Counter(x[2] for x in ids["sessions"]) == ledger.session_ids
    assert Counter(x[2] for x in ids["replay_runs"]) == ledger.replay_ids
    assert_nothing_new(store)


# --- parity of every query, on generated data growing in three steps ------------------------------


@pytest.mark.slow  # every query at every step: the default suite keeps under five minutes
def test_every_query_in_queries_dir_agrees_with_a_cold_read_as_the_logs_grow(tmp_path):
    from forensics.catalog import builtin_dir
    from forensics.sample.logs import generate

    full = tmp_path / "full"
    generate(full, sessions=800, seed=21)
    logs = tmp_path / "logs"
    logs.mkdir()
    store = tmp_path / "store"
    data = {name: (full / name).read_bytes() for name in (SESSIONS, REPLAYS)}
    written = {name: 0 for name in data}
    for step, frac in enumerate((0.37, 0.71, 1.0)):
        for name, blob in data.items():
            end = int(len(blob) * frac)  # mid-line: each step leaves a torn last line, the next completes it
            with open(logs / name, "ab") as fh:
                fh.write(blob[written[name] : end])
            written[name] = end
        if step == 0:
            ingest(store, sessions=str(logs / SESSIONS), replay_runs=str(logs / REPLAYS))
        else:
            ingest(store)
        # At the end, every query also with its filters set (those it declares).
        compare(
            store,
            [logs / SESSIONS],
            [logs / REPLAYS],
            full=frac == 1.0,
            extra_params={"since": "2026-10-20", "until": "2026-11-10", "model": "gpt-oss:20b"}
            if frac == 1.0
            else None,
        )
    # Every query of queries/ was among them.
    with forensics.connect(store=str(store)) as st:
        names = {n for n, q in st.catalog.queries.items() if q.builtin}
    assert names == {p.stem for p in Path(builtin_dir()).glob("*.sql")}
    assert not SKIPPED_QUERIES, f"queries not compared (a required parameter without a value): {SKIPPED_QUERIES}"
