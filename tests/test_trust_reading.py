"""What the alarm guarantees, on the reading side: what counts as a row, time, no blinding line or
file, repeated keys, sources. Each case is run through the CLI as cron runs it, or the library
the CLI calls."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from forensics.oncall.alarm import AlarmOptions, evaluate
from forensics.read.sources import resolve
from forensics.store.connection import Store

from .conftest import replay, script_path, session, write_jsonl

NOW = datetime.now(UTC)


def fresh(minutes_ago: float = 1) -> str:
    # From the time of the call, not NOW: the module is imported when the run starts, and on a
    # loaded machine its tests may run more than --since 15m after that.
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


def alarm(*paths, **kw):
    return evaluate(AlarmOptions(sessions=[str(p) for p in paths], config=os.devnull, **kw))


def cron(*args, cwd):
    """The installed script, exactly as cron runs it: no environment but a bare PATH."""
    proc = subprocess.run(
        ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", os.path.abspath(script_path()), *map(str, args)],
        capture_output=True,
        cwd=cwd,
        timeout=180,
    )
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


# -- 1. what counts as a row ----------------------------------------------------------

NOT_ROWS = [
    (b"null", "not_object"),
    (b"42", "not_object"),
    (b"[1, 2]", "not_object"),
    (b'"text"', "not_object"),
    (b"true", "not_object"),
    (b"{}", "empty_object"),
    (b"{ }", "empty_object"),
    (json.dumps(replay("r-1", 3)).encode(), "foreign_row"),
    (json.dumps({**session("other"), "schema": "billing.event.v2"}).encode(), "foreign_row"),
    (b'{"session_id": "no-verdict", "model": "m"}', "not_a_row"),
    (b'{"unknown": 1}', "not_a_row"),
]


@pytest.mark.default_keeps(4)
@pytest.mark.parametrize("line, cause", NOT_ROWS)
def test_a_line_that_is_no_session_row_is_never_one(tmp_path, line, cause):
    p = write_jsonl(tmp_path / "sessions.jsonl", [session("ok", ts=fresh())] + [line])
    with Store(resolve(str(p), env={})) as st:
        # Through the same reads run, sql and the notebook use: never a NULL row.
        assert st.execute("select session_id from sessions").rows == [("ok",)]
        assert dict(st.scan.files[0].unreadable) == {cause: 1}
        assert st.scan.files[0].bad_lines[0][1] == 2
    outcome = alarm(p)
    assert outcome.checked["unreadable_lines"] == 1 and outcome.checked["rows"] == 1


def test_cli_commands_all_count_the_same_foreign_rows(cli, tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a"), b"null", replay("a", 1), b"{}"])
    for args in (
        ["run", "verdict_breakdown"],
        ["sql", "select count(*) as n from sessions"],
        ["report", "--week", "2026-W46"],
        ["doctor"],
    ):
        code, out, err = cli(*args, "-s", p)
        assert "3 unreadable lines skipped (empty_object: 1, foreign_row: 1, not_object: 1" in err, args
    code, out, _ = cli("sql", "select count(*) as n from sessions", "-s", p, "-f", "json")
    assert json.loads(out) == [{"n": 1}]


def test_an_alarm_over_a_log_with_no_session_rows_exits_3(cli, tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [replay("a", 1), b"{}", b"null", replay("b", 2)])
    code, out, err = cli("alarm", "-s", p)
    assert code == 3 and "zero readable session rows" in err


# -- 2. time ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ts, want",
    [
        ("2026-11-10T10:00:00Z", "2026-11-10T10:00:00+00:00"),
        ("2026-11-10t10:00:00z", "2026-11-10T10:00:00+00:00"),
        ("2026-11-10 10:00:00Z", "2026-11-10T10:00:00+00:00"),
        ("2026-11-10T10:00:00.123456789-05:00", "2026-11-10T15:00:00.123456+00:00"),
        ("2016-12-31T23:59:60Z", "2017-01-01T00:00:00+00:00"),
        ("2016-12-31t23:59:60.5z", "2017-01-01T00:00:00.500000+00:00"),
        ("epoch", None),
        ("infinity", None),
        ("-infinity", None),
        ("2026-11-10", None),
        ("2026-11-10T10:00:00", None),
        ("2026-11-10T10:00:00+0100", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_only_rfc3339_timestamps_are_times(tmp_path, ts, want):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a", ts=ts)])
    with Store(resolve(str(p), env={})) as st:
        ((got, raw),) = st.execute('select "timestamp", timestamp_raw from sessions').rows
    assert (got.isoformat() if got else None) == want and raw == ts


@pytest.mark.default_keeps(3)
@pytest.mark.parametrize(
    "ts",
    [None, "not a time", "epoch", "infinity", "2999-01-01T00:00:00Z", (NOW + timedelta(hours=1)).isoformat()],
    # an id that does not name the clock, so parallel workers collect the same tests
    ids=["null", "not-a-time", "epoch", "infinity", "year-2999", "an-hour-ahead"],
)
def test_a_bad_or_future_timestamp_never_makes_a_stale_log_fresh(cli, tmp_path, ts):
    stale = [session(f"old-{i}", ts=(NOW - timedelta(days=2)).isoformat()) for i in range(3)]
    odd = session("odd", grounded=False)
    if ts is None:
        del odd["timestamp"]
    else:
        odd["timestamp"] = ts
    p = write_jsonl(tmp_path / "s.jsonl", stale + [odd])
    # Still evaluated (a violation with a broken clock is still a violation) ...
    code, out, err = cli("alarm", "-s", p, "--max-age", "2h", "--since", "15m")
    assert code == 1 and "session=odd" in out
    assert "older than --max-age 2h" in out or "no session row with a valid timestamp" in out
    assert "without a valid RFC 3339 timestamp" in err and "s.jsonl:4" in err
    # ... and without the violation, the stale log is not fresh: exit 3.
    odd["grounded_in_roster"] = True
    write_jsonl(p, stale + [odd])
    code, out, err = cli("alarm", "-s", p, "--max-age", "2h")
    assert code == 3 and "older than --max-age 2h" in err
    code, out, err = cli("alarm", "-s", p, "--since", "15m")
    assert code == 3 and "no session row with a valid timestamp" in err


# -- 3. no single line or file blinds ------------------------------------------------------


def test_the_mixed_hostile_file_through_cron(tmp_path):
    """A violation, a null line, a 40 MiB line, invalid UTF-8, deep nesting, a key given twice and a
    torn tail, at once, beside a clean file and a truncated .gz: every violation is found."""
    logs = tmp_path / "logs"
    bad = lambda sid, **kw: session(sid, grounded=False, ts=fresh(), **kw)  # noqa: E731
    write_jsonl(
        logs / "sessions.jsonl",
        [
            session("ok-1", ts=fresh()),
            b"null",
            bad("V-40mib", prompt="p" * (40 << 20)),
            json.dumps(bad("V-utf8")).encode().replace(b'"prompt": "p"', b'"prompt": "\xff\xfe\xc3"'),
            json.dumps(bad("V-deep", artifact={"fills": [[[[[[[[[[[[]]]]]]]]]]]]}))
            .encode()
            .replace(b"[[[[[[[[[[[[]]]]]]]]]]]]", b"[" * 3000 + b"]" * 3000),
            json.dumps(session("V-dup", ts=fresh())).encode()[:-1] + b', "grounded_in_roster": false}',
            bad("V-last"),
        ],
        raw_tail=json.dumps(bad("V-torn")).encode()[:50],
    )
    body = b"".join(json.dumps(r).encode() + b"\n" for r in [bad("V-gz"), session("ok-gz", ts=fresh())] * 50)
    blob = gzip.compress(body)
    (logs / "sessions.jsonl.1.gz").write_bytes(blob[: len(blob) * 2 // 3])
    write_jsonl(logs / "sessions.jsonl.2", [bad("V-clean-file")])
    code, out, err = cron("alarm", "-s", logs, "--format", "json", cwd=tmp_path)
    data = json.loads(out)
    assert code == 1, err
    found = {v["session_id"] for v in data["violations"]}
    assert {"V-40mib", "V-utf8", "V-deep", "V-dup", "V-last", "V-gz", "V-clean-file"} <= found
    assert "V-torn" not in found and "Traceback" not in err and "unexpected" not in err
    files = {os.path.basename(f["file"]): f for f in data["checked"]["files"]}
    assert files["sessions.jsonl"]["unreadable"] == {"not_object": 1, "torn_last_line": 1}
    assert files["sessions.jsonl"]["repaired"] == {"invalid_utf8": 1, "duplicate_keys": 1}
    assert "cut short" in files["sessions.jsonl.1.gz"]["error"]
    assert files["sessions.jsonl.1.gz"]["unreadable"] == {"truncated_compressed": 1}
    assert data["checked"]["unreadable_files"] == [str(logs / "sessions.jsonl.1.gz")]
    lines = {v["session_id"]: v["line"] for v in data["violations"] if v["source_file"].endswith(".jsonl")}
    assert lines["V-40mib"] == 3 and lines["V-last"] == 7


def test_a_file_that_cannot_be_read_is_named_and_the_others_are_evaluated(cli, tmp_path, monkeypatch):
    import forensics.read.sources

    good = write_jsonl(tmp_path / "a.jsonl", [session("V-1", grounded=False, ts=fresh())])
    gone = write_jsonl(tmp_path / "c.jsonl", [session("c", ts=fresh())])
    real = forensics.read.sources.resolve

    def rotated_away_after_listing(*args, **kwargs):
        src = real(*args, **kwargs)
        gone.unlink(missing_ok=True)
        return src

    monkeypatch.setattr(forensics.read.sources, "resolve", rotated_away_after_listing)
    outcome = alarm(good, gone)
    assert outcome.exit_code == 1 and [v["session_id"] for v in outcome.violations] == ["V-1"]
    assert any("c.jsonl" in p and "cannot be opened" in p for p in outcome.problems)
    # Nothing found and something unread: could not evaluate.
    write_jsonl(good, [session("ok", ts=fresh())])
    write_jsonl(gone, [session("c", ts=fresh())])
    outcome = alarm(good, gone)
    assert outcome.exit_code == 3 and "cannot be opened" in outcome.reason
    monkeypatch.undo()
    os.mkfifo(tmp_path / "fifo.jsonl")  # a name that exists but is no file: never read, never hangs
    code, out, err = cli("alarm", "-s", good, "-s", tmp_path / "fifo.jsonl")
    assert code == 3 and "not a regular file" in err


@pytest.mark.parametrize("key", ["artifact", "attempts", "a_future_key"])
def test_nesting_of_any_depth_keeps_the_row_and_its_verdict(tmp_path, key):
    deep = b"[" * 200_000 + b"]" * 200_000
    line = (
        b'{"schema": "session.iterate.v1", "session_id": "D", "timestamp": "'
        + fresh().encode()
        + b'", "final_verdict": "accepted", "grounded_in_roster": false, "'
        + key.encode()
        + b'": '
        + deep
        + b"}"
    )
    p = write_jsonl(tmp_path / "s.jsonl", [session("V", grounded=False, ts=fresh()), line, session("ok", ts=fresh())])
    outcome = alarm(p)
    assert outcome.exit_code == 1 and sorted(v["session_id"] for v in outcome.violations) == ["D", "V"]
    assert outcome.checked["rows"] == 3


@pytest.mark.slow
def test_a_100_mib_line_is_read(tmp_path):
    p = write_jsonl(
        tmp_path / "s.jsonl",
        [session("V-huge", grounded=False, ts=fresh(), prompt="x" * (100 << 20)), session("after", ts=fresh())],
    )
    outcome = alarm(p)
    assert [v["session_id"] for v in outcome.violations] == ["V-huge"]
    assert outcome.checked["unreadable_lines"] == 0 and outcome.checked["rows"] == 2


# -- 4. repeated keys --------------------------------------------------------------------


def test_a_repeated_key_reads_as_the_last_copy_and_a_false_verdict_in_any_copy_alarms(cli, tmp_path):
    base = json.dumps(session("dup-1", ts=fresh(), grounded=False)).encode()[:-1]
    later_true = base + b', "grounded_in_roster": true, "model": "m-last"}'
    other = json.dumps(session("dup-2", ts=fresh(), model="m-first")).encode()[:-1] + b', "model": "m-last"}'
    p = write_jsonl(tmp_path / "s.jsonl", [later_true, other, session("ok", ts=fresh())])
    code, out, err = cli("alarm", "-s", p)
    assert code == 1 and "session=dup-1" in out and "session=dup-2" not in out
    assert "duplicate_keys: 2" in err
    with Store(resolve(str(p), env={})) as st:
        st.check()
        assert st.execute("select session_id, model from sessions order by line").rows == [
            ("dup-1", "m-last"),
            ("dup-2", "m-last"),
            ("ok", "m-a"),
        ]
    code, out, _ = cli("doctor", "-s", p)
    assert code == 1 and "FAIL duplicate_keys: 2 rows" in out


# -- 7. sources ----------------------------------------------------------------------------


def test_one_file_is_read_once_however_it_is_named(tmp_path):
    logs = tmp_path / "logs"
    p = write_jsonl(logs / "sessions.jsonl", [session("a"), session("b")])
    os.symlink(p, logs / "link.jsonl")
    src = resolve(
        [str(p), str(logs / "." / "sessions.jsonl"), str(logs / "link.jsonl"), str(logs / "*.jsonl"), str(logs)], env={}
    )
    assert len(src.sessions) == 1
    with Store(src) as st:
        assert st.execute("select count(*) from sessions").rows == [(2,)]


def test_globs_and_folders_never_feed_replay_rows_to_sessions(tmp_path):
    logs = tmp_path / "logs"
    write_jsonl(logs / "sessions.jsonl", [session("a")])
    write_jsonl(logs / "replay_runs.jsonl", [replay("a", 2)])
    for spec in (str(logs / "*"), str(logs / "*.jsonl"), str(logs)):
        src = resolve(spec, spec, env={})
        assert [p.name for p in src.sessions] == ["sessions.jsonl"], spec
        assert [p.name for p in src.replay_runs] == ["replay_runs.jsonl"], spec


def test_logrotate_names_are_found_in_a_folder(tmp_path):
    logs = tmp_path / "logs"
    names = [
        "sessions.jsonl",
        "sessions.jsonl.1",
        "sessions.jsonl.2.gz",
        "sessions.jsonl-20261130",
        "sessions.jsonl-20261129.gz",
        "sessions.jsonl-2026112913.zst",
        "sessions.jsonl.3.zst",
    ]
    for i, name in enumerate(names):
        body = json.dumps(session(f"s{i}")).encode() + b"\n"
        if name.endswith(".gz"):
            body = gzip.compress(body)
        elif name.endswith(".zst"):
            import zstandard

            body = zstandard.ZstdCompressor().compress(body)
        (logs / name).parent.mkdir(exist_ok=True)
        (logs / name).write_bytes(body)
    (logs / "notes.txt").write_text("not a log")
    src = resolve(str(logs), env={})
    assert sorted(p.name for p in src.sessions) == sorted(names)
    with Store(src) as st:
        assert st.execute("select count(distinct session_id) from sessions").rows == [(len(names),)]


def test_a_literal_path_with_glob_characters_means_that_file(cli, tmp_path):
    literal = write_jsonl(tmp_path / "sessions[1].jsonl", [session("literal", grounded=False)])
    write_jsonl(tmp_path / "sessions1.jsonl", [session("decoy")])
    star = write_jsonl(tmp_path / "s*x.jsonl", [session("star")])
    write_jsonl(tmp_path / "sAx.jsonl", [session("decoy-2")])
    code, out, _ = cli("sql", "select session_id from sessions order by 1", "-s", literal, "-s", star, "-f", "json")
    assert code == 0 and [r["session_id"] for r in json.loads(out)] == ["literal", "star"]
    code, out, _ = cli("alarm", "-s", literal)
    assert code == 1 and "session=literal" in out


def test_no_replay_runs_given_is_said_not_presented_as_a_finding(cli, sample_dir):
    code, out, err = cli("run", "orphans", "-s", sample_dir / "sessions.jsonl")
    assert code == 0 and "no replay runs given" in err
    code, out, err = cli("report", "-s", sample_dir / "sessions.jsonl", "--week", "2026-W45")
    # said in the report itself, not on stderr every week (a cron job's stderr is mail)
    assert code == 0 and "No replay runs were given" in out and "replay" not in err
    code, out, err = cli("doctor", "-s", sample_dir / "sessions.jsonl")
    assert "orphans: no replay runs given" in out
    code, out, err = cli("run", "first_shot_success_rate", "-s", sample_dir / "sessions.jsonl")
    assert "no replay runs given" not in err


# -- 8. many files ---------------------------------------------------------------------------


def test_a_thousand_small_files_number_their_own_lines(tmp_path):
    logs = tmp_path / "hourly"
    for i in range(1000):
        rows = [session(f"f{i}-{j}", grounded=not (i == 777 and j == 1)) for j in range(3)]
        write_jsonl(logs / f"sessions.jsonl-{2026010100 + i}", rows if i != 500 else rows + [b"{torn"])
    outcome = evaluate(AlarmOptions(sessions=[str(logs)], config=os.devnull, max_unreadable=1))
    assert outcome.checked["rows"] == 3000 and outcome.checked["unreadable_lines"] == 1
    (v,) = outcome.violations
    assert v["session_id"] == "f777-1" and v["line"] == 2 and v["source_file"].endswith("2026010877")


# -- any bytes at all ----------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as hst  # noqa: E402

_FRAGMENTS = [
    b"null",
    b"{}",
    b"[",
    b'{"a":',
    b"\xff\xfe",
    b"\x00",
    b"\r",
    b"   ",
    b'"x"',
    b"1e999",
    b'{"schema": "replay.run.v1", "session_id": "r"}',
    b'{"final_verdict": "accepted"}',
    b'{"schema": "session.iterate.v1", "schema": 5}',
    b'{"timestamp": "infinity", "iterations": 1}',
    b'{"attempts": "no", "final_verdict": 7}',
    b"\xef\xbb\xbf{}",
    b"[" * 300 + b"]" * 300,
]


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    junk=hst.lists(hst.one_of(hst.sampled_from(_FRAGMENTS), hst.binary(max_size=40)), max_size=12),
    tail=hst.binary(max_size=30),
)
def test_any_bytes_around_the_violations_never_hide_them(tmp_path_factory, junk, tail):
    """Whatever the other lines hold, the alarm finds the real violations and never crashes."""
    folder = tmp_path_factory.mktemp("fuzz")
    lines = [session("V-first", grounded=False)]
    for i, j in enumerate(junk):
        lines.append(j.replace(b"\n", b" ") or b" ")
        if i == len(junk) // 2:
            lines.append(session("V-middle", grounded=False))
    lines.append(session("V-last", grounded=False))
    p = write_jsonl(folder / "sessions.jsonl", lines, raw_tail=tail.replace(b"\n", b" "))
    outcome = alarm(p)
    assert outcome.status != "error" or "unexpected" not in (outcome.reason or ""), outcome.reason
    found = {v["session_id"] for v in outcome.violations}
    assert {"V-first", "V-last"} <= found and (not junk or "V-middle" in found)
    assert outcome.exit_code == 1


# -- found by an adversarial pass ---------------------------------------------------------


def _viol(sid="VIOL", **kw):
    return json.dumps(session(sid, grounded=False, ts=fresh(), **kw)).encode()


@pytest.mark.parametrize("blank", [b"\f", b"\v", b" \f ", b"\t\v\r"])
def test_every_ascii_whitespace_line_is_blank_to_both_counters(cli, tmp_path, blank):
    clean = json.dumps(session("x1", ts=fresh())).encode().replace(b'"attempts": [{', b'"attempts": [{"iteration": 0, ')
    repeated = _viol().replace(
        b'"grounded_in_roster": false', b'"grounded_in_roster": true, "grounded_in_roster": false'
    )
    p = write_jsonl(tmp_path / "s.jsonl", [session("c0", ts=fresh()), blank, clean, repeated])
    code, out, _ = cli("alarm", "-s", p)
    assert code == 1 and "session=VIOL" in out and out.split("\n")[2].endswith("s.jsonl:4")
    code, out, _ = cli("sql", "select session_id, source_file, line from sessions order by line", "-s", p, "-f", "json")
    assert [(r["session_id"], r["line"]) for r in json.loads(out)] == [("c0", 1), ("x1", 3), ("VIOL", 4)]


def test_a_lone_surrogate_escape_is_repaired_not_fatal(cli, tmp_path):
    a = write_jsonl(
        tmp_path / "a.jsonl", [session("c", ts=fresh()), _viol(prompt="PROMPT").replace(b'"PROMPT"', b'"\\ud800 half"')]
    )
    other = json.dumps(session("o", ts=fresh(), prompt="P")).encode().replace(b'"P"', b'"\\udc00", "model": "m2"')
    b = write_jsonl(tmp_path / "b.jsonl", [other])
    code, out, err = cli("alarm", "-s", a, "-s", b)
    assert code == 1 and "session=VIOL" in out and "unexpected" not in err
    assert "lone_surrogate" in err


@pytest.mark.default_keeps(1)
@pytest.mark.parametrize(
    "body",
    [b"", gzip.compress(b"") + b"\0" * 512, b"\x1f\x8b\x08\x10" + b"\0" * 6 + b"a comment\0" + gzip.compress(b"")[10:]],
)
def test_a_gzip_duckdb_refuses_but_python_reads_blinds_nothing(cli, tmp_path, body):
    logs = tmp_path / "logs"
    write_jsonl(logs / "sessions.jsonl", [session("c1", ts=fresh()), _viol()])
    (logs / "sessions.jsonl.2.gz").write_bytes(body)
    code, out, err = cli("alarm", "-s", logs)
    assert code == 1 and "session=VIOL" in out, err
    for args in (["doctor"], ["sql", "select count(*) from sessions"], ["report", "--week", "2026-W46"]):
        code, _, err = cli(*args, "-s", logs)
        assert code in (0, 1) and "query failed" not in err, (args, err)


@pytest.mark.parametrize(
    "ts",
    ["2026-11-30T10:00:00-99:00", "2026-11-30T10:00:00+24:00", "2026-11-30T24:00:00Z", "2026-11-30T10:00:00+05:60"],
)
def test_out_of_range_times_and_offsets_are_no_time(tmp_path, ts):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a", ts=ts)])
    with Store(resolve(str(p), env={})) as st:
        assert st.execute('select "timestamp" from sessions').rows == [(None,)]


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "1999-12-31T23:59:59Z"])
def test_an_unset_clock_is_no_time_and_never_drops_out_of_a_window(cli, tmp_path, ts):
    p = write_jsonl(tmp_path / "s.jsonl", [session("c0", ts=fresh()), session("VIOL", grounded=False, ts=ts)])
    code, out, err = cli("alarm", "-s", p, "--since", "15m", "--max-age", "2h")
    assert code == 1 and "session=VIOL" in out and "without a valid RFC 3339 timestamp" in err


@pytest.mark.parametrize("wait", ["-1", "nan", "1e9"])
def test_a_lock_wait_out_of_range_is_a_usage_error(cli, tmp_path, wait):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a")])
    assert cli("alarm", "-s", p, "--lock-wait", wait)[0] == 2


def test_a_folder_finds_every_name_logrotate_can_write(tmp_path):
    logs = tmp_path / "logs"
    names = [
        "n\nCRITICAL fake.jsonl",
        "sessions.jsonl-20261130-1701234567",
        "sessions.jsonl-2026-11-30",
        "sessions.jsonl-2026-11-30.gz",
    ]
    for name in names:
        body = json.dumps(session(name)).encode() + b"\n"
        write = gzip.compress(body) if name.endswith(".gz") else body
        logs.mkdir(exist_ok=True)
        (logs / name).write_bytes(write)
    assert sorted(p.name for p in resolve(str(logs), env={}).sessions) == sorted(names)


@pytest.mark.parametrize("prefix, what", [(b"\0" * 64, "nul_padding"), (b"\xef\xbb\xbf", "bom")])
def test_a_crash_left_nul_block_or_a_mid_file_bom_costs_no_row(cli, tmp_path, prefix, what):
    p = write_jsonl(tmp_path / "s.jsonl", [session("c0", ts=fresh()), prefix + _viol(), session("c1", ts=fresh())])
    code, out, err = cli("alarm", "-s", p)
    assert code == 1 and "session=VIOL" in out and out.splitlines()[2].endswith(":2") and what in err


def test_sql_with_nothing_to_run_and_bytes_in_json(cli, tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a")])
    code, _, err = cli("sql", "  ", "-s", p)
    assert code == 2 and "no SQL given" in err
    code, out, _ = cli("sql", "select 'a\\x01'::blob as b", "-s", p, "-f", "json")
    assert code == 0 and json.loads(out) == [{"b": "a\x01"}]
