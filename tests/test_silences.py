"""Silences, as cron and the person paged use them: add (matchers, regex, --force), list, expire; the
alarm hushes what they cover (exit 0, listed with the silence under --verbose and in JSON), says
once what fires again when one ends, and the events log and the weekly report keep them."""

from __future__ import annotations

import json
import os
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from . import test_alarm_memory
from .conftest import _clean, _ts, session, write_jsonl
from .test_alarm_memory import _append, _events

alarm_clock = test_alarm_memory.alarm_clock  # the alarm's clock, moved by the test (a fixture)


@pytest.fixture
def two_bad(tmp_path) -> Path:
    """A live log: clean rows, an ungrounded fill from each daemon (BAD-V of validatord, BAD-G of gateway)."""
    return write_jsonl(
        tmp_path / "logs" / "sessions.jsonl",
        _clean()
        + [
            session("BAD-V", grounded=False, ts=_ts(3), model="qwen3.5:latest"),
            session("BAD-G", grounded=False, ts=_ts(2), daemon="gateway", model="llama3.1:8b"),
        ],
    )


def _silence(cli, st, *args) -> str:
    code, out, err = cli("silence", "add", *args, "--store", st)
    assert code == 0, err
    return out.strip()


def _json(cli, *args) -> dict:
    code, out, err = cli(*args, "--format", "json")
    return json.loads(out)


def test_a_silence_hushes_what_it_matches_exit_0_and_is_listed_with_its_id(cli, two_bad, tmp_path, alarm_clock):
    st = tmp_path / "store"
    code, out, err = cli("silence", "add", "daemon=gateway", "--store", st, "--for", "2h")
    assert code == 2 and "--comment" in err  # the comment is required
    cli("ingest", "--store", st, "-s", two_bad)
    sid = _silence(cli, st, "daemon=gateway", "--for", "2h", "--comment", "gateway redeploy")
    assert len(sid) == 8 and int(sid, 16) >= 0
    code, out, _ = cli("alarm", "--store", st)
    assert code == 1 and "session=BAD-V" in out and "BAD-G" not in out  # only the row it does not cover
    assert out.startswith("ALARM: 1 new critical, 0 firing, 0 acknowledged, 0 new warnings, 0 resolved, 1 silenced")
    assert cli("ack", "BAD-V", "--store", st)[0] == 0
    assert cli("alarm", "--store", st) == (0, "", "")  # the silenced row leaves the exit code 0, as an ack does
    code, out, _ = cli("alarm", "--store", st, "--verbose")
    (line,) = [x for x in out.splitlines() if x.startswith("SILENCED")]
    assert code == 0 and "session=BAD-G" in line and line.endswith(f"silenced by {sid}")
    data = _json(cli, "alarm", "--store", st)
    states = {v["session_id"]: (v["state"], v.get("silenced_by")) for v in data["violations"]}
    assert states == {"BAD-V": ("acknowledged", None), "BAD-G": ("silenced", sid)}
    listed = _json(cli, "silence", "list", "--store", st)["silences"]
    assert [(s["id"], s["matchers"], s["comment"], s["status"]) for s in listed] == [
        (sid, ['daemon="gateway"'], "gateway redeploy", "active")
    ]
    assert "@" in listed[0]["created_by"]  # user@host
    code, out, _ = cli("silence", "list", "--store", st)
    assert out.startswith(f"{sid}  active ") and "# gateway redeploy" in out


@pytest.mark.default_keeps(1)
def test_a_row_that_arrives_while_silenced_is_hushed_and_fires_once_the_silence_expires(
    cli, two_bad, tmp_path, alarm_clock
):
    st = tmp_path / "store"
    assert cli("alarm", "--store", st, "-s", two_bad)[0] == 1
    assert cli("ack", "--all", "--store", st)[0] == 0
    sid = _silence(cli, st, "alarm=~ungrounded_.*", "model=~qwen.*", "--for", "1h", "--comment", "maintenance")
    _append(two_bad, [session("BAD-Q", grounded=False, ts=_ts(1), model="qwen3.5:max")])
    _append(two_bad, [session("BAD-L", grounded=False, ts=_ts(1), model="xqwen")])  # anchored: not matched
    code, out, _ = cli("alarm", "--store", st)
    assert code == 1 and "session=BAD-L" in out and "BAD-Q" not in out
    assert cli("ack", "BAD-L", "--store", st)[0] == 0
    assert cli("alarm", "--store", st) == (0, "", "")
    alarm_clock.advance(3700)  # the silence ends by the alarm's clock
    code, out, _ = cli("alarm", "--store", st)
    assert code == 1 and f"silence {sid} expired: 1 still firing (ungrounded_accepted)" in out
    assert "NEW " not in out and "REMINDER" not in out
    assert cli("alarm", "--store", st) == (1, "", "")  # said once; it fires again (exit 1)
    assert "silence-added" in _events(st) and _events(st).count("silence-ended") == 1


