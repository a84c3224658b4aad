"""Adversarial pass 5: today's replay guard (one json_transform), the store's report (the trend's
days loaded, the coverage from the manifest and the end days' files), the alarm's cached views
and the ingest's small row groups, each against what a cold read or a store opened afresh says."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from forensics.read.sources import resolve
from forensics.report.weekly import build_report
from forensics.store.connect import open_store
from forensics.store.connection import Store
from forensics.store.ingest import ingest
from forensics.timewindow import resolve_week

from .conftest import replay, session, write_jsonl

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
    "no_valid_time_only": ([session("n1", ts="not a time"), session("n2", ts=12345), session("n3", ts=None)], []),
    "empty": ([], []),
}


@pytest.mark.parametrize("case", list(REPORT_CASES))
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
