"""Adversarial pass 5: today's replay guard (one json_transform), the store's report (the trend's
days loaded, the coverage from the manifest and the end days' files), the alarm's cached views
and the ingest's small row groups, each against what a cold read or a store opened afresh says."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from forensics.read.sources import resolve
from forensics.report.weekly import build_report
from forensics.store.connect import open_store
from forensics.store.connection import Store
from forensics.store.ingest import ingest
from forensics.timewindow import resolve_week

from .conftest import mostly_slow, replay, session, write_jsonl

WEEK = "2026-W46"
NOW = datetime(2026, 11, 20, tzinfo=UTC)
IN_WEEK = [f"2026-11-{d:02d}T1{d % 10}:00:00Z" for d in range(9, 16)]


def _week_rows(prefix: str = "w") -> list[dict]:
    verdicts = ("accepted", "max_iter_exhausted", "infra_error")
    return [session(f"{prefix}{i}", verdict=verdicts[i % 3], ts=t) for i, t in enumerate(IN_WEEK)]


def _comparable(data: dict) -> str:
    """The report's figures and basis, less what only a store has (its alarm memory)."""
    figures = {k: v for k, v in data.items() if k not in ("basis", "incidents", "silences", "alarms")}
    figures["alarms"] = [{k: v for k, v in a.items() if k != "open"} for a in data["alarms"]]
    figures["files"] = sorted((f["file"], f["stream"], f["rows"]) for f in data["basis"]["files"])
    figures["coverage"] = [str(data["basis"][k]) for k in ("rows", "oldest", "newest")]
    return json.dumps(figures, default=str, sort_keys=True)


def _report(store, week: str = WEEK, now: datetime = NOW, trend_weeks: int = 4) -> dict:
    return build_report(store, resolve_week(week), trend_weeks=trend_weeks, now=now)


def _held(store_dir) -> list[str]:
    """What the store holds, read whole by a store opened afresh (the coverage's old definition)."""
    with open_store(store_dir) as st:
        return [str(v) for v in st.execute('select count(*), min("timestamp"), max("timestamp") from sessions').rows[0]]


# -- the report on a store: its coverage and figures against a cold read -------------------------

# Each case: (sessions written before the ingest, sessions appended after it (a tail)).
REPORT_CASES = {
    # UTC past 9999 (its day sorts before every other) and before 2000, offsets carrying the first
    # and the last row across UTC midnight, and a tail past both: DuckDB hands a time past 9999
    # over as text, which Python cannot order among datetimes.
    "odd_times_at_both_ends_and_in_the_tail": (
        _week_rows()
        + [
            session("far", ts="9999-12-31T23:59:59-05:00"),
            session("early", ts="2000-01-01T00:30:00+01:00"),
            session("first", ts="2026-03-02T01:00:00+05:00"),  # 2026-03-01T20:00Z
            session("first-b", ts="2026-03-01T23:30:00-05:00"),  # 2026-03-02T04:30Z
            session("last", ts="2026-11-19T23:30:00-05:00"),  # 2026-11-20T04:30Z
            session("last-b", ts="2026-11-20T03:00:00+05:00"),  # 2026-11-19T22:00Z
        ],
        [session("tail-far", ts="9999-12-31T23:00:00-05:00"), session("tail-old", ts="2000-01-01T00:00:00+00:30")],
    ),
    "only_a_tail": ([], _week_rows("t")),
    "only_history_before_the_trend": ([session(f"h{i}", ts=f"2025-0{1 + i}-15T12:00:00+09:00") for i in range(4)], []),
    "no_valid_time_only": ([session("n1", ts="not a time"), session("n2", ts=12345), session("n3", ts=None)], []),
    "empty": ([], []),
}


