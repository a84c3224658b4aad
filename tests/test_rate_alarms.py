"""The built-in condition alarms, as cron runs them: `first_shot_drop` (a model's first-shot rate over the
last window, below the 28 days before it by Newcombe's interval, with enough calls each side) and
`failure_streak` (a model's last calls all failed); new once, firing, resolved when the condition
clears, no flapping; their thresholds from forensics.toml."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from . import test_alarm_memory
from .conftest import session, write_jsonl
from .test_alarm_memory import _append

alarm_clock = test_alarm_memory.alarm_clock  # the alarm's clock, moved by the test (a fixture)


def _at(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _second_shot(sid: str, model: str, when: datetime) -> dict:
    """Accepted on the second attempt: it reached the model, not a first shot, not a failure."""
    return session(sid, model=model, ts=_at(when), attempts=["validation_failed", "accepted"])


def _warnings(cli, *args) -> dict:
    code, out, _ = cli("alarm", *args, "--format", "json")
    return {(w["alarm"], w["model"]): w for w in json.loads(out)["warnings"]}


@pytest.fixture
def drop_logs(tmp_path, alarm_clock) -> Path:
    """m-drop: 40 first shots over the 28 days before the last day, then 40 second shots in the last day."""
    now = alarm_clock.now
    rows = [session(f"old-{i}", model="m-drop", ts=_at(now - timedelta(days=2, hours=i * 4))) for i in range(40)]
    rows += [_second_shot(f"new-{i}", "m-drop", now - timedelta(minutes=20 + i * 30)) for i in range(40)]
    rows.sort(key=lambda r: r["timestamp"])
    return write_jsonl(tmp_path / "logs" / "sessions.jsonl", rows)


def test_first_shot_drop_is_new_once_then_firing_then_resolved_when_the_window_moves_on(
    cli, drop_logs, tmp_path, alarm_clock
):
    state = tmp_path / "alarm.json"
    args = ("-s", drop_logs, "--state", state, "--since", "1h")
    code, out, err = cli("alarm", *args)
    (line,) = [x for x in out.splitlines() if x.startswith("NEW")]
    assert code == 0 and out.startswith("WARNING: 0 new critical, 0 firing, 0 acknowledged, 1 new warning")
    assert line.startswith("NEW      WARN     first_shot_drop  model=m-drop  recent_calls=40  recent_rate=0.000")
    assert "baseline_calls=40  baseline_rate=1.000" in line and "change_high=-" in line
    assert cli("alarm", *args)[:2] == (0, "")  # firing: said once (a warning is not reminded)
    w = _warnings(cli, *args)[("first_shot_drop", "m-drop")]
    assert w["state"] == "firing" and w["severity"] == "warn" and w["row"]["recent_calls"] == 40
    assert cli("alarm", *args, "--fail-on", "warn")[0] == 1
    # the same condition, more rows of it: still the one incident (known by alarm and model)
    _append(drop_logs, [_second_shot("new-x", "m-drop", alarm_clock.now - timedelta(minutes=1))])
    assert cli("alarm", *args)[:2] == (0, "")
    # a day on, the recent calls have left the window: too few to judge, the condition cleared
    alarm_clock.advance(25 * 3600)
    _append(drop_logs, [session("fresh", model="m-other", ts=_at(alarm_clock.now - timedelta(minutes=1)))])
    code, out, _ = cli("alarm", *args)
    (line,) = [x for x in out.splitlines() if x.startswith("RESOLVED")]
    assert code == 0 and line.startswith("RESOLVED WARN     first_shot_drop  model=m-drop") and "first seen" in line
    assert cli("alarm", *args)[:2] == (0, "")
    assert [e for e in _events_of(state)] == ["new", "resolved"]


def _events_of(state: Path) -> list[str]:
    path = state.with_name(state.stem + ".events.jsonl")
    return [json.loads(x)["event"] for x in path.read_text().splitlines()]


def test_first_shot_drop_needs_a_real_change_and_enough_calls_each_side(cli, tmp_path, alarm_clock):
    now = alarm_clock.now
    rows = []
    # m-few: a collapse, but 20 calls in the last day: too few to judge
    rows += [session(f"f-old-{i}", model="m-few", ts=_at(now - timedelta(days=3, minutes=i))) for i in range(40)]
    rows += [_second_shot(f"f-new-{i}", "m-few", now - timedelta(minutes=10 + i)) for i in range(20)]
    # m-noise: 60% then 55% first shots over 40 calls each: a point drop, no real change
    for i in range(40):
        old = session(f"n-old-{i}", model="m-noise", ts=_at(now - timedelta(days=3, minutes=i)))
        rows.append(old if i < 24 else _second_shot(old["session_id"], "m-noise", now - timedelta(days=3, minutes=i)))
        new_at = now - timedelta(minutes=10 + i)
        rows.append(
            session(f"n-new-{i}", model="m-noise", ts=_at(new_at))
            if i < 22
            else _second_shot(f"n-{i}", "m-noise", new_at)
        )
    log = write_jsonl(tmp_path / "s.jsonl", rows)
    assert _warnings(cli, "-s", log, "--state", tmp_path / "a.json") == {}
    # with the threshold lowered in forensics.toml, m-few is judged, and found
    cfg = tmp_path / "forensics.toml"
    cfg.write_text('[alarms.first_shot_drop]\nmin_calls = 20\nwindow = "2h"\nbaseline = "7d"\n')
    found = _warnings(cli, "-s", log, "--state", tmp_path / "b.json", "--config", cfg)
    assert set(found) == {("first_shot_drop", "m-few")}
    assert found[("first_shot_drop", "m-few")]["row"]["recent_calls"] == 20


def test_failure_streak_new_resolved_and_no_flapping_within_repeat(cli, tmp_path, alarm_clock):
    cfg = tmp_path / "forensics.toml"
    cfg.write_text("[alarms.failure_streak]\ncalls = 2\n")
    now = alarm_clock.now

    def rows(verdicts, minute):
        return [
            session(f"x-{minute}-{i}", model="m-x", verdict=v, ts=_at(now - timedelta(minutes=minute - i)))
            for i, v in enumerate(verdicts)
        ]

    log = write_jsonl(tmp_path / "s.jsonl", rows(["accepted", "infra_error", "max_iter_exhausted"], 50))
    args = ("-s", log, "--state", tmp_path / "a.json", "--config", cfg)
    code, out, _ = cli("alarm", *args)
    (line,) = [x for x in out.splitlines() if x.startswith("NEW")]
    assert code == 0 and line.startswith("NEW      WARN     failure_streak  model=m-x  calls=2")
    assert "max_iter_exhausted=1  infra_error=1" in line
    (w,) = json.loads(cli("alarm", *args, "--format", "json")[1])["warnings"]
    assert w["incident"].startswith("forensics incident x-50-2 ")  # the newest failed call's session
    _append(log, rows(["accepted"], 40))  # the streak is broken: resolved, said once
    code, out, _ = cli("alarm", *args)
    (line,) = [x for x in out.splitlines() if x.startswith(("RESOLVED", "NEW", "REMINDER"))]
    assert line.startswith("RESOLVED WARN     failure_streak  model=m-x")
    # hovering: back, gone, back again within --repeat: not one word more
    _append(log, rows(["infra_error", "infra_error"], 30))
    assert cli("alarm", *args)[:2] == (0, "")
    assert _warnings(cli, *args)[("failure_streak", "m-x")]["state"] == "firing"
    _append(log, rows(["accepted"], 20))
    assert cli("alarm", *args)[:2] == (0, "")
    _append(log, rows(["infra_error", "infra_error"], 10))
    assert cli("alarm", *args)[:2] == (0, "")
    # a --repeat after the last word said, still failing: said once more
    alarm_clock.advance(24 * 3600 + 60)
    code, out, _ = cli("alarm", *args)
    (line,) = [x for x in out.splitlines() if x.startswith(("RESOLVED", "NEW", "REMINDER"))]
    assert line.startswith("REMINDER failure_streak: 1 row firing since ")
    assert cli("alarm", *args)[:2] == (0, "")
    assert _events_of(tmp_path / "a.json") == ["new", "resolved", "new", "resolved", "new", "reminded"]


def test_thresholds_a_config_cannot_hold_are_usage_errors(cli, tmp_path):
    log = write_jsonl(tmp_path / "s.jsonl", [session("a", ts=_at(datetime.now(UTC)))])
    for text, said in (
        ("[alarms.failure_streak]\ncalls = 0\n", "calls must be a whole number >= 1"),
        ('[alarms.failure_streak]\ncalls = "5"\n', "calls must be a whole number >= 1"),
        ('[alarms.first_shot_drop]\nwindow = "2026-12-01"\n', "window must be an age"),
        ("[alarms.first_shot_drop]\nmin_call = 3\n", "has no threshold 'min_call'"),
        ("[alarms.nope]\ncalls = 3\n", "[alarms.nope] is not a table of thresholds"),
    ):
        cfg = tmp_path / "forensics.toml"
        cfg.write_text(text)
        code, out, err = cli("alarm", "-s", log, "--config", cfg)
        assert code == 2 and said in out + err, (text, out, err)


def test_the_condition_alarms_run_as_named_queries_with_their_defaults(cli, drop_logs):
    code, out, _ = cli("run", "first_shot_drop", "-s", drop_logs, "--format", "json")
    (row,) = json.loads(out)
    assert code == 0 and row["model"] == "m-drop" and row["change_high"] < 0
    code, out, _ = cli("run", "failure_streak", "-s", drop_logs, "--param", "calls=3", "--format", "json")
    assert code == 0 and json.loads(out) == []


def test_the_sql_interval_is_the_report_s_newcombe_interval():
    import duckdb

    from forensics.measures import MACROS
    from forensics.report.weekly import newcombe_interval

    con = duckdb.connect()
    con.execute(MACROS)
    for k1, n1, k0, n0 in ((10, 40, 30, 40), (0, 30, 30, 30), (29, 31, 1, 35), (5, 5, 0, 7)):
        low, high, l1, h1, l0, h0 = con.execute(
            "select newcombe_low($k1, $n1, $k0, $n0), newcombe_high($k1, $n1, $k0, $n0), "
            "wilson_low($k1, $n1), wilson_high($k1, $n1), wilson_low($k0, $n0), wilson_high($k0, $n0)",
            {"k1": k1, "n1": n1, "k0": k0, "n0": n0},
        ).fetchone()
        want = newcombe_interval(k1 / n1, l1, h1, k0 / n0, l0, h0)
        assert (low, high) == pytest.approx(want, abs=1e-12), (k1, n1, k0, n0)
