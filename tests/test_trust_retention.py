"""Retention never drops what the alarm has not evaluated: a row dated past `--retain` (a wrong
clock, a backfill) is held until every alarm memory reading the store has evaluated it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import _clean, _ts, session, write_jsonl

DAY = 60 * 24


def _append(log: Path, rows) -> None:
    with open(log, "a", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def _stored_ids(cli, st: Path) -> set[str]:
    code, out, err = cli("sql", "select session_id from sessions", "--store", st, "-f", "json")
    assert code == 0, err
    return {r["session_id"] for r in json.loads(out)}


def _backfill(tmp_path: Path) -> Path:
    """A live log of clean rows, and a store of it kept 30 days (the README's "once: ingest")."""
    return write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean())


@pytest.mark.default_keeps(1)
def test_a_violation_dated_past_the_retention_is_alarmed_on_before_it_is_dropped(cli, tmp_path):
    log, st = _backfill(tmp_path), tmp_path / "store"
    assert cli("alarm", "--store", st, "-s", log, "--since", "1h")[0] == 0
    assert cli("ingest", "--store", st, "--retain", "30d")[0] == 0
    # a backfill (or a producer whose clock is a year behind) writes a violation 200 days old
    _append(log, [session("OLD-BAD", grounded=False, ts=_ts(200 * DAY))])
    code, out, err = cli("alarm", "--store", st, "--since", "1h")
    assert code == 1 and "NEW" in out and "session=OLD-BAD" in out, (out, err)
    # evaluated: the next run's retention drops it, and the unacknowledged row stays firing as gone
    code, out, err = cli("alarm", "--store", st, "--since", "1h")
    assert code == 1 and "GONE" in out and "OLD-BAD" in out, (out, err)
    assert "OLD-BAD" not in _stored_ids(cli, st)
    assert cli("alarm", "--store", st, "--since", "1h") == (1, "", "")


def test_the_once_ingest_keeps_old_days_until_the_first_alarm_has_seen_them(cli, tmp_path):
    log = write_jsonl(
        tmp_path / "logs" / "sessions.jsonl",
        [session("ANCIENT-BAD", grounded=False, ts=_ts(400 * DAY)), *_clean()],
    )
    st = tmp_path / "store"
    code, out, err = cli("ingest", "--store", st, "-s", log, "--retain", "90d")
    assert code == 0 and "no alarm has evaluated their rows yet" in err and "1 kept for the alarm" in out, (out, err)
    assert "ANCIENT-BAD" in _stored_ids(cli, st)
    code, out, _ = cli("alarm", "--store", st, "--since", "1h")
    assert code == 1 and "session=ANCIENT-BAD" in out
    code, out, _ = cli("ingest", "--store", st)
    assert code == 0 and "1 file of days past the retention dropped" in out
    assert "ANCIENT-BAD" not in _stored_ids(cli, st)


def _two_memories_and_an_old_violation(cli, tmp_path: Path) -> tuple[Path, Path]:
    """A store read by its own memory and a second --state; a violation 100 days old arrives and
    the store's own alarm evaluates it."""
    log, st = _backfill(tmp_path), tmp_path / "store"
    other = tmp_path / "team-b.json"
    assert cli("alarm", "--store", st, "-s", log, "--since", "1h")[0] == 0
    assert cli("alarm", "--store", st, "--state", other, "--since", "1h")[0] == 0
    assert cli("ingest", "--store", st, "--retain", "30d")[0] == 0
    _append(log, [session("OLD-BAD", grounded=False, ts=_ts(100 * DAY))])
    assert cli("alarm", "--store", st, "--since", "1h")[0] == 1
    return st, other


@pytest.mark.default_keeps(1)
def test_every_memory_reading_the_store_must_have_evaluated_a_row_before_it_goes(cli, tmp_path):
    st, other = _two_memories_and_an_old_violation(cli, tmp_path)
    assert cli("ingest", "--store", st)[1].count("kept for the alarm") == 1  # team B's has not seen it
    code, out, _ = cli("alarm", "--store", st, "--state", other, "--since", "1h")
    assert code == 1 and "session=OLD-BAD" in out
    code, out, _ = cli("ingest", "--store", st)
    assert "1 file of days past the retention dropped" in out
    assert "OLD-BAD" not in _stored_ids(cli, st)


def test_a_memory_removed_no_longer_holds_rows_back(cli, tmp_path):
    st, other = _two_memories_and_an_old_violation(cli, tmp_path)
    other.unlink()  # team B's alarm was taken out of cron, its memory with it
    code, out, _ = cli("ingest", "--store", st)
    assert "1 file of days past the retention dropped" in out, out


def test_a_store_no_alarm_reads_drops_by_day_when_told_and_an_alarm_undoes_that(cli, tmp_path):
    log = write_jsonl(
        tmp_path / "logs" / "sessions.jsonl",
        [session("ANCIENT", ts=_ts(400 * DAY)), *_clean()],
    )
    st = tmp_path / "store"
    code, out, err = cli("ingest", "--store", st, "-s", log, "--retain", "90d", "--retain-unevaluated")
    assert code == 0 and "1 file of days past the retention dropped" in out and "kept" not in err, (out, err)
    assert "ANCIENT" not in _stored_ids(cli, st)
    # an alarm now reads the store: from here on, rows it has not evaluated are held again
    assert cli("alarm", "--store", st, "--since", "1h")[0] == 0
    _append(log, [session("LATE-BAD", grounded=False, ts=_ts(300 * DAY))])
    code, out, _ = cli("ingest", "--store", st)
    assert code == 0 and "1 kept for the alarm" in out, out
    code, out, _ = cli("alarm", "--store", st, "--since", "1h")
    assert code == 1 and "session=LATE-BAD" in out


def test_a_rebuilt_store_is_not_taken_for_the_one_an_alarm_evaluated(cli, tmp_path):
    import shutil

    log, st = _backfill(tmp_path), tmp_path / "store"
    assert cli("alarm", "--store", st, "-s", log, "--since", "1h")[0] == 0
    kept = tmp_path / "kept-state.json"
    shutil.copy(st / "alarm-state.json", kept)
    assert cli("alarm", "--store", st, "--state", kept, "--since", "1h")[0] == 0
    shutil.rmtree(st)  # rebuilt from the logs, with an old violation among them
    _append(log, [session("OLD-BAD", grounded=False, ts=_ts(100 * DAY))])
    assert cli("ingest", "--store", st, "-s", log, "--retain", "30d")[0] == 0
    assert "OLD-BAD" in _stored_ids(cli, st)
    code, out, _ = cli("alarm", "--store", st, "--state", kept, "--since", "1h")
    assert code == 1 and "session=OLD-BAD" in out
