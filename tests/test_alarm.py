"""`forensics alarm`: every exit code, cron-silence, the hostile file, the lock, the self-test."""

from __future__ import annotations

import codecs
import json
import os
from datetime import UTC

import duckdb
import pytest
from filelock import FileLock

from forensics.oncall import alarm as alarm_mod
from forensics.oncall.alarm import AlarmOptions, evaluate, lock_path

from .conftest import script_path, session, write_jsonl


def clean_rows(n=6, ts="2026-11-10T10:00:00Z"):
    return [session(f"ok-{i}", ts=ts) for i in range(n)] + [
        session("ex", verdict="max_iter_exhausted", ts=ts),
        session("inf", verdict="infra_error", ts=ts),
    ]


@pytest.fixture
def clean(tmp_path):
    return write_jsonl(tmp_path / "clean" / "sessions.jsonl", clean_rows())


@pytest.fixture
def dirty(tmp_path):
    return write_jsonl(
        tmp_path / "dirty" / "sessions.jsonl",
        clean_rows()
        + [session("BAD-1", grounded=False, model="m-x", daemon="gateway"), session("WARN-1", grounded=None)],
    )


def test_clean_is_silent_and_exit_0(cli, clean):
    code, out, err = cli("alarm", "-s", clean)
    assert (code, out, err) == (0, "", "")
    code, out, _ = cli("alarm", "-s", clean, "--verbose")
    assert code == 0 and out.startswith(
        "CLEAN: 0 new critical, 0 firing, 0 acknowledged, 0 new warnings, 0 resolved; checked 1 file, 8 rows"
    )


def test_critical_violation_is_loud_and_exit_1(cli, dirty):
    code, out, _ = cli("alarm", "-s", dirty)
    assert code == 1
    lines = out.strip().splitlines()
    assert lines[0].startswith(
        "ALARM: 1 new critical, 0 firing, 0 acknowledged, 1 new warning, 0 resolved; checked 1 file, 10 rows"
    )
    # each alarm's one-line description once, before its first row
    assert lines[1].startswith("about ungrounded_accepted: Accepted artifacts that named someone not on the")
    assert lines[2].startswith(
        "NEW      CRITICAL ungrounded_accepted  2026-11-10T10:00:00Z  session=BAD-1  "
        "model=m-x  kind=fill  daemon=gateway  at="
    )
    assert lines[2].endswith("sessions.jsonl:9")
    assert lines[3] == f"  incident: forensics incident BAD-1 -s {dirty}"
    assert lines[4].startswith("about unverified_accepted_fill: ")
    assert lines[5].startswith("NEW      WARN     unverified_accepted_fill") and "session=WARN-1" in lines[5]


def test_warnings_fail_only_with_fail_on_warn(cli, tmp_path):
    p = write_jsonl(tmp_path / "w.jsonl", clean_rows() + [session("WARN-1", grounded=None)])
    assert cli("alarm", "-s", p)[0] == 0
    code, out, _ = cli("alarm", "-s", p, "--fail-on", "warn")
    assert code == 1 and "WARN-1" in out


