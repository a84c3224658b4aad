"""The alarm's memory, as cron runs it: new, firing, reminded, acknowledged, resolved; the capped storm;
warnings once; the silent self-test; the appending --store-failures; `forensics incident`."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from .conftest import _clean, _ts, replay, session, write_jsonl


def _append(path: Path, rows) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def _events(folder: Path) -> list[str]:
    path = folder / "alarm-events.jsonl"
    return [json.loads(x)["event"] for x in path.read_text().splitlines()] if path.exists() else []


class _Clock:
    """The time `forensics alarm` runs at, moved only by the test: a --repeat of 1s is then
    passed (or not) by exactly the time the test says, however long each run takes."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def alarm_clock(monkeypatch) -> _Clock:
    """Every alarm run through the CLI reads its time from the returned clock (AlarmOptions.now)."""
    from forensics.oncall import alarm as alarm_mod

    clock, real = _Clock(), alarm_mod.evaluate

    def at_the_clock(opts, *args, **kwargs):
        opts.checks.now = clock.now
        return real(opts, *args, **kwargs)

    monkeypatch.setattr(alarm_mod, "evaluate", at_the_clock)
    return clock


# --- the states, through the CLI as cron runs it ------------------------------------------------


def test_new_then_silent_while_firing_then_one_reminder_after_repeat(cli, logs, tmp_path, alarm_clock):
    st = tmp_path / "store"
    code, out, err = cli("alarm", "--store", st, "-s", logs)
    lines = out.splitlines()
    assert code == 1 and lines[0].startswith(
        "ALARM: 1 new critical, 0 firing, 0 acknowledged, 0 new warnings, 0 resolved; checked 1 file, 6 rows"
    )
    assert lines[1].startswith("about ungrounded_accepted: ")  # the alarm's description, once
    assert lines[2].startswith("NEW      CRITICAL ungrounded_accepted") and "session=BAD-1" in lines[2]
    assert lines[3] == f"  incident: forensics incident BAD-1 --store {st}"
    # the same violation again: exit 1 stays (a monitor stays red), nothing is mailed
    assert cli("alarm", "--store", st) == (1, "", "")
    assert cli("alarm", "--store", st, "--repeat", "1h") == (1, "", "")
    alarm_clock.advance(1.2)
    code, out, _ = cli("alarm", "--store", st, "--repeat", "1s")
    (line,) = [x for x in out.splitlines() if x.startswith("REMINDER")]
    assert code == 1 and line.startswith("REMINDER ungrounded_accepted: 1 row firing since ")
    assert f"forensics ack --all --alarm ungrounded_accepted --store {st}" in line
    # ... and which session it is about, with its incident command
    assert out.splitlines()[-1] == f"  incident: forensics incident BAD-1 --store {st}"
    assert out.startswith("ALARM: 0 new critical, 1 firing")
    alarm_clock.advance(0.5)
    assert cli("alarm", "--store", st, "--repeat", "1s") == (1, "", "")  # reminded once per --repeat
    assert _events(st) == ["new", "reminded"]


def test_acknowledged_is_silent_exit_0_listed_under_verbose_and_json(cli, logs, tmp_path):
    st = tmp_path / "store"
    assert cli("alarm", "--store", st, "-s", logs)[0] == 1
    before = (st / "alarm-state.json").read_text()
    code, out, err = cli("ack", "BAD-1", "NOPE-2", "--store", st)
    assert code == 2 and "'NOPE-2'" in err and "nothing acknowledged" in err
    assert (st / "alarm-state.json").read_text() == before  # a typo acknowledges nothing
    code, out, _ = cli("ack", "BAD-1", "--note", "roster sync lagged\x1b[2J", "--store", st)
    assert code == 0 and "1 violation acknowledged" in out
    assert cli("alarm", "--store", st) == (0, "", "")
    code, out, _ = cli("alarm", "--store", st, "--verbose")
    assert code == 0 and out.startswith("CLEAN: 0 new critical, 0 firing, 1 acknowledged")
    (acked,) = [x for x in out.splitlines() if x.startswith("ACKED")]
    assert "session=BAD-1" in acked and ": roster sync lagged\\x1b[2J" in acked
    code, out, _ = cli("alarm", "--store", st, "--format", "json")
    (v,) = json.loads(out)["violations"]
    assert code == 0 and v["state"] == "acknowledged" and v["note"] == "roster sync lagged\x1b[2J"
    assert v["acknowledged_by"] and v["first_seen"] <= v["acknowledged_at"]
    assert cli("ack", "BAD-1", "--store", st)[0] == 2  # nothing open is left to acknowledge
    assert _events(st) == ["new", "acknowledged"]


