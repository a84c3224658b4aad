"""The writer under a hostile caller and a hostile host: descriptors, hangs, raises, full disks.

Every test drives the writer the way a service does (``SessionLogger(path).append(record)``)
and reads back the file. Cases that could hang run in a child interpreter with a timeout, so a
regression fails the test instead of stalling the suite.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import weakref

import pytest

from forensics import SessionLogger
from forensics.write.loggers import MAX_ATTEMPTS, MAX_DEPTH, MAX_NODES


def run_child(code: str, *args: str, timeout: float = 120) -> dict:
    """Run Python code in a fresh interpreter; it prints one JSON object as its last line."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def ids(path) -> list[str]:
    return [json.loads(line)["session_id"] for line in path.read_bytes().splitlines() if line]


# --- 1. resources ----------------------------------------------------------------------


def test_ten_thousand_per_call_loggers_under_a_256_descriptor_limit(tmp_path):
    out = run_child(
        """
        import json, os, resource, sys
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        from forensics import ReplayLogger, SessionLogger
        sessions, replays = sys.argv[1], sys.argv[2]
        before = len(os.listdir("/proc/self/fd"))
        written = sum(SessionLogger(sessions, daemon="svc").append({"session_id": f"s-{i}", "prompt": "p"})
                      for i in range(10_000))
        replayed = sum(ReplayLogger(replays).append({"session_id": f"r-{i}"}) for i in range(1_000))
        # Loggers whose write fails (a full device) must not keep their descriptor either.
        refused = [SessionLogger("/dev/full").append({"session_id": "x"}) for _ in range(1_000)]
        after = len(os.listdir("/proc/self/fd"))
        still_opens = len([open(os.devnull) for _ in range(200)])
        print(json.dumps({"limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0], "before": before,
                          "after": after, "written": written, "replayed": replayed,
                          "refused": sum(refused), "still_opens": still_opens}))
        """,
        str(tmp_path / "s.jsonl"),
        str(tmp_path / "r.jsonl"),
    )
    assert out["limit"] == 256
    assert out["written"] == 10_000 and out["replayed"] == 1_000 and out["refused"] == 0
    assert out["after"] <= out["before"] and out["still_opens"] == 200
    assert ids(tmp_path / "s.jsonl") == [f"s-{i}" for i in range(10_000)]
    assert len(ids(tmp_path / "r.jsonl")) == 1_000


def test_a_dropped_logger_is_freed_and_closes_its_descriptor(tmp_path):
    base = open_fds()
    log = SessionLogger(tmp_path / "s.jsonl")
    assert log.append({"session_id": "1"})
    assert open_fds() == base + 1
    ref = weakref.ref(log)
    del log  # no gc.collect(): nothing, not even the fork handler, may hold on to it
    assert ref() is None
    assert open_fds() == base