def test_json_status_object(cli, dirty):
    code, out, _ = cli("alarm", "-s", dirty, "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["status"] == "violations" and data["exit_code"] == 1
    assert set(data["checked"]) == {
        "files",
        "rows",
        "rows_with_valid_time",
        "unreadable_lines",
        "unreadable_files",
        "timestamps",
        "oldest_timestamp",
        "newest_timestamp",
        "window",
    }
    assert data["checked"]["rows"] == 10 and data["checked"]["newest_timestamp"] == "2026-11-10T10:00:00Z"
    (v,) = data["violations"]
    assert {k: v[k] for k in ("alarm", "severity", "session_id", "model", "kind", "daemon", "line")} == {
        "alarm": "ungrounded_accepted",
        "severity": "critical",
        "session_id": "BAD-1",
        "model": "m-x",
        "kind": "fill",
        "daemon": "gateway",
        "line": 9,
    }
    assert v["source_file"].endswith("sessions.jsonl") and v["timestamp"] == "2026-11-10T10:00:00Z"
    assert [w["session_id"] for w in data["warnings"]] == ["WARN-1"]


def test_usage_error_is_exit_2(cli, clean):
    assert cli("alarm", "-s", clean, "--fail-on", "sometimes")[0] == 2


@pytest.mark.parametrize(
    "case", ["no_source", "missing", "glob", "empty", "window", "max_age", "unreadable", "unexpected"]
)
def test_could_not_evaluate_is_exit_3(case, cli, clean, tmp_path, monkeypatch):
    args = ["alarm"]
    if case == "missing":
        args += ["-s", tmp_path / "gone.jsonl"]
    elif case == "glob":
        args += ["-s", str(tmp_path / "nothing-*.jsonl")]
    elif case == "empty":
        (tmp_path / "empty.jsonl").write_text("")
        args += ["-s", tmp_path / "empty.jsonl"]
    elif case == "window":
        args += ["-s", clean, "--since", "15m"]
    elif case == "max_age":
        args += ["-s", clean, "--max-age", "2h"]
    elif case == "unreadable":
        p = write_jsonl(tmp_path / "u.jsonl", clean_rows() + [b"{torn"])
        args += ["-s", p]
    elif case == "unexpected":

        def boom(*a, **k):
            raise RuntimeError("disk on fire")

        monkeypatch.setattr("forensics.store.connection.Store.materialize", boom)
        args += ["-s", clean]
    code, out, err = cli(*args, "--format", "json")
    data = json.loads(out)
    assert code == 3 and data["status"] == "error" and data["exit_code"] == 3
    assert data["reason"]
    code, out, err = cli(*args)
    assert code == 3 and out == "" and "could not evaluate" in err


def test_max_unreadable_allows_a_budget(cli, tmp_path):
    p = write_jsonl(tmp_path / "u.jsonl", clean_rows() + [b"{torn"])
    code, _, err = cli("alarm", "-s", p, "--max-unreadable", "1")
    assert code == 0 and "1 unreadable line" in err


def test_since_window_and_max_age_pass_on_fresh_data(cli, tmp_path):
    from datetime import datetime, timedelta

    fresh = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    old = "2020-01-01T00:00:00Z"
    p = write_jsonl(tmp_path / "f.jsonl", [session("old-bad", ts=old, grounded=False), session("fresh", ts=fresh)])
    assert cli("alarm", "-s", p, "--since", "1h", "--max-age", "30m")[0] == 0
    assert cli("alarm", "-s", p)[0] == 1  # without the window the old violation counts


def test_store_failures_jsonl_and_parquet(cli, dirty, tmp_path):
    out_jsonl = tmp_path / "inc" / "failures.jsonl"
    assert cli("alarm", "-s", dirty, "--store-failures", out_jsonl)[0] == 1
    rows = [json.loads(x) for x in out_jsonl.read_text().splitlines()]
    assert [r["session_id"] for r in rows] == ["BAD-1", "WARN-1"]
    assert rows[0]["attempts"][0]["verdict_kind"] == "accepted" and rows[0]["prompt"] == "p"
    out_pq = tmp_path / "failures.parquet"
    assert cli("alarm", "-s", dirty, "--store-failures", out_pq)[0] == 1
    got = duckdb.connect().execute("select session_id from read_parquet(?) order by line", [str(out_pq)]).fetchall()
    assert got == [("BAD-1",), ("WARN-1",)]


def test_hostile_file_flags_every_readable_violation(tmp_path):
    """BOM, CRLF, unknown keys, a 30 MiB line, unreadable lines and a torn tail, all at once."""
    p = tmp_path / "hostile.jsonl"
    bad = lambda sid, **kw: json.dumps(session(sid, grounded=False, **kw)).encode()  # noqa: E731
    with open(p, "wb") as fh:
        fh.write(codecs.BOM_UTF8 + bad("V-bom") + b"\r\n")
        fh.write(json.dumps(session("ok-1")).encode() + b"\r\n")
        fh.write(b"{this is not json\n")
        fh.write(b'{"session_id": "\xff\xfe broken utf8", "grounded_in_roster": false}\n')
        fh.write(b'["an", "array"]\n')
        fh.write(bad("V-unknown-keys", new_field={"nested": [1, 2]}, another=True) + b"\n")
        fh.write(b"\n\r\n")
        fh.write(bad("V-huge", prompt="z" * (30 * 1024 * 1024)) + b"\n")
        fh.write(bad("V-crlf") + b"\r\n")
        fh.write(json.dumps(session("ok-2")).encode() + b"\n")
        fh.write(bad("V-torn")[:40])
    outcome = evaluate(AlarmOptions(sessions=[str(p)], config=os.devnull))
    assert sorted(v["session_id"] for v in outcome.violations) == ["V-bom", "V-crlf", "V-huge", "V-unknown-keys"]
    lines = {v["session_id"]: v["line"] for v in outcome.violations}
    assert lines == {"V-bom": 1, "V-unknown-keys": 6, "V-huge": 9, "V-crlf": 10}
    assert outcome.exit_code == 1 and outcome.status == "violations"
    assert outcome.checked["unreadable_lines"] == 4
    # The bad bytes are repaired, and the line is then seen for what it is: no session row.
    assert outcome.checked["files"][0]["unreadable"] == {
        "invalid_json": 1,
        "not_a_row": 1,
        "not_object": 1,
        "torn_last_line": 1,
    }
    assert outcome.checked["files"][0]["repaired"] == {}
    assert "unreadable" in outcome.reason


def test_second_run_waits_then_exits_3(cli, clean):
    lock = FileLock(str(lock_path([clean])))
    with lock:
        code, out, err = cli("alarm", "-s", clean, "--lock-wait", "0.3")
    assert code == 3 and "another forensics alarm is still running" in err
    assert cli("alarm", "-s", clean)[0] == 0  # released: runs again


def test_self_test_passes(cli):
    assert cli("alarm", "--self-test") == (0, "", "")  # a cron line: silent when it passes
    code, out, err = cli("alarm", "--self-test", "--verbose")
    assert code == 0 and "self-test passed" in out and "remembered" in out


def test_self_test_fails_when_the_alarm_misses(cli, monkeypatch):
    real = alarm_mod.evaluate

    def blind(opts):
        outcome = real(opts)
        outcome.violations, outcome.exit_code, outcome.status = [], 0, "clean"
        return outcome

    monkeypatch.setattr(alarm_mod, "evaluate", blind)
    code, out, err = cli("alarm", "--self-test")
    assert code == 3 and "self-test FAILED" in err


def test_installed_script_under_cron_environment(clean, tmp_path):
    """What cron does: `env -i PATH=/usr/bin:/bin /abs/path/forensics alarm ...`."""
    import subprocess

    script = os.path.abspath(script_path())
    cron = ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", script]
    proc = subprocess.run(cron + ["alarm", "--sessions", str(clean)], capture_output=True, cwd=tmp_path, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b""), proc.stderr
    dirty = write_jsonl(tmp_path / "d.jsonl", clean_rows() + [session("BAD", grounded=False)])
    proc = subprocess.run(cron + ["alarm", "--sessions", str(dirty)], capture_output=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1 and b"session=BAD" in proc.stdout