def test_a_new_violation_after_an_acknowledgement_is_new(cli, logs, tmp_path):
    st = tmp_path / "store"
    cli("alarm", "--store", st, "-s", logs)
    assert cli("ack", "--all", "--store", st)[0] == 0
    # the same session fails again later (another call), and another session too
    _append(logs, [session("BAD-1", grounded=False, ts=_ts(0.5)), session("BAD-2", grounded=False, ts=_ts(0.4))])
    code, out, _ = cli("alarm", "--store", st)
    new = [x for x in out.splitlines() if x.startswith("NEW")]
    assert code == 1 and out.startswith("ALARM: 2 new critical, 0 firing, 1 acknowledged")
    assert [x.split("session=")[1].split()[0] for x in new] == ["BAD-1", "BAD-2"]


@pytest.mark.slow
def test_a_row_gone_from_the_store_is_resolved_once(cli, tmp_path):
    old = (datetime.now(UTC) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    log = write_jsonl(tmp_path / "sessions.jsonl", _clean() + [session("OLD-BAD", grounded=False, ts=old)])
    st = tmp_path / "store"
    assert cli("alarm", "--store", st, "-s", log, "--since", "1h")[0] == 1
    # out of the window, still firing: a window is not a resolution
    assert cli("alarm", "--store", st, "--since", "1h") == (1, "", "")
    code, out, _ = cli("ingest", "--store", st, "--retain", "7d")
    assert code == 0 and "1 file of days past the retention dropped" in out
    # gone before anyone acknowledged it: not resolved, firing as gone, said once (issue 23, class 2)
    code, out, _ = cli("alarm", "--store", st, "--since", "1h")
    assert code == 1 and out.startswith("ALARM: 0 new critical, 1 firing, 0 acknowledged, 0 new warnings, 0 resolved")
    (line,) = [x for x in out.splitlines() if x.startswith("GONE")]
    assert "session=OLD-BAD" in line and "gone from the logs before it was acknowledged" in line
    assert cli("alarm", "--store", st, "--since", "1h") == (1, "", "")  # said once
    code, out, err = cli("incident", "OLD-BAD", "--store", st)  # the memory shows it without the row
    assert code == 0 and "ungrounded_accepted" in out, err
    assert cli("ack", "OLD-BAD", "--store", st)[0] == 0
    code, out, _ = cli("alarm", "--store", st, "--since", "1h")
    assert code == 0 and out.startswith("CLEAN: 0 new critical, 0 firing, 0 acknowledged, 0 new warnings, 1 resolved")
    (line,) = [x for x in out.splitlines() if x.startswith("RESOLVED")]
    assert "session=OLD-BAD" in line and "first seen" in line
    assert cli("alarm", "--store", st, "--since", "1h") == (0, "", "")  # said once
    assert _events(st) == ["new", "gone", "acknowledged", "resolved"]
    # retention is the store's: the next ingest (and the alarm's) keeps applying it
    assert json.loads((st / "manifest.json").read_text())["retain_days"] == 7


def test_reading_nothing_resolves_nothing(cli, logs, tmp_path):
    state = tmp_path / "alarm.json"
    assert cli("alarm", "-s", logs, "--state", state)[0] == 1
    aside = logs.with_name("aside.jsonl")
    logs.rename(aside)
    code, out, err = cli("alarm", "-s", logs, "--state", state)
    assert code == 3 and "RESOLVED" not in out + err
    aside.rename(logs)
    code, out, err = cli("alarm", "-s", logs, "--state", state)  # still firing, not new again
    assert code == 1 and err == "" and "NEW" not in out and "RESOLVED" not in out
    assert "RECOVERED evaluated again" in out  # the file it could not read is back: said once
    # the file left for good (logrotate deleted it): the row is gone; unacknowledged, it stays
    # firing as gone (issue 23, class 2), and once acknowledged it is resolved, once
    write_jsonl(logs, _clean())
    code, out, _ = cli("alarm", "-s", logs, "--state", state)
    assert code == 1 and "GONE     CRITICAL ungrounded_accepted" in out and "session=BAD-1" in out
    assert cli("ack", "BAD-1", "--state", state)[0] == 0
    code, out, _ = cli("alarm", "-s", logs, "--state", state)
    assert code == 0 and "RESOLVED CRITICAL ungrounded_accepted" in out and "session=BAD-1" in out


def test_the_identity_survives_rotation_and_compression(cli, logs, tmp_path):
    state = tmp_path / "alarm.json"
    assert cli("alarm", "-s", logs, "--state", state)[0] == 1
    import gzip

    rotated = logs.with_name("sessions.jsonl.1.gz")
    rotated.write_bytes(gzip.compress(logs.read_bytes()))
    write_jsonl(logs, _clean(3, model="m-b"))
    folder = logs.parent
    code, out, err = cli("alarm", "-s", folder, "--state", state, "--format", "json")
    (v,) = json.loads(out)["violations"]
    assert code == 1 and v["state"] == "firing" and v["source_file"].endswith("sessions.jsonl.1.gz"), out
    assert cli("alarm", "-s", folder, "--state", state) == (1, "", "")


def test_a_damaged_state_is_named_not_reset(cli, logs, tmp_path):
    state = tmp_path / "alarm.json"
    state.write_text("{not json")
    code, out, err = cli("alarm", "-s", logs, "--state", state)
    assert code == 3 and str(state) in out + err and "move it aside" in out + err
    assert state.read_text() == "{not json"


# --- what cron mails --------------------------------------------------------------------------


def test_a_storm_prints_the_summary_first_grouped_and_at_most_max_rows_in_all(cli, tmp_path):
    rows = _clean() + [session(f"STORM-{i:04d}", grounded=False, ts=_ts(5 - i / 1000)) for i in range(300)]
    rows += [session(f"WARN-{i}", grounded=None, ts=_ts(3)) for i in range(3)]
    log = write_jsonl(tmp_path / "sessions.jsonl", rows)
    st = tmp_path / "store"
    code, out, _ = cli("alarm", "--store", st, "-s", log, "--max-rows", "20")
    lines = out.splitlines()
    assert code == 1 and lines[0].startswith("ALARM: 300 new critical, 0 firing, 0 acknowledged, 3 new warnings")
    # grouped (by alarm, model and daemon), each group's first rows in turn: 20 rows in all
    assert "300 new · ungrounded_accepted · model=m-a · daemon=validatord" in lines
    assert "3 new · unverified_accepted_fill · model=m-a · daemon=validatord" in lines
    crit = [x for x in lines if x.startswith("NEW      CRITICAL")]
    assert len(crit) == 17 and len([x for x in lines if x.startswith("NEW      WARN")]) == 3
    (more,) = [x for x in lines if x.startswith("...")]
    assert more.startswith(f"... and 283 more ungrounded_accepted rows: forensics run ungrounded_accepted --store {st}")
    assert len(lines) < 60
    code, out, _ = cli("alarm", "--store", st, "--format", "json")
    data = json.loads(out)
    assert len(data["violations"]) == 300 and {v["state"] for v in data["violations"]} == {"firing"}
    assert data["summary"] == {"new_critical": 0, "new_warnings": 0, "firing": 303, "acknowledged": 0, "resolved": 0}


def test_warnings_are_mailed_once_with_exit_0(cli, tmp_path, alarm_clock):
    log = write_jsonl(tmp_path / "sessions.jsonl", _clean() + [session("WARN-1", grounded=None, ts=_ts(2))])
    state = tmp_path / "alarm.json"
    code, out, _ = cli("alarm", "-s", log, "--state", state)
    assert code == 0 and out.startswith("WARNING: 0 new critical, 0 firing, 0 acknowledged, 1 new warning")
    assert any(x.startswith("NEW      WARN     unverified_accepted_fill") for x in out.splitlines())
    assert cli("alarm", "-s", log, "--state", state) == (0, "", "")
    alarm_clock.advance(1.1)
    assert cli("alarm", "-s", log, "--state", state, "--repeat", "1s") == (0, "", "")  # no reminder for a warning
    # where warnings fail the run, they behave as critical ones: exit 1 while firing, reminded
    other = tmp_path / "other.json"
    assert cli("alarm", "-s", log, "--state", other, "--fail-on", "warn")[0] == 1
    assert cli("alarm", "-s", log, "--state", other, "--fail-on", "warn") == (1, "", "")


def test_without_a_memory_every_row_is_new_on_every_run(cli, logs):
    for _ in range(2):
        code, out, _ = cli("alarm", "-s", logs)
        assert code == 1 and out.startswith("ALARM: 1 new critical") and "silence them" not in out


def test_json_has_the_same_keys_in_every_outcome(cli, logs, tmp_path):
    keys = {
        "status",
        "exit_code",
        "reason",
        "problems",
        "summary",
        "checked",
        "violations",
        "warnings",
        "reminders",
        "resolved",
        "problem_states",
        "recovered",
        "expired_silences",
        "freshness",
    }
    clean = write_jsonl(tmp_path / "c.jsonl", _clean())
    for args in (["-s", clean], ["-s", logs], ["-s", tmp_path / "missing.jsonl"]):
        code, out, _ = cli("alarm", *args, "--format", "json")
        assert set(json.loads(out)) == keys, (code, out)


@pytest.mark.slow
def test_self_test_is_silent_and_leaves_no_file_behind(run_script, tmp_path):
    tmp, cache = tmp_path / "tmp", tmp_path / "cache"
    tmp.mkdir()
    cache.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "XDG_CACHE_HOME": str(cache)}
    res = run_script("alarm", "--self-test", env=env)
    assert (res.returncode, res.stdout, res.stderr) == (0, b"", b"")
    assert [p for p in tmp.rglob("*")] == [] and [p for p in cache.rglob("*") if p.is_file()] == []
    res = run_script("alarm", "--self-test", "--format", "json", env=env)
    assert res.returncode == 0 and json.loads(res.stdout)["status"] == "passed"


