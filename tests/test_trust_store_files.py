"""Files others can touch, in the store: every path the manifest names is confined to the store's
own files, nothing is removed through a planted link, and the store's files share one mode."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from .conftest import _clean, write_jsonl


def _store(cli, tmp_path: Path) -> Path:
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean())
    st = tmp_path / "store"
    code, _, err = cli("ingest", "--store", st, "-s", log)
    assert code == 0, err
    return st


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "elsewhere" / "precious.parquet"
    victim.parent.mkdir()
    victim.write_bytes(b"not the store's")
    return victim


@pytest.mark.parametrize("key", ["retired", "files"])
@pytest.mark.parametrize("how", ["relative", "absolute", "inside-but-foreign"])
def test_a_manifest_naming_a_file_outside_the_store_is_refused_and_nothing_is_deleted(cli, tmp_path, key, how):
    st = _store(cli, tmp_path)
    victim = _victim(tmp_path)
    path = {
        "relative": "sessions/../../elsewhere/precious.parquet",
        "absolute": str(victim),
        "inside-but-foreign": "notes.txt",
    }[how]
    (st / "notes.txt").write_text("the operator's notes")
    manifest = json.loads((st / "manifest.json").read_text())
    if key == "retired":
        manifest["retired"].append({"path": path, "at": "2000-01-01T00:00:00Z"})
    else:
        manifest["files"].append(
            {"path": path, "stream": "sessions", "day": "2000-01-01", "rows": 1, "batch": 1, "bytes": None}
        )
    (st / "manifest.json").write_text(json.dumps(manifest))
    for args in (("ingest", "--store", st), ("sql", "select count(*) from sessions", "--store", st)):
        code, out, err = cli(*args)
        assert code != 0 and "manifest.json is damaged" in out + err, (args, out, err)
    assert victim.read_bytes() == b"not the store's"
    assert (st / "notes.txt").read_text() == "the operator's notes"


def test_a_linked_folder_in_the_store_is_refused_not_emptied(cli, tmp_path):
    st = _store(cli, tmp_path)
    victim = _victim(tmp_path)
    assert not (st / "replay_runs").exists()  # (a store of sessions alone)
    os.symlink(victim.parent, st / "replay_runs")
    code, out, err = cli("ingest", "--store", st)
    assert code != 0 and "replay_runs/ is a symbolic link" in out + err, (out, err)
    assert victim.exists()


def test_every_file_of_the_store_takes_the_users_file_mode(cli, tmp_path):
    old = os.umask(0o002)  # a team's umask: group-readable and writable
    try:
        st = _store(cli, tmp_path)
        assert cli("alarm", "--store", st, "--since", "1h")[0] == 0
    finally:
        os.umask(old)
    modes = {
        p.relative_to(st).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in st.rglob("*")
        if p.is_file() and not p.name.endswith(".lock") and p.name != ".lock"
    }
    assert "manifest.json" in modes and any(k.endswith(".parquet") for k in modes), modes
    assert {k: m for k, m in modes.items() if m != 0o664} == {}


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_a_writer_holding_the_failures_file_is_waited_for_never_written_over(cli, tmp_path, suffix):
    from filelock import FileLock

    from .conftest import _ts, session

    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [*_clean(), session("BAD-1", grounded=False, ts=_ts(2))])
    failures = tmp_path / f"failures{suffix}"
    held = FileLock(str(failures) + ".lock")
    held.acquire()
    try:  # another alarm is mid-rewrite: this one waits --lock-wait, then says it could not append
        code, out, err = cli("alarm", "-s", log, "--store-failures", failures, "--lock-wait", "0.2", "--format", "json")
    finally:
        held.release()
    assert code == 1 and not failures.exists(), (out, err)
    assert "cannot append to --store-failures" in out
    assert cli("alarm", "-s", log, "--store-failures", failures)[0] == 1
    assert failures.exists()


def test_rows_a_failures_file_could_not_take_come_with_the_next_run(cli, tmp_path):
    from filelock import FileLock

    from .conftest import _ts, session

    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [*_clean(), session("BAD-1", grounded=False, ts=_ts(2))])
    failures = tmp_path / "failures.jsonl"
    args = ("alarm", "-s", log, "--state", tmp_path / "alarm.json", "--store-failures", failures, "--lock-wait", "0.2")
    held = FileLock(str(failures) + ".lock")
    held.acquire()
    try:
        code, out, err = cli(*args)
    finally:
        held.release()
    assert code == 1 and "NEW" in out and "cannot append to --store-failures" in out + err, (out, err)
    code, out, _ = cli(*args)  # not recorded: said again, and written this time
    assert code == 1 and "NEW" in out and "session=BAD-1" in out
    assert [json.loads(x)["session_id"] for x in failures.read_text().splitlines()] == ["BAD-1"]
    assert cli(*args) == (1, "", "")  # then recorded: firing, silent


def test_two_alarms_sharing_one_failures_file_keep_each_others_rows(tmp_path):
    import subprocess
    import sys

    import duckdb

    from .conftest import _ts, session

    failures = tmp_path / "failures.parquet"
    procs = []
    for team in ("a", "b", "c", "d"):
        rows = [*_clean(), *(session(f"BAD-{team}-{i}", grounded=False, ts=_ts(2)) for i in range(3))]
        log = write_jsonl(tmp_path / team / "sessions.jsonl", rows)
        cmd = [sys.executable, "-m", "forensics", "alarm", "-s", str(log), "--store-failures", str(failures)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for p in procs:
        assert p.wait(timeout=300) == 1, p.stderr.read()
    got = sorted(
        r[0] for r in duckdb.sql("select session_id from read_parquet($p)", params={"p": str(failures)}).fetchall()
    )
    assert got == sorted(f"BAD-{t}-{i}" for t in "abcd" for i in range(3))