def test_expire_by_hand_re_arms_at_the_next_run_and_an_unknown_id_is_a_usage_error(cli, two_bad, tmp_path):
    st = tmp_path / "store"
    cli("ingest", "--store", st, "-s", two_bad)
    sid = _silence(cli, st, "severity=critical", "session_id=~BAD-.*", "--for", "1d", "--comment", "all of them")
    assert cli("alarm", "--store", st)[:2] == (0, "")  # both rows new, both covered: nothing said
    code, out, err = cli("silence", "expire", "nope", "--store", st)
    assert code == 2 and "no silence 'nope'" in err
    assert cli("silence", "expire", sid, "--store", st) == (0, f"silence {sid} expired\n", "")
    assert cli("silence", "expire", sid, "--store", st)[0] == 2  # already ended
    code, out, _ = cli("alarm", "--store", st)
    assert code == 1 and f"silence {sid} expired: 2 still firing" in out
    assert _json(cli, "silence", "list", "--store", st)["silences"] == []
    (ended,) = _json(cli, "silence", "list", "--all", "--store", st)["silences"]
    assert ended["status"] == "expired" and ended["expired_by"]
    assert [e for e in _events(st) if e.startswith("silence")] == ["silence-added", "silence-expired", "silence-ended"]


def test_a_silence_of_every_critical_alarm_needs_force(cli, two_bad, tmp_path):
    st = tmp_path / "store"
    cli("ingest", "--store", st, "-s", two_bad)
    for matchers in ([], ["severity=critical"], ["model!=nothing"], ["alarm=~.*"], ["alarm=~ungrounded.*", "kind=~.*"]):
        code, _, err = cli("silence", "add", *matchers, "--for", "1h", "--comment", "x", "--store", st)
        assert code == 2 and "--force" in err, matchers
    assert not (st / "alarm-silences.json").exists()
    for matchers in (["model=qwen3.5:latest"], ["alarm=ungrounded_accepted"], ["severity=warn"]):
        _silence(cli, st, *matchers, "--for", "1h", "--comment", "narrow")
    _silence(cli, st, "--for", "1h", "--comment", "everything, on purpose", "--force")
    assert len(_json(cli, "silence", "list", "--store", st)["silences"]) == 4


def test_matchers_and_times_are_checked(cli, tmp_path):
    state = tmp_path / "alarm.json"
    for args, said in (
        (["colour=red", "--for", "1h"], "no label 'colour'"),
        (["model=~(", "--for", "1h"], "not a regular expression"),
        (["model:x", "--for", "1h"], "not a matcher"),
        (["model=x"], "--for AGE"),
        (["model=x", "--for", "2 fortnights"], "--for takes an age"),
        (["model=x", "--until", "2026-12-08T04:00:00"], "no offset"),
        (["model=x", "--until", "2020-01-01T00:00:00Z"], "not after now"),
        (["model=x", "--until", "0001-01-01T00:30:00+01:00"], "past the calendar"),
        (["model=x", "--until", "9999-12-31T23:59:59-01:00"], "past the calendar"),
        (["model=x", "--for", "9" * 5000 + "h"], "past the calendar"),
    ):
        code, _, err = cli("silence", "add", *args, "--comment", "c", "--state", state)
        assert code == 2 and said in err, (args, err)
    later = (datetime.now(UTC) + timedelta(hours=3)).astimezone(tz=None).isoformat()
    sid = _json(cli, "silence", "add", 'model="a b"', "--until", later, "--comment", "c", "--state", state)["id"]
    (s,) = _json(cli, "silence", "list", "--state", state)["silences"]
    assert s["id"] == sid and s["matchers"] == ['model="a b"'] and s["ends_at"].endswith("Z")  # stored in UTC
    assert (tmp_path / "alarm.silences.json").exists() and (tmp_path / "alarm.events.jsonl").exists()


def test_a_damaged_silence_file_is_a_problem_said_not_a_crash_and_hides_nothing(cli, two_bad, tmp_path):
    st = tmp_path / "store"
    cli("ingest", "--store", st, "-s", two_bad)
    _silence(cli, st, "daemon=gateway", "--for", "1h", "--comment", "c")
    (st / "alarm-silences.json").write_text('{"silences": [{"id": 3}]}')
    code, out, err = cli("alarm", "--store", st)
    assert code == 1 and "session=BAD-G" in out and "session=BAD-V" in out
    assert "alarm-silences.json cannot be read (silence 1: not a silence with an id)" in out + err
    code, _, err = cli("silence", "list", "--store", st)
    assert code == 1 and "cannot be read" in err and "Traceback" not in err
    (st / "alarm-silences.json").write_text("{not json")
    assert cli("silence", "add", "model=x", "--for", "1h", "--comment", "c", "--store", st)[0] == 1