def test_store_failures_appends_every_notified_row_once(cli, logs, tmp_path):
    st = tmp_path / "store"
    out_jsonl, out_pq = tmp_path / "inc" / "failures.jsonl", tmp_path / "inc" / "failures.parquet"
    cli("alarm", "--store", st, "-s", logs, "--store-failures", out_jsonl)
    first = out_jsonl.read_text()
    (row,) = [json.loads(x) for x in first.splitlines()]
    assert (row["alarm"], row["severity"], row["state"], row["session_id"]) == (
        "ungrounded_accepted",
        "critical",
        "new",
        "BAD-1",
    )
    assert row["found_at"].endswith("Z") and row["prompt"] == "p" and row["attempts"][0]["verdict_kind"] == "accepted"
    cli("alarm", "--store", st, "--store-failures", out_jsonl)  # firing: nothing notified, nothing appended
    assert out_jsonl.read_text() == first
    _append(logs, [session("BAD-2", grounded=False, ts=_ts(0.5))])
    cli("alarm", "--store", st, "--store-failures", out_jsonl)
    text = out_jsonl.read_text()
    assert text.startswith(first) and [json.loads(x)["session_id"] for x in text.splitlines()] == ["BAD-1", "BAD-2"]
    # Parquet: the same rows, appended by a rewrite that keeps the old ones
    state = tmp_path / "cold.json"
    cli("alarm", "-s", logs, "--state", state, "--store-failures", out_pq)
    _append(logs, [session("BAD-3", grounded=False, ts=_ts(0.2))])
    cli("alarm", "-s", logs, "--state", state, "--store-failures", out_pq)
    got = (
        duckdb.connect()
        .execute("select session_id, alarm, severity, state from read_parquet(?) ", [str(out_pq)])
        .fetchall()
    )
    assert sorted(got) == [
        ("BAD-1", "ungrounded_accepted", "critical", "new"),
        ("BAD-2", "ungrounded_accepted", "critical", "new"),
        ("BAD-3", "ungrounded_accepted", "critical", "new"),
    ]