def test_a_logger_made_after_many_dropped_ones_still_works_across_fork(tmp_path):
    for i in range(2_000):
        SessionLogger(tmp_path / "s.jsonl").append({"session_id": f"old-{i}"})
    log = SessionLogger(tmp_path / "s.jsonl")
    pid = os.fork()
    if pid == 0:
        os._exit(0 if log.append({"session_id": "child"}) and open_fds() < 50 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert log.append({"session_id": "parent"})
    assert ids(tmp_path / "s.jsonl")[-2:] in (["child", "parent"], ["parent", "child"])


# --- 2. never hang, never raise ----------------------------------------------------------


@pytest.mark.slow
def test_hostile_records_terminate_and_each_leaves_a_row(tmp_path):
    out = run_child(
        """
        import itertools, json, sys
        from forensics import SessionLogger
        log = SessionLogger(sys.argv[1])
        circular = {}
        circular["me"] = circular
        loop = []
        loop.append(loop)
        deep_list = 0
        for _ in range(10_000):
            deep_list = [deep_list]
        deep_dict = leaf = {}
        for _ in range(5_000):
            leaf["k"] = {}
            leaf = leaf["k"]
        bomb = [1]
        for _ in range(60):  # 2**60 leaves once expanded, a few hundred bytes in memory
            bomb = [bomb, bomb]
        cases = {
            "circular-dict": {"artifact": circular},
            "circular-list": {"extra": loop},
            "attempts-contain-themselves": {"attempts": loop},
            "nested-10000-deep": {"artifact": deep_list},
            "dicts-5000-deep": {"artifact": deep_dict},
            "shared-reference-bomb": {"artifact": bomb},
            "two-million-items": {"artifact": list(range(2_000_000))},
            "endless-attempts": {"attempts": itertools.count()},
            "a-trillion-attempts": {"attempts": range(10**12)},
            "many-keys": {"artifact": {f"k{i}": i for i in range(300_000)}},
        }
        cases["record-of-two-million-keys"] = {f"k{i}": i for i in range(2_000_000)}
        results = {}
        for name, extra in cases.items():
            results[name] = log.append({"session_id": name, "final_verdict": "accepted", **extra})
        from collections import UserDict
        huge = UserDict({"session_id": "mapping-of-two-million-keys", "final_verdict": "accepted",
                         **cases["record-of-two-million-keys"]})
        results[huge["session_id"]] = log.append(huge)
        print(json.dumps({"results": results, "errors": log.errors, "written": log.written}))
        """,
        str(tmp_path / "s.jsonl"),
        timeout=180,
    )
    assert out["results"] and not any(out["results"].values())  # written, but not as given
    assert out["errors"] == out["written"] == len(out["results"])
    rows = {r["session_id"]: r for r in map(json.loads, (tmp_path / "s.jsonl").read_bytes().splitlines())}
    assert list(rows) == list(out["results"])
    assert all(r["final_verdict"] == "accepted" for r in rows.values())
    assert rows["circular-dict"]["artifact"] == {"me": "<forensics: circular reference to a dict>"}
    assert rows["circular-list"]["extra"] == ["<forensics: circular reference to a list>"]
    assert rows["attempts-contain-themselves"]["attempts"][0].startswith("<forensics: not an attempt: list")
    depth, value = 0, rows["nested-10000-deep"]["artifact"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0]
    assert depth == MAX_DEPTH - 1 and value == f"<forensics: list nested deeper than {MAX_DEPTH} levels>"
    assert "more items not written" in json.dumps(rows["shared-reference-bomb"]["artifact"])
    big = rows["two-million-items"]["artifact"]
    assert big[:3] == [0, 1, 2] and len(big) <= MAX_NODES + 1
    assert big[-1].startswith("<forensics: ") and "more items not written" in big[-1]
    endless = rows["endless-attempts"]["attempts"]
    assert len(endless) == MAX_ATTEMPTS + 1
    assert endless[-1].startswith("<forensics: more attempts not written")
    assert rows["a-trillion-attempts"]["attempts"][-1].startswith(
        f"<forensics: {10**12 - MAX_ATTEMPTS} more attempts not written"
    )
    assert len(rows["many-keys"]["artifact"]) <= MAX_NODES + 1
    for name in ("record-of-two-million-keys", "mapping-of-two-million-keys"):
        assert len(rows[name]) <= MAX_NODES and rows[name]["k0"] == 0
        assert rows[name]["<forensics: truncated>"].endswith(
            f"more keys not written: a row holds at most {MAX_NODES} values>"
        )
    assert rows["record-of-two-million-keys"]["<forensics: truncated>"].startswith(
        f"<forensics: {2_000_000 - (MAX_NODES - 14)} more keys"
    )


@pytest.mark.parametrize("headroom_mib,written_whole", [(300, False), (1_600, True)])
def test_a_huge_row_under_an_address_space_limit_is_written_not_crashed(headroom_mib, written_whole, tmp_path):
    # orjson crashes (SIGSEGV) when an allocation fails; under a limit the writer must not let it.
    out = run_child(
        """
        import json, resource, sys
        prompt = "x" * (64 << 20)
        with open("/proc/self/status") as fh:
            size = next(int(line.split()[1]) << 10 for line in fh if line.startswith("VmSize"))
        resource.setrlimit(resource.RLIMIT_AS, (size + (int(sys.argv[2]) << 20), resource.RLIM_INFINITY))
        from forensics import SessionLogger
        log = SessionLogger(sys.argv[1])
        big = log.append({"session_id": "big", "model": "m", "prompt": prompt, "artifact": {"a": 1}})
        small = log.append({"session_id": "small", "prompt": "p", "artifact": {"a": [1.5, None]}})
        print(json.dumps({"big": big, "small": small, "errors": log.errors, "written": log.written}))
        """,
        str(tmp_path / "s.jsonl"),
        str(headroom_mib),
    )
    assert out == {"big": written_whole, "small": True, "errors": 0 if written_whole else 1, "written": 2}
    big, small = (json.loads(line) for line in (tmp_path / "s.jsonl").read_bytes().splitlines())
    assert big["session_id"] == "big" and big["model"] == "m"
    if written_whole:
        assert len(big["prompt"]) == 64 << 20 and big["artifact"] == {"a": 1}
    else:
        assert big["prompt"].startswith("<forensics: str not written: no memory left to encode")
    assert small["artifact"] == {"a": [1.5, None]}


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "forensics.writer"]


