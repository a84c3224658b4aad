"""Reading honestly: explicit types, every unreadable line counted by cause, never a NULL row."""

from __future__ import annotations

import codecs
import gzip
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from forensics.errors import ForensicsError
from forensics.read.sources import resolve
from forensics.store.connection import Store

from .conftest import replay, session, write_jsonl


def open_store(sessions, replay_runs=None):
    return Store(
        resolve(
            [str(p) for p in sessions] if isinstance(sessions, list) else str(sessions),
            None if replay_runs is None else str(replay_runs),
            env={},
        )
    )


def test_views_have_explicit_types(tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a", ts="2026-05-02T10:39:29.123456789-05:00")])
    with open_store(p) as st:
        types = dict(st.con.execute("select column_name, column_type from (describe sessions)").fetchall())
        assert types["timestamp"] == "TIMESTAMP WITH TIME ZONE"
        assert types["iterations"] == "BIGINT" and types["grounded_in_roster"] == "BOOLEAN"
        assert types["attempts"].startswith("STRUCT(iteration BIGINT")
        (ts,) = st.execute('select "timestamp" from sessions').rows[0]
        assert ts.isoformat() == "2026-05-02T15:39:29.123456+00:00"  # normalised to UTC


@pytest.mark.parametrize("tolerant", [False, True])
def test_a_stream_without_files_has_the_same_columns_and_types_as_one_with_files(tmp_path, tolerant):
    s = write_jsonl(tmp_path / "s.jsonl", [session("a")])
    r = write_jsonl(tmp_path / "r.jsonl", [replay("a", 2)])
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")

    def shapes(sessions, replay_runs):
        with open_store(sessions, replay_runs) as st:
            if tolerant:
                st.check()
            return {
                v: st.con.execute(f"select column_name, column_type from (describe {v})").fetchall()
                for v in ("sessions", "attempts", "replay_runs")
            }

    with_files = shapes(s, r)
    assert all(with_files.values())
    assert shapes(empty, None) == with_files


def test_unreadable_lines_counted_by_cause_and_never_null_rows(tmp_path):
    p = tmp_path / "s.jsonl"
    write_jsonl(
        p,
        [
            session("ok-1"),
            b"{not json",
            b"[1, 2, 3]",
            b'"just a string"',
            b'{"schema": "session.iterate.v1", "session_id": "bad-utf8", "final_verdict": "accepted", '
            b'"grounded_in_roster": false, "prompt": "\xff\xfe"}',
            b"",
            b"   ",
            session("ok-2"),
        ],
        raw_tail=b'{"session_id": "torn", "kind": "fi',
    )
    with open_store(p) as st:
        scan = st.scan.files[0]
        assert dict(scan.unreadable) == {"invalid_json": 1, "not_object": 2, "torn_last_line": 1}
        # A bad byte in a prompt costs the prompt that byte, never the row and its verdict.
        assert dict(scan.repaired) == {"invalid_utf8": 1} and scan.repaired_lines == [(5, "invalid_utf8")]
        assert scan.rows == 3
        assert [(line, cause) for _, line, cause in scan.bad_lines] == [
            (2, "invalid_json"),
            (3, "not_object"),
            (4, "not_object"),
            (9, "torn_last_line"),
        ]
        rows = st.execute(
            "select session_id, source_file, line, prompt, grounded_in_roster from sessions order by line"
        ).rows
        assert [(r[0], r[2]) for r in rows] == [("ok-1", 1), ("bad-utf8", 5), ("ok-2", 8)]  # physical lines
        assert rows[1][3] == "\ufffd\ufffd" and rows[1][4] is False
        assert st.execute("select count(*) from sessions where session_id is null").rows[0][0] == 0
        warning = st.scan.warnings()[0]
        assert "4 unreadable lines" in warning and "torn_last_line: 1" in warning
        assert "1 line repaired and read (invalid_utf8: 1; line 5)" in st.scan.warnings()[1]


def test_crlf_bom_unknown_keys_and_key_order(tmp_path):
    p = tmp_path / "s.jsonl"
    first = json.dumps(session("bom-row")).encode()
    other = dict(reversed(list(session("reordered", future_field={"x": 1}).items())))
    p.write_bytes(codecs.BOM_UTF8 + first + b"\r\n" + json.dumps(other).encode() + b"\r\n")
    with open_store(p) as st:
        assert st.scan.unreadable_lines == 0
        rows = st.execute("select session_id, line, final_verdict from sessions order by line").rows
        assert rows == [("bom-row", 1, "accepted"), ("reordered", 2, "accepted")]


def test_wrong_types_become_null_cells_not_lost_rows(tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a", iterations="three", grounded_in_roster="false")])
    with open_store(p) as st:
        rows = st.execute(
            "select session_id, iterations, grounded_in_roster, grounded_in_roster_raw from sessions"
        ).rows
        assert rows == [("a", None, None, '"false"')]


def test_huge_line(tmp_path):
    big = session("huge", prompt="x" * (24 * 1024 * 1024))
    p = write_jsonl(tmp_path / "s.jsonl", [session("small"), big, session("after")])
    with open_store(p) as st:
        assert st.scan.unreadable_lines == 0
        assert st.execute("select session_id, length(prompt) from sessions order by line").rows == [
            ("small", 1),
            ("huge", 24 * 1024 * 1024),
            ("after", 1),
        ]


def test_empty_file_is_zero_rows(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_bytes(b"")
    with open_store(p) as st:
        assert st.scan.rows == 0
        assert st.execute("select count(*) from sessions").rows == [(0,)]


def test_gzip_and_several_files(tmp_path):
    a = write_jsonl(tmp_path / "sessions.jsonl", [session("a")])
    gz = tmp_path / "sessions.jsonl.1.gz"
    gz.write_bytes(gzip.compress(json.dumps(session("b")).encode() + b"\n{broken\n"))
    with open_store([a, gz]) as st:
        assert sorted(r[0] for r in st.execute("select session_id from sessions").rows) == ["a", "b"]
        assert st.scan.files[1].unreadable == {"invalid_json": 1}


def test_attempts_view(tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a", verdict="max_iter_exhausted")])
    with open_store(p) as st:
        rows = st.execute(
            "select session_id, iteration, verdict_kind, error, model from attempts order by iteration"
        ).rows
        assert rows == [("a", i, "validation_failed", f"phantom W-{100 + i}", "m-a") for i in range(3)]


def test_replay_runs_keep_unknown_keys(tmp_path):
    s = write_jsonl(tmp_path / "s.jsonl", [session("a")])
    r = write_jsonl(tmp_path / "r.jsonl", [replay("a", 3, replay_host="h1"), {"session_id": "old"}])
    with open_store(s, r) as st:
        rows = st.execute("select session_id, hits, raw ->> 'replay_host' from replay_runs order by line").rows
        assert rows == [("a", 3, "h1"), ("old", None, None)]


def test_python_api_returns_dataframes(tmp_path, sample_dir):
    import forensics

    with forensics.connect(str(sample_dir / "sessions.jsonl"), str(sample_dir / "replay_runs.jsonl")) as st:
        df = st.run("first_shot_success_rate")
        assert list(df.columns)[:4] == ["model", "reached_model", "first_shot", "rate"]
        assert df["reached_model"].sum() > 0
        rel = st.sql("select count(*) as n from sessions")
        assert rel.fetchall() == [(800,)]
        assert st.df("select count(*) as n from sessions where model = $m", m="gpt-oss:20b")["n"][0] > 0


def test_optimistic_read_falls_back_on_a_bad_shape(tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a"), {**session("b"), "attempts": "not a list"}, session("c")])
    with open_store(p) as st:
        assert st.mode == "strict"
        rows = st.execute("select session_id, attempts is null from sessions order by line").rows
        assert rows == [("a", False), ("b", True), ("c", False)]
        assert st.mode == "tolerant" and st.scan.unreadable_lines == 0


def test_clean_files_are_read_once_without_a_check(tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a"), session("b")])
    with open_store(p) as st:
        assert st.execute("select count(*) from sessions").rows == [(2,)]
        assert st.mode == "strict" and st.warnings() == []
        st.materialize()
        assert [f.rows for f in st.scan.files] == [2] and st.mode == "strict"


def test_genuine_errors_still_surface_as_one_line(tmp_path):
    from forensics.errors import ForensicsError

    p = write_jsonl(tmp_path / "s.jsonl", [session("a")])
    with open_store(p) as st:
        for sql in ("select error('boom from the query')", "select * from nowhere"):
            try:
                st.execute(sql)
            except ForensicsError as exc:
                assert str(exc).startswith("query failed:") and "\n" not in str(exc)
            else:
                raise AssertionError(f"{sql} did not fail")


def test_first_shot_and_attempts_to_accept_are_defined_once_in_the_view(tmp_path):
    rows = [
        session("first", attempts=["accepted"]),
        session("third", attempts=["validation_failed", "no_json", "accepted"]),
        session("never", verdict="max_iter_exhausted"),
        session("infra", verdict="infra_error"),
        session("no-list", attempts=[]),
    ]
    rows[-1]["attempts"] = None
    p = write_jsonl(tmp_path / "s.jsonl", rows)
    # A call with no attempts list has no first attempt: not a first shot.
    expected = {
        ("first", True, 1),
        ("third", False, 3),
        ("never", False, None),
        ("infra", False, None),
        ("no-list", False, None),
    }
    with open_store(p) as st:
        assert set(st.execute("select session_id, first_shot, attempts_to_accept from sessions").rows) == expected
    # The tolerant reader (after an unreadable line) means the same by them.
    write_jsonl(p, rows + [b"{torn"])
    with open_store(p) as st:
        assert set(st.execute("select session_id, first_shot, attempts_to_accept from sessions").rows) == expected
        assert st.mode == "tolerant"


def test_the_attempts_are_ordered_once_per_file(tmp_path):
    """DuckDB evaluates a lambda once per expression naming it: first_shot and attempts_to_accept
    share one ordering of the attempts per file branch."""
    a = write_jsonl(tmp_path / "a.jsonl", [session("a")])
    b = write_jsonl(tmp_path / "b.jsonl", [session("b")])
    with open_store([a, b]) as st:
        for _ in ("strict", "tolerant"):
            (sql,) = st.con.execute("select sql from duckdb_views() where view_name = '_sessions_files'").fetchone()
            assert sql.lower().count("attempts_in_order(") == 2, st.mode
            st.check()


def test_integer_and_boolean_cells_take_only_real_integers_and_booleans(tmp_path):
    """Neither reader coerces: "12", 1.5, 1e3 and true are not integers; "true" and 1 are not booleans."""
    ints = ["12", " 12 ", '"12"', "1.5", "1e3", "12.0", "true", "18446744073709551615", "-7", "null"]
    bools = ["true", "false", '"true"', "1", "0", "null", '"false"', "true", "false", "[true]"]
    lines = [
        f'{{"schema": "session.iterate.v1", "session_id": "r{i}", "timestamp": "2026-11-10T10:00:00Z", "duration_ms": {d}, '
        f'"grounded_in_roster": {g}}}'
        for i, (d, g) in enumerate(zip(ints, bools))
    ]
    p = write_jsonl(tmp_path / "s.jsonl", lines)
    want_ints = [12, 12, None, None, None, None, None, None, -7, None]
    want_bools = [True, False, None, None, None, None, None, True, False, None]
    for tail in ([], [b"{torn"]):  # the optimistic reader, then the tolerant one
        write_jsonl(p, lines + tail)
        with open_store(p) as st:
            got = st.execute(
                "select duration_ms, grounded_in_roster from sessions order by cast(substr(session_id, 2) as int)"
            ).rows
        assert got == list(zip(want_ints, want_bools)), tail


@settings(max_examples=300, deadline=None)
@given(
    instant=hst.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 12, 31),
        timezones=hst.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))]),
    )
)
def test_utc_week_start_is_the_monday_of_the_utc_iso_week(week_store, instant):
    (got,) = week_store.con.execute("select utc_week_start(?::timestamptz)", [instant]).fetchone()
    day = instant.astimezone(UTC).date()
    assert got == day - timedelta(days=day.weekday())
    assert got.isocalendar()[:2] == day.isocalendar()[:2]