# --- forensics incident -----------------------------------------------------------------------


@pytest.fixture
def incident_logs(tmp_path):
    """INC-1: two calls (an ungrounded accepted fill from validatord, an exhausted playbook from gateway)
    in two files, two replay runs; the same model's calls around it; another model's calls between."""
    folder = tmp_path / "logs"
    m = "m-x"
    rows_a = [session(f"pre-{i}", model=m, ts=f"2026-11-10T09:0{i}:00Z") for i in range(4)]
    rows_a += [
        session(
            "INC-1",
            model=m,
            ts="2026-11-10T09:30:00Z",
            grounded=False,
            daemon="validatord",
            artifact={"fills": [{"candidate_id": "W-404"}]},
        )
    ]
    rows_a += [session("other-1", model="m-y", ts="2026-11-10T09:31:00Z")]
    rows_a += [
        session(f"post-{i}", model=m, ts=f"2026-11-10T10:0{i}:00Z", verdict="max_iter_exhausted") for i in range(3)
    ]
    rows_b = [
        session(
            "INC-1", model=m, kind="playbook", verdict="max_iter_exhausted", daemon="gateway", ts="2026-11-10T09:45:00Z"
        )
    ]
    write_jsonl(folder / "a" / "sessions.jsonl", rows_a)
    write_jsonl(folder / "b" / "sessions.jsonl", rows_b)
    write_jsonl(
        folder / "replay_runs.jsonl",
        [
            replay("INC-1", 2, model=m, ts="2026-11-10T11:00:00Z", output="the fill"),
            replay("pre-1", 1),
            replay("INC-1", 0, ts="2026-11-10T12:00:00Z", status="error", error="timeout"),
        ],
    )
    return folder