@pytest.mark.parametrize(
    "make_path",
    [
        pytest.param(lambda tmp: str(tmp / "a\0b.jsonl"), id="nul-byte-in-str-path"),
        pytest.param(lambda tmp: os.fsencode(tmp) + b"/a\0b.jsonl", id="nul-byte-in-bytes-path"),
        pytest.param(lambda tmp: tmp, id="path-is-a-directory"),
        pytest.param(lambda tmp: object(), id="not-a-path-at-all"),
        pytest.param(lambda tmp: "/dev/full", id="device-full"),
        pytest.param(lambda tmp: "/proc/version", id="read-only-file"),
    ],
)
def test_every_failure_is_counted_never_raised_and_logged_once(make_path, tmp_path, caplog):
    log = SessionLogger(make_path(tmp_path))
    with caplog.at_level(logging.WARNING, logger="forensics.writer"):
        results = [log.append({"session_id": f"s-{i}"}) for i in range(3)]
        results.append(log.append_line(b'{"session_id":"line"}'))
    assert results == [False] * 4
    assert log.errors == 4 and log.written == 0
    (message,) = _warnings(caplog)
    assert "could not append to" in message and "counted on .errors" in message


def test_a_failure_is_logged_again_once_the_logger_has_recovered(tmp_path, caplog):
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the log directory should be")
    log = SessionLogger(blocker / "s.jsonl")
    with caplog.at_level(logging.WARNING, logger="forensics.writer"):
        assert not log.append({"session_id": "1"}) and not log.append({"session_id": "2"})
        assert len(_warnings(caplog)) == 1
        blocker.unlink()
        assert log.append({"session_id": "3"})
        shutil.rmtree(blocker)
        blocker.write_text("in the way again")
        assert not log.append({"session_id": "4"})
    assert len(_warnings(caplog)) == 2 and log.errors == 3 and log.written == 1