@pytest.fixture(scope="module")
def week_store(tmp_path_factory):
    p = write_jsonl(tmp_path_factory.mktemp("w") / "s.jsonl", [session("a")])
    with open_store(p) as st:
        yield st


def test_columns_read_are_what_duckdb_plans_to_read(tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a")])
    r = write_jsonl(tmp_path / "r.jsonl", [replay("a", 3)])
    with open_store(p, r) as st:
        q = st.catalog.get("retrieval_depth_vs_first_shot")
        used = st.columns_read([(q.sql, q.bind({"since": "2026-11-09T00:00:00Z"}))])
        # Filters count as reads (final_verdict, timestamp); the rest of the row does not.
        assert used["sessions"] == {"session_id", "model", "first_shot", "final_verdict", "timestamp"}
        assert used["replay_runs"] == {"session_id", "hits"}
        # Where the plan cannot be had, every column the text names is kept instead.
        broken = st.columns_read([("select model, nonsense_column from sessions", {})])
        assert broken["sessions"] == {"model"} and broken["replay_runs"] == {"model"}
        # The planner settings it turns off are global to the database: they are put back.
        assert st.con.execute("select current_setting('disabled_optimizers')").fetchone() == ("",)


def test_a_column_left_unread_raises_rather_than_reading_null(tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a", daemon="gatewayd"), session("b")])
    with open_store(p) as st:
        st.materialize(columns={"sessions": {"model", "session_id"}, "replay_runs": set()})
        assert st.execute("select count(*), min(model) from sessions").rows == [(2, "m-a")]
        # Named but not needed: the statement binds, and the value is never computed.
        assert st.execute("select session_id from (select session_id, daemon from sessions) order by 1").rows == [
            ("a",),
            ("b",),
        ]
        with pytest.raises(ForensicsError, match="column daemon was not read"):
            st.execute("select session_id from sessions where daemon = 'gatewayd'")
        assert st.mode == "strict"  # not mistaken for an unreadable line


def test_narrow_tables_still_say_which_file_each_row_came_from(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [session("a1"), session("a2")])
    b = write_jsonl(tmp_path / "b.jsonl", [session("b1")])
    for files, want in (([a, b], {str(a): 2, str(b): 1}), ([a], {str(a): 2})):
        with open_store(files) as st:
            st.materialize(columns={"sessions": {"session_id"}, "replay_runs": set()})
            assert dict(st.execute("select source_file, count(*) from sessions group by 1").rows) == want
            assert {f.path: f.rows for f in st.scan.files} == want
        with open_store(files) as st:
            st.materialize(columns={"session_id"})  # the alarm's way: a set of names
            assert dict(st.execute("select source_file, count(*) from sessions group by 1").rows) == want


def test_a_replay_stream_no_statement_reads_is_still_counted(tmp_path):
    s = write_jsonl(tmp_path / "s.jsonl", [session("a")])
    r = write_jsonl(tmp_path / "r.jsonl", [replay("a", 2), replay("b", 1)])
    with open_store(s, r) as st:
        st.materialize(replay=True, columns={"sessions": {"model"}, "replay_runs": set()})
        assert {f.path: f.rows for f in st.scan.files} == {str(s): 1, str(r): 2}