def _check_incident(data: dict, folder: Path) -> None:
    calls = data["calls"]
    assert [(c["session_id"], c["timestamp"], c["daemon"], c["final_verdict"]) for c in calls] == [
        ("INC-1", "2026-11-10T09:30:00Z", "validatord", "accepted"),
        ("INC-1", "2026-11-10T09:45:00Z", "gateway", "max_iter_exhausted"),
    ]
    assert [(Path(c["source_file"]).relative_to(folder).as_posix(), c["line"]) for c in calls] == [
        ("a/sessions.jsonl", 5),
        ("b/sessions.jsonl", 1),
    ]
    assert calls[0]["grounded_in_roster"] is False and calls[0]["artifact"] == {"fills": [{"candidate_id": "W-404"}]}
    assert [(a["verdict_kind"], a["error"]) for a in calls[1]["attempts_in_order"]] == [
        ("validation_failed", "phantom W-100"),
        ("validation_failed", "phantom W-101"),
        ("validation_failed", "phantom W-102"),
    ]
    assert calls[0]["prompt"] == "p" and "attempts" in calls[0]
    runs = data["replay_runs"]
    assert [(r["timestamp"], r["status"], len(r["retrieval"]["hits"])) for r in runs] == [
        ("2026-11-10T11:00:00Z", "ok", 2),
        ("2026-11-10T12:00:00Z", "error", 0),
    ]
    assert runs[0]["retrieval"]["hits"][1] == {"doc_id": "d1", "score": 0.5} and runs[0]["output"] == "the fill"
    assert runs[1]["error"] == "timeout" and runs[0]["line"] == 1 and runs[1]["line"] == 3
    (around,) = data["around"]
    assert around["model"] == "m-x"
    assert [(n["side"], n["session_id"]) for n in around["calls"]] == [
        ("before", "pre-1"),
        ("before", "pre-2"),
        ("before", "pre-3"),
        ("after", "post-0"),
        ("after", "post-1"),
        ("after", "post-2"),
    ]
    assert [a["alarm"] for a in data["alarms"]] == ["ungrounded_accepted"]
    assert data["alarms"][0]["line"] == 5


def test_incident_json_on_the_logs_and_on_a_store(cli, incident_logs, tmp_path):
    src = ["-s", incident_logs / "a", "-s", incident_logs / "b", "-r", incident_logs / "replay_runs.jsonl"]
    code, out, err = cli("incident", "INC-1", *src, "--format", "json", "--around", "3")
    assert code == 0, err
    data = json.loads(out)
    _check_incident(data, incident_logs)
    assert data["alarms"][0]["state"] == "no memory"
    st = tmp_path / "store"
    assert cli("alarm", "--store", st, *src)[0] == 1
    code, out, err = cli("incident", "INC-1", "--store", st, "--format", "json", "--around", "3")
    data = json.loads(out)
    _check_incident(data, incident_logs)
    assert data["alarms"][0]["state"] == "firing" and data["alarms"][0]["first_seen"]


def test_incident_markdown_and_html_escape_untrusted_text(cli, tmp_path):
    from markdown_it import MarkdownIt

    hostile = "x\n```\n# forged\n<script>alert(1)</script>\x1b[31m\u202e"
    row = session(
        "HOST-1", grounded=False, model=hostile, prompt=hostile, ts="2026-11-10T09:30:00Z", artifact={"note": hostile}
    )
    row["attempts"][0]["error"] = hostile
    log = write_jsonl(tmp_path / "s.jsonl", [row])
    rep = write_jsonl(tmp_path / "r.jsonl", [replay("HOST-1", 1, output=hostile, model=hostile)])
    code, md, _ = cli("incident", "HOST-1", "-s", log, "-r", rep)
    assert code == 0 and "\x1b" not in md and "\u202e" not in md
    tokens = MarkdownIt().parse(md)
    assert not [t for t in tokens if t.type in ("html_block", "html_inline")]
    # the text stays inside its code spans and blocks: it never starts a heading of its own
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings and not [h for h in headings if h.startswith("forged")]
    assert all(h.startswith(("Incident", "What", "Calls", "Replay", "The same", "1.")) for h in headings), headings
    out = tmp_path / "inc.html"
    code, _, err = cli("incident", "HOST-1", "-s", log, "-r", rep, "--format", "html", "--out", out)
    html = out.read_text()
    assert code == 0 and "<script>" not in html and "&lt;script&gt;" in html and "\x1b" not in html