def test_a_fifo_without_a_reader_fails_instead_of_blocking(tmp_path):
    fifo = tmp_path / "s.jsonl"
    os.mkfifo(fifo)
    log = SessionLogger(fifo)
    done = []
    worker = threading.Thread(target=lambda: done.append(log.append({"session_id": "x"})), daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "append blocked opening a FIFO nobody reads"
    assert done == [False] and log.errors == 1


def test_no_raise_when_the_caller_has_almost_no_stack_left(tmp_path, caplog):
    log = SessionLogger(tmp_path / "s.jsonl")
    deep = 0
    for _ in range(3_000):
        deep = [deep]
    outcomes = []

    def call_at(depth: int, margin: int) -> None:
        if depth > 0:
            return call_at(depth - 1, margin)
        try:
            outcomes.append(log.append({"session_id": f"m{margin}", "artifact": deep}))
        except BaseException as exc:  # the test's own frame: record, do not let pytest see it
            outcomes.append(exc)

    def room(n: int = 0) -> int:
        """How many more frames fit below this one."""
        try:
            return room(n + 1)
        except RecursionError:
            return n

    for margin in (40, 20, 10, 6, 4, 3, 2, 1):
        call_at(room() - margin, margin)
    assert all(type(o) is bool for o in outcomes), "; ".join(map(repr, outcomes))
    assert log.errors == len(outcomes)  # written with a marker (too deep) or not at all
    with caplog.at_level(logging.WARNING, logger="forensics.writer"):
        assert log.append({"session_id": "later"})  # with room again, it says what happened
    assert any("could not say so then: RecursionError" in m for m in _warnings(caplog))


def test_an_append_from_a_signal_handler_inside_an_append_does_not_deadlock(tmp_path):
    out = run_child(
        """
        import json, os, signal, sys
        from forensics import SessionLogger
        log = SessionLogger(sys.argv[1])
        real_write = os.write
        def handler(signum, frame):
            handler.result = log.append({"session_id": "from-the-handler"})
        signal.signal(signal.SIGUSR1, handler)
        def write_interrupted(fd, data):
            os.write = real_write
            signal.raise_signal(signal.SIGUSR1)  # the handler runs here, the lock held
            return real_write(fd, data)
        os.write = write_interrupted
        outer = log.append({"session_id": "outer"})
        print(json.dumps({"outer": outer, "inner": handler.result, "errors": log.errors}))
        """,
        str(tmp_path / "s.jsonl"),
        timeout=60,
    )
    assert out == {"outer": True, "inner": True, "errors": 0}
    assert sorted(ids(tmp_path / "s.jsonl")) == ["from-the-handler", "outer"]


# --- 6. disk full and lost directories ---------------------------------------------------


def _parse(path) -> tuple[list[str], list[bytes]]:
    """(session ids of the whole rows, the lines that are not JSON); the file must end in \\n."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    good, torn = [], []
    for line in data.split(b"\n")[:-1]:
        try:
            good.append(json.loads(line)["session_id"])
        except ValueError:
            torn.append(line)
    return good, torn


def test_after_a_short_write_the_next_row_starts_a_fresh_line(tmp_path, monkeypatch):
    # A quota reached mid-row: write(2) takes half the bytes, the next call is refused.
    path = tmp_path / "s.jsonl"
    real_write, calls = os.write, []

    def quota(fd, data):
        calls.append(data)
        if len(calls) == 2:
            return real_write(fd, data[: len(data) // 2])
        if len(calls) == 3:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", quota)
    log = SessionLogger(path)
    results = [log.append({"session_id": f"r{i}", "prompt": "x" * 500}) for i in range(5)]
    assert results == [True, False, False, True, True]
    assert len(calls) == 5  # one write(2) per row, the newline that ends the fragment included
    assert calls[3].startswith(b"\n{") and not calls[4].startswith(b"\n")
    good, torn = _parse(path)
    assert good == ["r0", "r3", "r4"]
    assert len(torn) == 1 and calls[1].startswith(torn[0])
    assert log.errors == 2 and log.written == 3


def test_a_logger_that_failed_looks_for_a_fragment_another_process_left(tmp_path, monkeypatch):
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path)
    assert log.append({"session_id": "before"})
    with open(path, "ab") as other_process:  # its row cut short by the full disk
        other_process.write(b'{"schema":"session.iterate.v1","session_id":"torn-by-some')
    real_write = os.write

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    assert log.append({"session_id": "while-full"}) is False
    monkeypatch.setattr(os, "write", real_write)
    assert log.append({"session_id": "after"}) and log.append({"session_id": "after-2"})
    good, torn = _parse(path)
    assert good == ["before", "after", "after-2"] and len(torn) == 1


def _mount_tmpfs(where) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a 64 KiB tmpfs (CI runs as root)")
    where.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"could not mount a tmpfs: {proc.stderr.strip()}")


@pytest.mark.parametrize("per_call", [False, True], ids=["one-logger", "logger-per-call"])
def test_a_full_disk_never_glues_a_row_onto_a_torn_one(per_call, tmp_path):
    mnt = tmp_path / "mnt"
    _mount_tmpfs(mnt)
    path, filler = mnt / "logs" / "sessions.jsonl", mnt / "filler"
    kept = SessionLogger(path)
    try:
        filler.write_bytes(b"\0" * 12_288)  # removed later to free room

        def append(record):
            return (SessionLogger(path) if per_call else kept).append(record)

        results, i = [], 0
        while not results or results[-1]:
            results.append(append({"session_id": f"r{i}", "prompt": "x" * 3_000}))
            i += 1
            assert i < 100, "the 64 KiB disk never filled"
        assert not append({"session_id": "while-full"})
        filler.unlink()
        assert append({"session_id": "after-1"}) and append({"session_id": "after-2"})
        good, torn = _parse(path)
        whole = [f"r{n}" for n, ok in enumerate(results) if ok]
        assert good == whole + ["after-1", "after-2"]
        assert len(torn) == 1 and torn[0].startswith(b'{"schema":"session.iterate.v1"')
        if not per_call:
            assert kept.errors == 2 and kept.written == len(whole) + 2
    finally:
        kept.close()
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_removed_log_directory_is_recreated_for_every_pattern(tmp_path):
    root = tmp_path / "var" / "log" / "svc"
    path = root / "sessions.jsonl"
    kept = SessionLogger(path)
    assert kept.append({"session_id": "1"})
    shutil.rmtree(tmp_path / "var")
    assert kept.append({"session_id": "2"}) is True
    shutil.rmtree(tmp_path / "var")
    assert SessionLogger(path).append({"session_id": "3"}) is True
    assert kept.append({"session_id": "4"}) is True
    assert ids(path) == ["3", "4"] and kept.errors == 0


def test_another_process_that_met_the_full_disk_starts_a_fresh_line(tmp_path):
    mnt = tmp_path / "mnt"
    _mount_tmpfs(mnt)
    path, filler = mnt / "sessions.jsonl", mnt / "filler"
    log = SessionLogger(path)
    try:
        filler.write_bytes(b"\0" * 12_288)
        i = 0
        while log.append({"session_id": f"r{i}", "prompt": "x" * 3_000}):
            i += 1
            assert i < 100, "the 64 KiB disk never filled"
        other = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent("""
            import sys
            from forensics import SessionLogger
            log = SessionLogger(sys.argv[1])
            full = log.append({"session_id": "other-while-full"})
            print(full, flush=True)
            sys.stdin.readline()  # the parent frees room
            print(log.append({"session_id": "other-after"}), flush=True)
            """),
                str(path),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert other.stdout.readline().strip() == "False"
        filler.unlink()
        out, _ = other.communicate("go\n", timeout=60)
        assert out.strip() == "True" and other.returncode == 0
        good, torn = _parse(path)
        assert good == [f"r{n}" for n in range(i)] + ["other-after"] and len(torn) == 1
    finally:
        log.close()
        subprocess.run(["umount", str(mnt)], check=True)
