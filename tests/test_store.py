"""Reading honestly: explicit types, every unreadable line counted by cause, never a NULL row."""

from __future__ import annotations

import codecs
import gzip
import json


from forensics.sources import resolve
from forensics.store import Store

from .conftest import replay, session, write_jsonl


def open_store(sessions, replay_runs=None):
    return Store(resolve([str(p) for p in sessions] if isinstance(sessions, list) else str(sessions),
                         None if replay_runs is None else str(replay_runs), env={}))


def test_views_have_explicit_types(tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a", ts="2026-05-02T10:39:29.123456789-05:00")])
    with open_store(p) as st:
        types = dict(st.con.execute("select column_name, column_type from (describe sessions)").fetchall())
        assert types["timestamp"] == "TIMESTAMP WITH TIME ZONE"
        assert types["iterations"] == "BIGINT" and types["grounded_in_roster"] == "BOOLEAN"
        assert types["attempts"].startswith("STRUCT(iteration BIGINT")
        (ts,) = st.execute('select "timestamp" from sessions').rows[0]
        assert ts.isoformat() == "2026-05-02T15:39:29.123456+00:00"  # normalised to UTC


def test_unreadable_lines_counted_by_cause_and_never_null_rows(tmp_path):
    p = tmp_path / "s.jsonl"
    write_jsonl(p, [
        session("ok-1"),
        b"{not json",
        b"[1, 2, 3]",
        b'"just a string"',
        b'{"session_id": "bad-utf8", "prompt": "\xff\xfe"}',
        b"",
        b"   ",
        session("ok-2"),
    ], raw_tail=b'{"session_id": "torn", "kind": "fi')
    with open_store(p) as st:
        scan = st.scan.files[0]
        assert dict(scan.unreadable) == {"invalid_json": 1, "not_object": 2, "invalid_utf8": 1,
                                         "torn_last_line": 1}
        assert scan.rows == 2
        assert [(line, cause) for _, line, cause in scan.bad_lines] == [
            (2, "invalid_json"), (3, "not_object"), (4, "not_object"), (5, "invalid_utf8"),
            (9, "torn_last_line")]
        rows = st.execute("select session_id, source_file, line from sessions order by line").rows
        assert [(r[0], r[2]) for r in rows] == [("ok-1", 1), ("ok-2", 8)]  # physical lines
        assert st.execute("select count(*) from sessions where session_id is null").rows[0][0] == 0
        warning = st.scan.warnings()[0]
        assert "5 unreadable line(s)" in warning and "torn_last_line: 1" in warning


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
        rows = st.execute("select session_id, iterations, grounded_in_roster, grounded_in_roster_raw "
                          "from sessions").rows
        assert rows == [("a", None, None, '"false"')]


def test_huge_line(tmp_path):
    big = session("huge", prompt="x" * (24 * 1024 * 1024))
    p = write_jsonl(tmp_path / "s.jsonl", [session("small"), big, session("after")])
    with open_store(p) as st:
        assert st.scan.unreadable_lines == 0
        assert st.execute("select session_id, length(prompt) from sessions order by line").rows == [
            ("small", 1), ("huge", 24 * 1024 * 1024), ("after", 1)]


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
        rows = st.execute("select session_id, iteration, verdict_kind, error, model from attempts "
                          "order by iteration").rows
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
        assert list(df.columns)[:4] == ["model", "sessions", "first_shot", "rate"]
        assert df["sessions"].sum() > 0
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
