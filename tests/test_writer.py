"""The writer: parity with the Go and Rust producers, omission rules, concurrency, faults."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import shutil
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics import ReplayLogger, SessionLogger, build_session_record, new_session_id
from forensics.write.loggers import encode_line, session_row, utc_timestamp

from .conftest import PARITY

FIXTURES = sorted(PARITY.glob("*.json"))


def normalise(row: dict) -> str:
    """What `jq -cS 'del(.timestamp) | del(.daemon)'` prints."""
    row = {k: v for k, v in row.items() if k not in ("timestamp", "daemon")}
    return json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def with_schema(record: dict) -> dict:
    """The fixtures carry no `schema`; every producer stamps it (the format's rule), so the
    comparison adds the stamp to the input, exactly as it treats nothing else."""
    return {"schema": "session.iterate.v1", **record}


def test_parity_fixtures_present():
    assert len(FIXTURES) == 4, f"expected the four parity fixtures in {PARITY}"


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_parity_in_process(fixture, tmp_path):
    record = json.loads(fixture.read_text(encoding="utf-8"))
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path, daemon="py")
    assert log.append(record) is True
    lines = path.read_bytes().splitlines()
    assert len(lines) == 1
    written = json.loads(lines[0])
    assert normalise(written) == normalise(with_schema(record))
    assert written["schema"] == "session.iterate.v1" and written["daemon"] == "py"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", written["timestamp"])


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_parity_through_roundtrip_command(fixture, run_script):
    proc = run_script("roundtrip", input=fixture.read_bytes())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(b"\n") and proc.stdout.count(b"\n") == 1
    record = json.loads(fixture.read_text(encoding="utf-8"))
    assert normalise(json.loads(proc.stdout)) == normalise(with_schema(record))
    # Fed a row that already carries its schema, the line comes back equal to the letter.
    proc = run_script("roundtrip", input=json.dumps(with_schema(record)).encode())
    assert normalise(json.loads(proc.stdout)) == normalise(with_schema(record))


def test_unicode_written_as_itself(tmp_path):
    record = json.loads((PARITY / "unicode_in_prompt.json").read_text(encoding="utf-8"))
    path = tmp_path / "s.jsonl"
    SessionLogger(path).append(record)
    assert "Café résumé ⭐ 你好".encode() in path.read_bytes()
    assert b"\\u" not in path.read_bytes()


@pytest.mark.parametrize("bad", [b"{not json", b"[1, 2]", b"", b'"text"'])
def test_roundtrip_rejects_bad_input(bad, cli):
    code, out, err = cli("roundtrip", input=bad)
    assert code != 0
    assert out == ""
    assert "error:" in err


def test_omission_rules():
    row = session_row(
        {
            "session_id": "t",
            "iterations": 0,
            "attempts": [{"iteration": 0, "verdict_kind": "infra_error", "error": "", "span_id": None}],
            "grounded_in_roster": False,
            "artifact": None,
        }
    )
    assert row["iterations"] == 0
    assert row["attempts"] == [{"iteration": 0, "verdict_kind": "infra_error"}]
    assert row["grounded_in_roster"] is False  # false is always written
    assert "artifact" not in row
    assert "grounded_in_roster" not in session_row({"session_id": "t"})
    # Go's zero values: required keys are always present.
    assert session_row({})["max_iterations"] == 0 and session_row({})["attempts"] == []


def test_key_order_is_stable_and_extras_follow():
    row = session_row({"zeta": 1, "duration_ms": 5, "session_id": "s", "schema": "session.iterate.v1"})
    keys = list(row)
    assert keys[:4] == ["schema", "timestamp", "daemon", "session_id"]
    assert keys[-1] == "zeta" and keys.index("duration_ms") < keys.index("zeta")


def test_stamps_generated_session_id_and_timestamp():
    row = session_row({"session_id": ""}, daemon="svc")
    assert re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]{8}", row["session_id"])
    assert row["daemon"] == "svc"
    assert row["timestamp"].endswith("Z")


def test_new_session_id_is_time_ordered():
    a, b = new_session_id(), new_session_id()
    assert re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]{8}", a)
    assert int(a[:16], 16) <= int(b[:16], 16)
    assert abs(int(a[:16], 16) / 1e9 - __import__("time").time()) < 5


def test_utc_timestamp_format():
    assert utc_timestamp(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert utc_timestamp(1_700_000_000_100_000_000) == "2023-11-14T22:13:20.1Z"
    assert utc_timestamp(1_700_000_000_000_000_000) == "2023-11-14T22:13:20.0Z"


REQUEST = {
    "trace_id": "trace-9",
    "kind": "fill",
    "prompt": "P",
    "provider": "ollama",
    "model": "qwen",
    "max_iterations": 3,
}


def test_builder_accepted_path():
    resp = {
        "artifact": {"fills": [1]},
        "iterations": 2,
        "trace_id": "trace-9",
        "history": [
            {
                "iteration": 0,
                "verdict_kind": "validation_failed",
                "error": "phantom W-1",
                "span_id": "a",
                "raw": "model text",
            },
            {"iteration": 1, "verdict_kind": "accepted", "span_id": "b"},
        ],
    }
    rec = build_session_record(REQUEST, response=resp, roster_check=lambda a: False, duration_ms=42)
    row = session_row(rec)
    assert row["final_verdict"] == "accepted" and row["iterations"] == 2
    assert row["grounded_in_roster"] is False and row["artifact"] == {"fills": [1]}
    assert row["attempts"][0] == {
        "iteration": 0,
        "verdict_kind": "validation_failed",
        "error": "phantom W-1",
        "span_id": "a",
    }
    assert "raw" not in json.dumps(row)
    assert row["session_id"] == "trace-9" and row["duration_ms"] == 42


def test_builder_roster_verdict_omitted_when_no_check_ran():
    resp = {"artifact": {}, "iterations": 1, "history": [{"iteration": 0, "verdict_kind": "accepted"}]}
    assert "grounded_in_roster" not in session_row(build_session_record(REQUEST, response=resp))
    assert "grounded_in_roster" not in session_row(
        build_session_record(REQUEST, response=resp, roster_check=lambda a: None)
    )

    def broken(a):
        raise RuntimeError("roster service down")

    assert "grounded_in_roster" not in session_row(build_session_record(REQUEST, response=resp, roster_check=broken))


def test_builder_max_iterations_path():
    fail = {
        "error": "max iterations",
        "iterations": 3,
        "history": [{"iteration": i, "verdict_kind": "no_json"} for i in range(3)],
    }
    row = session_row(build_session_record(REQUEST, failure=fail, roster_check=lambda a: False))
    assert row["final_verdict"] == "max_iter_exhausted" and row["iterations"] == 3
    assert "artifact" not in row and "grounded_in_roster" not in row
    assert [a["iteration"] for a in row["attempts"]] == [0, 1, 2]


def test_builder_infra_error_path_and_session_id_fallback():
    class Req:
        kind, prompt, provider, model, max_iterations, trace_id = "playbook", "P", "ollama", "q", 3, None

    row = session_row(build_session_record(Req(), error=TimeoutError()))
    assert row["final_verdict"] == "infra_error" and row["iterations"] == 0
    assert row["attempts"] == [{"iteration": 0, "verdict_kind": "infra_error", "error": "TimeoutError"}]
    assert re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]{8}", row["session_id"])
    row = session_row(build_session_record(REQUEST, error=ConnectionError("connection refused")))
    assert row["attempts"][0]["error"] == "connection refused" and row["session_id"] == "trace-9"


@pytest.mark.parametrize("path", [None, ""])
def test_disabled_logger(path, tmp_path):
    log = SessionLogger(path)
    assert not log.enabled
    assert log.append({"session_id": "x"}) is False
    assert log.errors == 0 and log.written == 0
    assert list(tmp_path.iterdir()) == []


def test_creates_parent_directories(tmp_path):
    path = tmp_path / "a" / "b" / "sessions.jsonl"
    assert SessionLogger(path).append({"session_id": "x"})
    assert path.exists()


# --- faults: counted, logged, never raised -------------------------------------------


def test_disk_full_is_counted_not_raised(caplog):
    log = SessionLogger("/dev/full")
    with caplog.at_level(logging.WARNING, logger="forensics.writer"):
        assert log.append({"session_id": "x"}) is False
    assert log.errors == 1 and "could not" in caplog.text


def test_permission_denied_is_counted(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o500)
        log = SessionLogger(d / "s.jsonl")
        assert log.append({"session_id": "x"}) is False and log.errors == 1
    real_open = os.open

    def denied(path, *a, **k):
        if str(path).endswith("denied.jsonl"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(os, "open", denied)
    log = SessionLogger(tmp_path / "denied.jsonl")
    assert log.append({"session_id": "x"}) is False
    assert log.errors == 1


def test_removed_directory_is_recreated_on_the_next_append(tmp_path):
    d = tmp_path / "logs"
    log = SessionLogger(d / "s.jsonl")
    assert log.append({"session_id": "1"})
    shutil.rmtree(d)
    assert log.append({"session_id": "2"}) is True
    assert log.errors == 0 and log.written == 2
    assert [json.loads(x)["session_id"] for x in (d / "s.jsonl").read_text().splitlines()] == ["2"]


def test_rotation_reopens_the_path(tmp_path):
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path)
    log.append({"session_id": "1"})
    path.rename(tmp_path / "s.jsonl.1")
    log.append({"session_id": "2"})
    assert json.loads(path.read_text())["session_id"] == "2"


def test_unserialisable_value_is_counted_and_row_kept(tmp_path):
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path)
    assert log.append({"session_id": "x", "artifact": {"when": object(), "nan": float("nan"), "ok": 1}}) is False
    assert log.errors == 1 and log.written == 1
    row = json.loads(path.read_text())  # the line is still valid JSON
    assert row["artifact"]["nan"] == "<forensics: float nan>"
    assert row["artifact"]["when"].startswith("<forensics: unserialisable object <object")
    assert row["artifact"]["ok"] == 1 and row["session_id"] == "x"


def test_bad_record_type_is_counted():
    log = SessionLogger("/dev/null")
    assert log.append(42) is False and log.errors == 1


def test_replay_logger(tmp_path):
    path = tmp_path / "r.jsonl"
    log = ReplayLogger(path)
    log.append(
        {
            "session_id": "s",
            "status": "ok",
            "error": "",
            "retrieval": {"k": 0, "hits": []},
            "latency_ms": 0,
            "custom": "kept",
        }
    )
    log.append({"status": "ok"})
    first, second = [json.loads(x) for x in path.read_text().splitlines()]
    assert first["schema"] == "replay.run.v1" and first["latency_ms"] == 0
    assert "error" not in first and first["custom"] == "kept"
    assert "session_id" not in second  # a standalone replay has no id, and none is invented


# --- concurrency ----------------------------------------------------------------------

SIZES = [10, 100, 1_000, 10_000, 100_000, 1_048_576]


def _line(proc: int, seq: int) -> bytes:
    """A unique JSON line whose size (newline included) climbs the SIZES ladder: 11 B to 1 MiB."""
    size = SIZES[(seq // 2) % len(SIZES)]
    if size <= 16:
        return b'{"k":%d}\n' % (proc * 1000 + seq)  # 11 bytes
    head = f'{{"p":{proc},"s":{seq},"x":"'.encode()
    return head + b"a" * (size - len(head) - 3) + b'"}\n'


def _key(row: dict) -> str:
    if "k" in row:
        return f"{row['k'] // 1000}-{row['k'] % 1000}"
    return row.get("session_id") or f"{row['p']}-{row['s']}"


def _worker(path: str, proc: int, rows: int) -> None:
    slog = SessionLogger(path, daemon=f"proc-{proc}")
    for seq in range(rows):
        if seq % 2:
            slog.append_line(_line(proc, seq))
        else:
            slog.append({"session_id": f"{proc}-{seq}", "prompt": "é" * (seq * 37 % 5000)})
    os._exit(0 if slog.errors == 0 else 1)


def test_concurrent_processes_never_tear_lines(tmp_path):
    path = str(tmp_path / "shared.jsonl")
    procs, rows = 8, 120
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_worker, args=(path, p, rows)) for p in range(procs)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    data = open(path, "rb").read()
    assert data.endswith(b"\n")
    lines = data.split(b"\n")[:-1]
    assert len(lines) == procs * rows
    seen = set()
    for line in lines:
        row = json.loads(line)  # a torn line would not parse
        seen.add(_key(row))
    assert len(seen) == procs * rows
    sizes = [len(x) + 1 for x in lines]
    assert min(sizes) <= 12 and max(sizes) >= 1_048_576


def test_threads_share_one_logger(tmp_path):
    path = tmp_path / "t.jsonl"
    log = SessionLogger(path)

    def work(t):
        for i in range(200):
            log.append({"session_id": f"{t}-{i}", "prompt": "x" * (i * 13)})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert len({r["session_id"] for r in rows}) == 1600 and log.errors == 0


def test_logger_keeps_working_after_fork(tmp_path):
    path = tmp_path / "f.jsonl"
    log = SessionLogger(path)
    log.append({"session_id": "parent-1"})
    pid = os.fork()
    if pid == 0:
        ok = log.append({"session_id": "child"})
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    log.append({"session_id": "parent-2"})
    ids = [json.loads(x)["session_id"] for x in path.read_text().splitlines()]
    assert sorted(ids) == ["child", "parent-1", "parent-2"]


# --- property: what the writer accepts reads back equal --------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False), st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
attempts = st.lists(
    st.fixed_dictionaries(
        {
            "iteration": st.integers(0, 10),
            "verdict_kind": st.sampled_from(["accepted", "validation_failed", "no_json", "infra_error"]),
        },
        optional={"error": st.text(min_size=1), "span_id": st.text(min_size=1)},
    ),
    max_size=4,
)
records = st.fixed_dictionaries(
    {
        "session_id": st.text(min_size=1),
        "kind": st.text(),
        "model": st.text(),
        "prompt": st.text(),
        "iterations": st.integers(0, 100),
        "max_iterations": st.integers(0, 100),
        "final_verdict": st.sampled_from(["accepted", "max_iter_exhausted", "infra_error"]),
        "attempts": attempts,
        "duration_ms": st.integers(0, 10**9),
    },
    optional={
        "artifact": json_values.filter(lambda v: v is not None),
        "grounded_in_roster": st.booleans(),
        "extra_key": json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=records)
def test_any_accepted_record_reads_back_equal(record, tmp_path):
    path = tmp_path / "prop.jsonl"
    path.unlink(missing_ok=True)
    log = SessionLogger(path)
    assert log.append(record) is True
    (line,) = path.read_bytes().splitlines()
    back = json.loads(line)
    for key, value in record.items():
        assert back[key] == value, key
    assert encode_line(back) == line + b"\n"