def test_silences_are_private_to_the_memory_and_a_concurrent_add_loses_nothing(two_bad, tmp_path):
    from forensics.oncall.alarm import AlarmOptions, evaluate
    from forensics.oncall.memory import Memory
    from forensics.oncall.silences import add_silence, list_silences

    st = tmp_path / "store"
    memory = Memory.of_store(st)
    opts = AlarmOptions(store=st, sessions=[str(two_bad)], config="/dev/null")
    added: list[str] = []
    inside = threading.Event()

    def say(outcome):  # the alarm holds the memory's lock while it says what it found
        inside.set()
        worker = threading.Thread(
            target=lambda: added.append(add_silence(memory, ["model=x"], lasts="1h", comment="c")["id"])
        )
        worker.start()
        worker.join(0.3)
        assert worker.is_alive()  # waiting for the lock, not writing beside the alarm
        say.worker = worker

    evaluate(opts, say=say)
    say.worker.join(30)
    assert inside.is_set() and [s["id"] for s in list_silences(memory)] == added
    mode = os.stat(st / "alarm-silences.json").st_mode & 0o777
    assert mode == os.stat(st / "alarm-state.json").st_mode & 0o777


def test_the_report_lists_the_week_s_silences_in_its_incidents_section(cli, two_bad, tmp_path):
    st = tmp_path / "store"
    cli("ingest", "--store", st, "-s", two_bad)
    sid = _silence(cli, st, "daemon=gateway", "--for", "1h", "--comment", "gateway <redeploy>")
    assert cli("alarm", "--store", st)[0] == 1
    week = datetime.now(UTC).strftime("%G-W%V")
    code, out, err = cli("report", "--store", st, "--week", week)
    assert code == 0, err
    assert f'| silence `{sid}` | `daemon="gateway"` |' in out and "`gateway <redeploy>`" in out
    assert f"| `BAD-G` | silenced (`{sid}`) |" in out
    code, html, _ = cli("report", "--store", st, "--week", week, "--format", "html")
    assert "gateway &lt;redeploy&gt;" in html


def test_matchers_read_as_alertmanager_reads_them():
    from forensics.oncall.silences import parse_matcher

    row = {"alarm": "ungrounded_accepted", "model": "qwen3.5:latest", "daemon": None, "session_id": "a b"}
    for text, hit in (
        ("model=qwen3.5:latest", True),
        ("model=~qwen", False),  # anchored at both ends
        ("model=~qwen.*", True),
        ("model!~qwen.*", False),
        ("model!=x", True),
        ("daemon=", True),  # a label the row lacks is the empty text
        ("daemon=~.+", False),
        ('session_id="a b"', True),
        ("ungrounded_accepted", True),  # a bare name is the alarm's
        ("severity=critical", False),  # (no severity in these labels)
    ):
        assert parse_matcher(text).matches(row) is hit, text


def test_a_catastrophic_regex_over_a_hostile_model_name_does_not_hang_the_alarm(cli, tmp_path, alarm_clock):
    # (a+)+b backtracks 2^n steps in Python's re over "aaa…a!": RE2's linear matching, as Alertmanager's
    logs = write_jsonl(
        tmp_path / "logs" / "sessions.jsonl",
        _clean() + [session("BAD-A", grounded=False, ts=_ts(2), model="a" * 60 + "!")],
    )
    st = tmp_path / "alarm.json"
    code, _, err = cli("silence", "add", "model=~(a+)+b", "--for", "1h", "--comment", "careless", "--state", st)
    assert code == 0, err

    def hung(*_):
        raise TimeoutError("the alarm hung on a silence's regex")

    # (a deadline, not a wait: Python's re checks for signals while it backtracks)
    before = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, 20)
    try:
        code, out, err = cli("alarm", "--state", st, "-s", logs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
    assert code == 1 and "session=BAD-A" in out, err  # not covered: the pattern does not match it


def test_a_regex_alertmanager_would_refuse_is_refused_at_add(cli, tmp_path):
    # Alertmanager's regexes are RE2's: no lookaround, no backreference
    for pattern in ("(?=qwen).*", r"(q)\1"):
        code, _, err = cli(
            "silence", "add", f"model=~{pattern}", "--for", "1h", "--comment", "c", "--state", tmp_path / "a.json"
        )
        assert code == 2 and "not a regular expression" in err, (pattern, err)


def test_a_silence_added_before_the_store_s_first_ingest_leaves_the_store_usable(cli, two_bad, tmp_path, alarm_clock):
    # planned maintenance, silenced before the alarm's first run: the silences file is the alarm's, not
    # "other files" that made the folder refuse to become a store
    st = tmp_path / "store"
    sid = _silence(cli, st, "daemon=gateway", "--for", "2h", "--comment", "before the first run")
    code, out, err = cli("alarm", "--store", st, "-s", two_bad)
    assert code == 1 and "session=BAD-V" in out and "BAD-G" not in out, err
    assert [s["id"] for s in _json(cli, "silence", "list", "--store", st)["silences"]] == [sid]