@pytest.mark.parametrize("case", mostly_slow(list(REPORT_CASES), {"odd_times_at_both_ends_and_in_the_tail"}))
def test_a_store_s_report_is_the_cold_read_s_and_its_coverage_what_it_holds(case, tmp_path):
    before, after = REPORT_CASES[case]
    s = write_jsonl(tmp_path / "sessions.jsonl", before)
    r = write_jsonl(tmp_path / "replay_runs.jsonl", [replay("w0", 2), replay("t0", 1), replay("w4", 0)])
    ingest(tmp_path / "store", [str(s)], [str(r)])
    with open(s, "a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in after)
    with Store(resolve([str(s)], [str(r)], env={})) as cold:
        want = _report(cold)
    with open_store(tmp_path / "store") as st:
        got = _report(st)
    if case == "empty":  # (a store lists no file it holds no row of: not today's change)
        for data in (got, want):
            data["basis"]["files"] = [f for f in data["basis"]["files"] if f["rows"]]
    assert _comparable(got) == _comparable(want)
    assert [str(got["basis"][k]) for k in ("rows", "oldest", "newest")] == _held(tmp_path / "store")
    assert got["basis"]["rows"] == len(before) + len(after)


@pytest.fixture(scope="module")
def kept_and_compacted(tmp_path_factory):
    """A store that retention cut (its first days gone) and compaction merged, and the logs it read."""
    root = tmp_path_factory.mktemp("retained")
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=d) for d in range(0, 40, 3)]
    first = [session(f"a{i}", ts=d.isoformat()) for i, d in enumerate(days)]
    second = [session(f"b{i}", ts=(d - timedelta(hours=11)).isoformat()) for i, d in enumerate(days)]
    s = write_jsonl(root / "sessions.jsonl", first)
    r = write_jsonl(root / "replay_runs.jsonl", [replay("a0", 2, ts=today.isoformat())])
    store = root / "store"
    ingest(store, [str(s)], [str(r)])
    with open(s, "a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in second)
    ingest(store, compact=True, retain_days=20, retain_unevaluated=True)
    return store, s, r, today


@pytest.mark.slow
def test_a_retained_and_compacted_store_s_report_counts_what_it_holds(kept_and_compacted):
    store, s, r, today = kept_and_compacted
    manifest = json.loads((store / "manifest.json").read_text())
    days = sorted(f["day"] for f in manifest["files"] if f["stream"] == "sessions")
    assert days and days[0] >= (today - timedelta(days=19)).date().isoformat()  # retention dropped the first days
    assert len(days) == len(set(days))  # compaction merged each day's two batches
    week = "{}-W{:02d}".format(*today.isocalendar()[:2])
    with open_store(store) as st:
        got = _report(st, week=week, now=today, trend_weeks=2)
    with Store(resolve([str(s)], [str(r)], env={})) as cold:
        want = _report(cold, week=week, now=today, trend_weeks=2)
    assert got["models"] and got["models"] == want["models"]
    assert [str(got["basis"][k]) for k in ("rows", "oldest", "newest")] == _held(store)
    assert got["basis"]["rows"] < want["basis"]["rows"]  # (the cold read still has the dropped days)


@pytest.mark.slow
def test_a_store_read_with_sources_it_does_not_hold_counts_them_as_its_tail(tmp_path):
    """`report --store S -s OTHER`: OTHER is read as a tail beside every stored row."""
    s = write_jsonl(tmp_path / "sessions.jsonl", _week_rows())
    other = write_jsonl(tmp_path / "other" / "sessions.jsonl", [session("o1", ts="2026-11-18T01:00:00+03:00")])
    r = write_jsonl(tmp_path / "replay_runs.jsonl", [replay("w0", 2)])
    ingest(tmp_path / "store", [str(s)], [str(r)])
    with open_store(tmp_path / "store", [str(other)]) as st:
        got = _report(st)
    with open_store(tmp_path / "store", [str(other)]) as st:
        held = [str(v) for v in st.execute('select count(*), min("timestamp"), max("timestamp") from sessions').rows[0]]
    assert [str(got["basis"][k]) for k in ("rows", "oldest", "newest")] == held != ["0", "None", "None"]
    assert got["basis"]["rows"] == len(IN_WEEK) + 1


# -- the replay guard: one json_transform for the guard and the typing ------------------------------

GOOD = replay("g", 1)
_R = {k: v for k, v in GOOD.items() if k != "schema"}  # a replay row of an older producer (no schema)
# Each line alone after a good one: the strict reader must read it as a row exactly when the format's
# rule (`is_row` over the line as Python parses it) says so; any other line it leaves to the check.
ODD_LINES = {
    "retrieval_null_alone": {"retrieval": None},
    "retrieval_string_alone": {"retrieval": "x"},
    "retrieval_number_alone": {"retrieval": 0},
    "retrieval_false_alone": {"retrieval": False},
    "retrieval_array_alone": {"retrieval": []},
    "retrieval_empty_object_alone": {"retrieval": {}},
    "retrieval_nested_nulls_alone": {"retrieval": {"query": None, "k": None, "hits": [None, {"doc_id": None}]}},
    "retrieval_huge": {**_R, "retrieval": {"query": "q" * 50_000, "hits": [{"doc_id": str(i)} for i in range(3000)]}},
    "every_key_null": {k: None for k in _R},
    "schema_null_and_keys_null": {"schema": None, "session_id": None, "retrieval": None},
    "schema_not_a_string": {"schema": 5, "session_id": "x"},
    "schema_of_sessions": {**_R, "schema": "session.iterate.v1"},
    "final_verdict_null": {**_R, "final_verdict": None},
    "attempts_null": {**_R, "attempts": None},
    "final_verdict_present": {**_R, "final_verdict": "accepted"},
    "final_verdict_wrong_type": {**_R, "final_verdict": 5},
    "attempts_empty_list": {**_R, "attempts": []},
    "attempts_wrong_type": {**_R, "attempts": "none"},
    "keys_that_are_prefixes": {"retrieval_x": 1, "session": "a", "sessions_id": "b", "final": "c"},
    "keys_in_another_case": {"Retrieval": {}, "SESSION_ID": "a"},
    "unknown_keys_only": {"foo": 1},
}
RAW_LINES = {
    "array": "[1, 2]",
    "array_of_a_row": json.dumps([GOOD]),
    "number": "5",
    "string": '"x"',
    "null": "null",
    "repeated_retrieval": json.dumps(_R)[:-1] + ', "retrieval": null}',
    "repeated_retrieval_null_first": '{"retrieval": null, "retrieval": {}}',
    "repeated_schema": json.dumps(GOOD)[:-1] + ', "schema": "session.iterate.v1"}',
    "repeated_unknown_key": json.dumps(GOOD)[:-1] + ', "x": 1, "x": 2}',
    "repeated_final_verdict": json.dumps(_R)[:-1] + ', "final_verdict": null, "final_verdict": "accepted"}',
}


def _lines() -> dict[str, str]:
    return {**{k: json.dumps(v) for k, v in ODD_LINES.items()}, **RAW_LINES}


def _rows_read(store) -> list[int]:
    return [r[0] for r in store.execute("select line from replay_runs order by line").rows]


@pytest.fixture(scope="module")
def odd_replay(tmp_path_factory):
    """Every odd line in one replay log between good ones, that log read cold and stored."""
    root = tmp_path_factory.mktemp("odd")
    lines = list(_lines().values())
    body = [json.dumps(GOOD)] + [x for line in lines for x in (line, json.dumps(GOOD))]
    s = write_jsonl(root / "sessions.jsonl", [session("g")])
    r = write_jsonl(root / "replay_runs.jsonl", body)
    ingest(root / "store", [str(s)], [str(r)])
    return root, s, r, body


@pytest.mark.parametrize(
    "name",
    mostly_slow(
        list(_lines()),
        {"retrieval_null_alone", "retrieval_string_alone", "final_verdict_null", "repeated_retrieval", "array"},
    ),
)
def test_the_strict_replay_reader_reads_a_line_as_a_row_exactly_when_the_format_says(name, tmp_path):
    from forensics.read.columns import is_row

    line = _lines()[name]
    try:
        obj = json.loads(line)  # (Python keeps a repeated key's last copy, as the check does)
    except ValueError:
        obj = None
    want_row = isinstance(obj, dict) and is_row(obj, "replay_runs")
    s = write_jsonl(tmp_path / "sessions.jsonl", [session("g")])
    r = write_jsonl(tmp_path / "replay_runs.jsonl", [json.dumps(GOOD), line])
    with Store(resolve([str(s)], [str(r)], env={})) as cold:
        assert _rows_read(cold) == ([1, 2] if want_row else [1])
        scan = {f.stream: f for f in cold.scan.files}["replay_runs"]
        assert (scan.rows, sum(scan.unreadable.values())) == ((2, 0) if want_row else (1, 1))


@pytest.mark.slow
def test_the_cold_read_the_store_and_doctor_agree_on_every_odd_replay_line(odd_replay):
    from forensics.doctor.logs import diagnose

    root, s, r, body = odd_replay
    with Store(resolve([str(s)], [str(r)], env={})) as cold:
        cold_rows = cold.execute("select line, * exclude (line, source_file) from replay_runs order by line").rows
        cold_scan = {f.stream: f for f in cold.scan.files}["replay_runs"]
    with open_store(root / "store") as st:
        stored = st.execute("select line, * exclude (line, source_file) from replay_runs order by line").rows
        store_scan = {f.stream: f for f in st.scan.files}["replay_runs"]
    with Store(resolve([str(s)], [str(r)], env={})) as again:
        health = diagnose(again).as_dict()
    assert [row[0] for row in stored] == [row[0] for row in cold_rows]
    assert [tuple(map(str, row)) for row in stored] == [tuple(map(str, row)) for row in cold_rows]
    assert (store_scan.rows, store_scan.bad_lines) == (cold_scan.rows, cold_scan.bad_lines)
    doc = next(f for f in health["files"] if f["stream"] == "replay_runs")
    assert doc["rows"] == cold_scan.rows and health["unreadable_lines"] == sum(cold_scan.unreadable.values())
    good_lines = set(range(1, len(body) + 1, 2))
    assert good_lines <= {row[0] for row in cold_rows} and sum(cold_scan.unreadable.values()) > 5


# -- the alarm's loads on one connection: views, variables and types built once ---------------------


def _alarm_logs(root, *, replay_tail: bool, sessions_tail: bool):
    """A store of sessions over weeks (two ingests) with a tail of sessions or of replay runs only."""
    days = [NOW - timedelta(days=d, hours=h) for d in range(0, 30, 2) for h in (1, 13)]
    verdicts = ("accepted", "max_iter_exhausted", "infra_error")
    rows = [
        session(f"a{i}", verdict=verdicts[i % 3], grounded=None if i % 5 == 0 else True, ts=t.isoformat())
        for i, t in enumerate(days)
    ]
    rows.append(session("a-notime", ts="not a time"))
    s = write_jsonl(root / "sessions.jsonl", rows[: len(rows) // 2])
    r = write_jsonl(root / "replay_runs.jsonl", [] if replay_tail else [replay("a1", 2)])
    ingest(root / "store", [str(s)], [str(r)])
    with open(s, "a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in rows[len(rows) // 2 : -4])
    ingest(root / "store")
    if sessions_tail:
        with open(s, "a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(row) + "\n" for row in rows[-4:])
    if replay_tail:
        write_jsonl(r, [replay("a1", 2), replay("a-notime", 0, ts="2020-01-01T00:00:00Z")])
    return root / "store", days


@pytest.mark.slow
@pytest.mark.parametrize(
    "tails", [{"replay_tail": False, "sessions_tail": True}, {"replay_tail": True, "sessions_tail": False}]
)
def test_the_alarm_s_loads_on_one_connection_answer_as_a_store_opened_for_each(tails, tmp_path):
    """Window after window (the alarm's, one no file holds, a condition alarm's lookback, every row
    since a batch), a store with a tail of one stream only and replay runs with or without Parquet
    files: each answer is the one a store opened afresh gives."""
    from forensics.oncall.window import gather

    store, days = _alarm_logs(tmp_path, **tails)
    loads = [
        {"since": days[4], "after_batch": 1, "lines": True},
        {"since": NOW + timedelta(days=400), "after_batch": 2, "lines": True},
        {"since": days[10], "after_batch": None, "lines": True, "lookback": days[-1]},
        {"since": NOW - timedelta(hours=30), "after_batch": 0, "lines": True, "lookback": days[6]},
        {"since": days[4], "after_batch": 1, "lines": True},
    ]

    def answers(st, load):
        got = gather(st, now=NOW, **load)
        ids = [r[0] for r in st.execute("select session_id from sessions order by 1 limit 2").rows]
        rows = st.execute("select * from replay_runs order by all").rows
        return [json.dumps(got, default=str, sort_keys=True), st.sessions_present(["none", "a-notime", *ids]), rows]

    with open_store(store) as again:
        for load in loads:
            with open_store(store) as fresh:
                want = answers(fresh, load)
            assert answers(again, load) == want, load
    with open_store(store) as fresh:
        first = answers(fresh, loads[0])
    assert json.loads(first[0])[0][0] > 0 and any(json.loads(first[0])[3])  # (rows, and an alarm's rows)


UNREPLAYED = """-- name: unreplayed_accepted
-- kind: alarm
-- severity: warn
-- description: Accepted sessions no replay run names.
select
    session_id,
    "timestamp",
    model,
    source_file,
    line
from sessions as s
where final_verdict = 'accepted'
    and not exists (
        select 1
        from replay_runs as r
        where r.session_id = s.session_id
    )
"""


def test_a_user_s_alarm_joining_replay_runs_reads_them_whatever_their_day_on_a_store(cli, tmp_path):
    """The store's window prunes session files by day; a replay run is joined by id, whatever its own
    (wrong) clock: the store's alarm must not page a session whose replay run lies outside the window."""
    queries = tmp_path / "q"
    queries.mkdir()
    (queries / "unreplayed_accepted.sql").write_text(UNREPLAYED)
    now = datetime.now(UTC)
    s = write_jsonl(
        tmp_path / "sessions.jsonl",
        [session(f"x{i}", ts=(now - timedelta(hours=2 + i)).isoformat()) for i in range(2)],
    )
    r = write_jsonl(tmp_path / "replay_runs.jsonl", [replay("x0", 1, ts=(now - timedelta(days=40)).isoformat())])
    runs = {
        "cold": ["-s", s, "-r", r, "--state", tmp_path / "state.json"],
        "store": ["--store", tmp_path / "store", "-s", s, "-r", r],
    }
    said = {}
    for way, args in runs.items():
        for _ in range(2):  # the second run evaluates the window only
            code, out, _ = cli("alarm", *args, "--queries-dir", queries, "--since", "1d", "-f", "json")
        data = json.loads(out)
        said[way] = (code, data["summary"], [(a["alarm"], a["session_id"]) for a in data["warnings"]])
    assert said["store"] == said["cold"]
    assert said["cold"][2] == [("unreplayed_accepted", "x1")] and said["cold"][1]["firing"] == 1


# -- the ingest's small row groups: a batch of many days -----------------------------------------


@pytest.mark.slow
def test_a_batch_of_more_days_than_open_files_is_stored_whole_under_each_row_s_utc_day(tmp_path):
    """Days interleaved line by line, more of them than DuckDB keeps files open (100): every row is
    stored once, under its UTC day, with the cold read's values."""
    start = datetime(2024, 2, 28, 23, 30, tzinfo=UTC)
    rows = [
        session(
            f"s{d}-{k}",
            ts=(start + timedelta(days=d, minutes=k)).astimezone(timezone(timedelta(hours=-5))).isoformat(),
            prompt=f"p{d}",
        )
        for k in range(3)
        for d in range(130)
    ]
    s = write_jsonl(tmp_path / "sessions.jsonl", rows)
    r = write_jsonl(tmp_path / "replay_runs.jsonl", [replay(f"s{d}-0", d % 3) for d in range(130)])
    ingest(tmp_path / "store", [str(s)], [str(r)])
    sql = 'select session_id, "timestamp", prompt, line from sessions order by all'
    with Store(resolve([str(s)], [str(r)], env={})) as cold:
        want = cold.execute(sql).rows
    with open_store(tmp_path / "store") as st:
        assert st.execute(sql).rows == want
    files = json.loads((tmp_path / "store" / "manifest.json").read_text())["files"]
    days = {}
    for f in files:
        if f["stream"] == "sessions":
            days[f["day"]] = days.get(f["day"], 0) + f["rows"]
    assert days == {d: 3 for d in {t.astimezone(UTC).date().isoformat() for _, t, _, _ in want}}
    assert len(want) == 390


@pytest.mark.slow
def test_store_failures_from_a_store_s_alarm_are_the_cold_read_s_rows(cli, tmp_path):
    """--store-failures after the alarm's loads (its window, then a condition alarm's lookback, the
    views built once): the full rows written are the cold read's, on the first run and the next."""
    now = datetime.now(UTC)
    rows = [session(f"old{i}", grounded=False, ts=(now - timedelta(days=20 + i)).isoformat()) for i in range(3)]
    s = write_jsonl(tmp_path / "sessions.jsonl", rows)
    r = write_jsonl(tmp_path / "replay_runs.jsonl", [replay("old0", 1)])
    runs = {
        "cold": ["-s", s, "-r", r, "--state", tmp_path / "state.json"],
        "store": ["--store", tmp_path / "store", "-s", s, "-r", r],
    }
    written = {}
    for way, args in runs.items():
        out = tmp_path / f"{way}.jsonl"
        for new in ([], [session("new1", grounded=False, ts=(now - timedelta(hours=1)).isoformat())]):
            with open(s, "a", encoding="utf-8") as fh:
                fh.writelines(json.dumps(x) + "\n" for x in new)
            code, _, err = cli("alarm", *args, "--since", "2d", "--store-failures", out)
            assert code == 1, err
        written[way] = [
            {k: v for k, v in json.loads(line).items() if k != "found_at"} for line in out.read_text().splitlines()
        ]
        s.write_text("".join(json.dumps(x) + "\n" for x in rows))
    assert written["store"] == written["cold"]
    assert sorted(w["session_id"] for w in written["cold"]) == ["new1", "old0", "old1", "old2"]


# -- the console script's app of one command -----------------------------------------------------


def test_the_console_script_s_one_command_app_says_what_the_full_app_says_for_every_command():
    """Every command and group, asked for help or given a bogus option: the app built for
    it alone answers as the full app does (its help lists the same commands, its errors the same)."""
    from typer.main import get_command
    from typer.testing import CliRunner

    from forensics.cli import app
    from forensics.cli.main import app_for

    names = sorted(get_command(app).commands)
    assert {"alarm", "report", "ingest", "silence"} <= set(names)
    runner = CliRunner()
    for name in names:
        for args in ([name, "--help"], [name, "--no-such-option"], [name, "--help", "--no-such-option"]):
            full, alone = (runner.invoke(a, args) for a in (app, app_for(args)))
            assert (alone.exit_code, alone.stdout, alone.stderr) == (full.exit_code, full.stdout, full.stderr), args


@pytest.mark.parametrize("way", mostly_slow(["cold", "store"], {"store"}))
def test_a_load_without_replay_rows_after_one_with_them_reads_replay_runs_as_a_fresh_load(way, tmp_path):
    """`materialize` is public (a notebook loads as it likes): a load that reads no replay row, after
    one that did, left `replay_runs` reading the emptied table (no rows, or a binder error)."""
    s = write_jsonl(tmp_path / "sessions.jsonl", _week_rows())
    r = write_jsonl(tmp_path / "replay_runs.jsonl", [replay("w0", 2), replay("w1", 1, ts="2026-01-01T00:00:00Z")])
    if way == "store":
        ingest(tmp_path / "store", [str(s)], [str(r)])

    def opened():
        return open_store(tmp_path / "store") if way == "store" else Store(resolve([str(s)], [str(r)], env={}))

    # (each load names what its statements read: replay_runs, so a store reads them whatever their day)
    loads = [
        {"replay": True},
        {"since": NOW - timedelta(days=8), "window_only": True, "columns": {"model", "replay_runs", "hits"}},
        {"since": NOW - timedelta(days=8), "window_only": True, "columns": {"hits"}, "replay": True},
        {"columns": {"model", "final_verdict", "replay_runs", "hits"}},
    ]
    sql = "select session_id, hits, source_file, line from replay_runs order by all"
    with opened() as again:
        for load in loads:
            again.materialize(**load)
            with opened() as fresh:
                fresh.materialize(**load)
                want = fresh.execute(sql).rows
            assert again.execute(sql).rows == want, load
            assert len(want) == 2


def test_a_time_past_year_9999_is_written_as_every_time_is_in_the_report_and_doctor(cli, tmp_path):
    """An offset carries `9999-12-31T23:59:59-05:00` past year 9999 in UTC, which DuckDB hands over as
    text: the report (cold and on a store) and doctor wrote it with a Python datetime's methods and
    stopped on "unexpected TypeError/AttributeError" instead of printing it."""
    s = write_jsonl(tmp_path / "sessions.jsonl", [*_week_rows(), session("far", ts="9999-12-31T23:59:59.25-05:00")])
    r = write_jsonl(tmp_path / "replay_runs.jsonl", [replay("w0", 2)])
    ingest(tmp_path / "store", [str(s)], [str(r)])
    for source in (["-s", s, "-r", r], ["--store", tmp_path / "store"]):
        code, out, err = cli("report", *source, "--week", WEEK)
        assert code == 0 and "and 10000-01-01T04:59:59Z" in out, err
    code, out, err = cli("doctor", "-s", s, "-r", r)
    assert "unexpected" not in err and ".. 10000-01-01T04:59:59.25Z" in out, err


@pytest.mark.slow
def test_incident_after_a_store_s_alarm_says_what_it_says_after_a_cold_read_s(cli, tmp_path):
    now = datetime.now(UTC)
    rows = [
        session(f"x{i}", grounded=i % 2 == 0, ts=(now - timedelta(hours=3 * i, minutes=1)).isoformat())
        for i in range(8)
    ]
    s = write_jsonl(tmp_path / "sessions.jsonl", rows)
    r = write_jsonl(tmp_path / "replay_runs.jsonl", [replay("x1", 2, ts=(now - timedelta(days=30)).isoformat())])
    runs = {
        "cold": (["-s", s, "-r", r, "--state", tmp_path / "state.json"],) * 2,
        "store": (["--store", tmp_path / "store", "-s", s, "-r", r], ["--store", tmp_path / "store"]),
    }
    said = {}
    for way, (alarm_args, incident_args) in runs.items():
        code, _, err = cli("alarm", *alarm_args, "--since", "1d")
        assert code == 1, err
        said[way] = []
        for sid in ("x1", "x3"):
            code, out, err = cli("incident", sid, *incident_args, "-f", "json")
            data = json.loads(out)
            for a in data["alarms"]:
                a.pop("first_seen"), a.pop("last_notified")
            said[way].append((code, {k: v for k, v in data.items() if k != "generated_at"}))
    assert said["store"] == said["cold"] and all(d["alarms"] for _, d in said["cold"])