def test_incident_of_an_unknown_session_is_a_clear_error(cli, incident_logs):
    code, out, err = cli("incident", "NOPE", "-s", incident_logs / "a")
    assert code == 1 and "no call and no replay run has session_id 'NOPE'" in err


# --- the week's incidents in the report ----------------------------------------------------------


def _a_week_with_room(seconds: float = 120) -> None:
    """Return once the UTC ISO week stays the same for this long."""

    def week(at):
        return at.isocalendar()[:2]

    while week(datetime.now(UTC)) != week(datetime.now(UTC) + timedelta(seconds=seconds)):
        time.sleep(0.5)


def test_the_report_lists_the_week_s_incidents_and_how_long_each_went_unacknowledged(cli, logs, tmp_path):
    _a_week_with_room()  # the incidents, their acknowledgement and this week's report share one week
    st = tmp_path / "store"
    _append(logs, [session("BAD-2", grounded=False, ts=_ts(1))])
    cli("alarm", "--store", st, "-s", logs)
    assert cli("ack", "BAD-1", "--note", "known | cause", "--store", st)[0] == 0
    year, week, _ = datetime.now(UTC).isocalendar()
    code, md, _ = cli("report", "--store", st, "--week", f"{year}-W{week:02d}")
    section = md.split("## Incidents", 1)[1].split("\n## ", 1)[0]
    rows = [x for x in section.splitlines() if x.startswith("| 20")]
    assert code == 0 and len(rows) == 2
    bad1, bad2 = sorted(rows, key=lambda r: "BAD-2" in r)
    assert "`BAD-1`" in bad1 and "by `" in bad1 and "`known \\| cause`" in bad1 and "so far" not in bad1
    assert "`BAD-2`" in bad2 and "**not yet**" in bad2 and "so far" in bad2
    code, html, _ = cli("report", "--store", st, "--week", f"{year}-W{week:02d}", "--format", "html")
    incidents = html.split("<h2>Incidents</h2>", 1)[1].split("<h2>", 1)[0]
    assert code == 0 and incidents.count("<code>BAD-") == 2 and "<strong>not yet</strong>" in incidents
    # last week's report: both were opened after it ended
    last = datetime.now(UTC) - timedelta(days=7)
    y, w, _ = last.isocalendar()
    code, md, _ = cli("report", "--store", st, "--week", f"{y}-W{w:02d}")
    assert "No incident was opened this week, and none was open at its start." in md


def test_incident_history_of_a_week():
    from forensics.oncall.history import history

    start, end = datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)

    def ev(at, kind, key, **kw):
        return {
            "at": at,
            "event": kind,
            "identity": key,
            "alarm": "a",
            "severity": "critical",
            "session_id": key,
            **kw,
        }

    events = [
        ev("2026-11-10T00:00:00Z", "new", "closed-before"),
        ev("2026-11-12T00:00:00Z", "acknowledged", "closed-before"),
        ev("2026-11-15T22:00:00Z", "new", "carried"),
        ev("2026-11-16T04:00:00Z", "acknowledged", "carried", by="ann"),
        ev("2026-11-18T10:00:00Z", "new", "open"),
        ev("2026-11-19T00:00:00Z", "new", "again"),
        ev("2026-11-19T01:00:00Z", "resolved", "again"),
        ev("2026-11-20T00:00:00Z", "new", "again"),
        {"at": "2026-11-20T00:00:00Z", "event": "reminded", "alarm": "a", "count": 3},
        ev("2026-11-24T00:00:00Z", "new", "after"),
    ]
    got = [
        (r["session_id"], r["unacknowledged_s"] / 3600, r["open"])
        for r in history(events, start, end, now=datetime(2026, 12, 1, tzinfo=UTC))
    ]
    assert got == [("carried", 6.0, False), ("open", 5 * 24 - 10, True), ("again", 1.0, False), ("again", 3 * 24, True)]


def test_a_usage_error_says_so_and_exits_2(cli, logs):
    code, out, err = cli("alarm", "-s", logs, "--repeat", "soon")
    assert code == 2 and "forensics alarm: usage error:" in out + err and "could not evaluate" not in out + err
