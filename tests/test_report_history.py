"""A store's weekly report reads its week's days and counts the rest from the manifest (issue 26):
its answer is the cold read's, whatever lies outside the trend's weeks."""

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


def _rows(first: int, days: list[str], *, model: str = "m-a") -> list[dict]:
    """Sessions on each day, with replay-able ids, verdicts of each kind and attempts."""
    out = []
    for i, day in enumerate(days):
        verdict = ("accepted", "max_iter_exhausted", "infra_error")[i % 3]
        attempts = ["validation_failed", "accepted"] if i % 4 == 0 and verdict == "accepted" else None
        out.append(
            session(
                f"s{first + i}", model=model, verdict=verdict, attempts=attempts, ts=f"{day}T{10 + i % 9}:00:00+02:00"
            )
        )
    return out


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """Logs with months of history before the trend, odd times, and replay runs of other days."""
    root = tmp_path_factory.mktemp("history")
    history = [(datetime(2026, 3, 2) + timedelta(days=3 * k)).date().isoformat() for k in range(40)]
    week = [f"2026-11-{d:02d}" for d in range(9, 16)] * 3
    earlier = [f"2026-10-{d:02d}" for d in range(5, 30, 2)]
    sessions = _rows(0, history) + _rows(1000, earlier, model="m-b") + _rows(2000, week)
    sessions += [
        session("s-notime", ts="not a time"),  # in no day: `day=unknown`
        session("s-wrongtype", ts=12345),
        session("s-offset", ts="2026-11-15T23:30:00-05:00"),  # W46 locally, W47 in UTC
    ]
    # Replay runs of the week's sessions, run months before and after them (wrong clocks, late replays).
    replays = [
        replay(f"s{2000 + i}", i % 5, ts="2026-04-01T00:00:00Z" if i % 2 else "2027-02-01T00:00:00Z") for i in range(21)
    ]
    replays += [replay(f"s{i}", 3, ts="2026-03-02T12:00:00Z") for i in range(10)]
    s = write_jsonl(root / "sessions.jsonl", sessions)
    r = write_jsonl(root / "replay_runs.jsonl", replays)
    return root, s, r


def _report(store) -> dict:
    return build_report(store, resolve_week(WEEK), trend_weeks=4, now=NOW)


def _comparable(data: dict) -> str:
    """The report's figures; not what only a store has (its alarm memory: incidents, silences, open counts)."""
    figures = {k: v for k, v in data.items() if k not in ("basis", "incidents", "silences", "alarms")}
    figures["alarms"] = [{k: v for k, v in a.items() if k != "open"} for a in data["alarms"]]
    figures["files"] = sorted((f["file"], f["stream"], f["rows"]) for f in data["basis"]["files"])
    return json.dumps(figures, default=str, sort_keys=True)


def test_a_store_s_report_is_the_cold_read_s_with_a_tail_and_history(logs, tmp_path):
    root, s, r = logs
    store = tmp_path / "store"
    ingest(store, [str(s)], [str(r)])
    # Lines after the ingest stay a tail: the oldest and the newest row are among them.
    with open(s, "a", encoding="utf-8") as fh:
        for row in (session("s-tail-old", ts="2026-01-05T00:00:00Z"), session("s-tail-new", ts="2026-11-19T08:00:00Z")):
            fh.write(json.dumps(row) + "\n")
    try:
        with Store(resolve([str(s)], [str(r)], env={})) as cold:
            want = _report(cold)
        with open_store(store) as st:
            got = _report(st)
    finally:
        lines = s.read_bytes().splitlines(keepends=True)
        s.write_bytes(b"".join(lines[:-2]))
    assert want["models"] and want["depth"], "the week must have calls and replay runs to compare"
    assert _comparable(got) == _comparable(want)
    for key in ("rows", "oldest", "newest"):
        assert got["basis"][key] == want["basis"][key], key
    assert want["basis"]["oldest"].date().isoformat() == "2026-01-05"
    assert want["basis"]["newest"].date().isoformat() == "2026-11-19"
    assert want["basis"]["rows"] == 40 + 13 + 21 + 3 + 2


def test_a_store_s_report_reads_only_the_trend_s_days_of_sessions(logs, tmp_path):
    """March's days past the first, damaged in place (their size kept, so the store still opens),
    are never read: the coverage reads the first and the last day's files only."""
    root, s, r = logs
    store = tmp_path / "store"
    ingest(store, [str(s)], [str(r)])
    march = sorted((store / "sessions").glob("day=2026-03-*/*.parquet"))[1:]
    assert len(march) > 5
    for f in march:
        f.write_bytes(b"\0" * f.stat().st_size)
    with open_store(store) as st:
        data = _report(st)
        assert data["models"] and data["basis"]["rows"] == 40 + 13 + 21 + 3
    with open_store(store) as st, pytest.raises(Exception, match=r"(?i)parquet|magic"):  # (they are damaged)
        st.execute("select count(*) from sessions where \"timestamp\" < '2026-04-01'")
    assert data["basis"]["oldest"].date().isoformat() == "2026-03-02"
