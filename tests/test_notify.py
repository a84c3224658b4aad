"""Delivery, as cron runs `forensics alarm`: a webhook (a loopback server, with its 5xx mode and a refused
port), the real Alertmanager, a command; a receiver down for two runs then back; routing by severity; a
grouped storm; --dry-run and --notify-test; hostile text; the documented JSON document; printed commands."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import threading
import time
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from . import test_alarm_memory
from .conftest import ROOT, _clean, _ts, script_path, session, write_jsonl

alarm_clock = test_alarm_memory.alarm_clock  # the alarm's clock, moved by the test (a fixture)

HOSTILE_SID = "BAD-\x1b[31m<!channel>&\u202e"
HOSTILE_MODEL = "qwen\n<b>FAKE: all clear</b>"


class _Hook(ThreadingHTTPServer):
    """A loopback webhook: records each JSON body it takes; `mode = "fail"` answers 503."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _HookHandler)
        self.bodies: list = []
        self.auths: list = []  # each POST's Authorization header (None without one)
        self.mode = "ok"
        self.forward: str | None = None  # a base URL: each POST taken is passed on there (a proxy)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/services/T0/SECRET"


class _HookHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.auths.append(self.headers.get("Authorization"))
        if self.server.mode == "redirect":  # (a hook moved: urllib would follow with a GET, without the body)
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{self.server.server_port}/moved/SECRET")
            self.end_headers()
            return
        if self.server.mode == "picky" and json.loads(body)["counts"]["new"] >= 2:  # (one message it refuses)
            self.send_response(413)
            self.end_headers()
            self.wfile.write(b"payload too large")
            return
        if self.server.mode == "fail":
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"down for maintenance")
            return
        if self.server.forward:
            request = urllib.request.Request(
                self.server.forward + self.path, data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=10) as r:
                self.send_response(r.status)
                self.end_headers()
            return
        self.server.bodies.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def do_GET(self):  # (where a followed redirect lands: it answers 200 and takes nothing)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def _server():
    server = _Hook()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture
def hook(_server):
    _server.bodies.clear()
    _server.auths.clear()
    _server.mode = "ok"
    _server.forward = None
    return _server


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"  # (closed again: nothing listens there)


@pytest.fixture
def bad(tmp_path):
    """A live log with clean rows and two critical violations, one of them hostile text."""
    return write_jsonl(
        tmp_path / "logs" / "sessions.jsonl",
        _clean()
        + [
            session("BAD-1", grounded=False, ts=_ts(2)),
            session(HOSTILE_SID, grounded=False, ts=_ts(3), model=HOSTILE_MODEL),
        ],
    )


def _recorder(tmp_path: Path) -> tuple[str, Path]:
    """An exec: receiver that appends its environment and stdin, one JSON line a run."""
    out = tmp_path / "exec.jsonl"
    script = tmp_path / "record.py"
    script.write_text(
        "import json, os, sys\n"
        "data = sys.stdin.buffer.read().decode('utf-8', 'surrogateescape')\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('FORENSICS_')}\n"
        f"open({str(out)!r}, 'a').write(json.dumps({{'env': env, 'stdin': data}}) + '\\n')\n"
        "sys.exit(int(os.environ.get('RECORD_EXIT', '0')))\n"
    )
    return f"exec:{shutil.which('python3') or 'python3'} {script}", out


def _runs(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


# --- the webhook --------------------------------------------------------------------------------


def test_webhook_one_document_per_run_that_changed_something(cli, bad, tmp_path, hook):
    state = tmp_path / "st.json"
    plain = cli("alarm", "-s", bad, "--state", tmp_path / "other.json")
    code, out, err = cli("alarm", "-s", bad, "--state", state, "--notify", hook.url)
    assert code == 1 and err == "" and out == plain[1].replace(str(tmp_path / "other.json"), str(state))
    (doc,) = hook.bodies
    assert doc["version"] == 1 and doc["events"] == ["new"] and doc["counts"]["new"] == 2
    assert doc["exit_code"] == 1 and doc["status"] == "violations"
    rows = [r for g in doc["groups"] for r in g["rows"]]
    assert {r["session_id"] for r in rows} == {"BAD-1", HOSTILE_SID}  # JSON carries the value as it is
    assert all(r["incident"].startswith("forensics incident ") for r in rows)
    # nothing changed: nothing sent; the exit code stays what the violations say
    assert cli("alarm", "-s", bad, "--state", state, "--notify", hook.url) == (1, "", "")
    assert len(hook.bodies) == 1


def test_webhook_text_escapes_hostile_fields_for_a_chat(cli, bad, tmp_path, hook):
    cli("alarm", "-s", bad, "--state", tmp_path / "st.json", "--notify", hook.url)
    (doc,) = hook.bodies
    text = doc["text"]
    assert "\x1b" not in text and "\u202e" not in text and "<" not in text and ">" not in text
    assert "model=qwen\\n&lt;b&gt;FAKE: all clear&lt;/b&gt;" in text and "&lt;!channel&gt;&amp;" in text
    assert not any(line.startswith("<b>FAKE") for line in text.splitlines())
    assert text.count("about ungrounded_accepted:") == 1  # the description once, not per row


def test_receiver_down_two_runs_then_back_is_sent_once_then_never_again(cli, bad, tmp_path, hook):
    state = tmp_path / "st.json"
    hook.mode = "fail"
    code, out, err = cli("alarm", "-s", bad, "--state", state, "--notify", hook.url)
    assert code == 1 and out.startswith("ALARM: 2 new critical")  # stdout is cron's text as ever
    assert "warning: notify http://127.0.0.1:" in err and "/… (webhook): failed: HTTP 503" in err
    assert "SECRET" not in err and "1 message kept, sent again next run" in err
    code, out, err = cli("alarm", "-s", bad, "--state", state, "--notify", hook.url)
    assert (code, out) == (1, "") and "failed: HTTP 503" in err  # still down: said again, still kept
    hook.mode = "ok"
    assert cli("alarm", "-s", bad, "--state", state, "--notify", hook.url) == (1, "", "")
    (doc,) = hook.bodies
    assert doc["counts"]["new"] == 2
    assert cli("alarm", "-s", bad, "--state", state, "--notify", hook.url) == (1, "", "")
    assert len(hook.bodies) == 1  # delivered once, never again
    ledger = tmp_path / "st.notify.json"
    assert stat.S_IMODE(ledger.stat().st_mode) == stat.S_IMODE(state.stat().st_mode)


def test_refused_connection_is_said_and_never_changes_the_exit_code(cli, bad, tmp_path):
    code, out, err = cli("alarm", "-s", bad, "--state", tmp_path / "st.json", "--notify", _refused_url())
    assert code == 1 and out.startswith("ALARM: 2 new critical") and "failed: " in err
    assert "refused" in err.lower()
    clean = write_jsonl(tmp_path / "clean" / "sessions.jsonl", _clean())
    code, _, err = cli("alarm", "-s", clean, "--state", tmp_path / "c.json", "--notify", _refused_url())
    assert code == 0 and err == ""  # nothing to say: nothing sent, nothing failed


def test_a_redirect_is_a_failure_kept_for_the_next_run_not_a_delivery(cli, bad, tmp_path, hook):
    # urllib follows a 302 from a POST with a GET that has no body: a 200 there took nothing
    state = tmp_path / "st.json"
    hook.mode = "redirect"
    code, out, err = cli("alarm", "-s", bad, "--state", state, "--notify", hook.url)
    assert code == 1 and out.startswith("ALARM: 2 new critical")
    assert "failed: HTTP 302: redirected to localhost, not followed" in err and "1 message kept" in err
    assert "SECRET" not in err
    hook.mode = "ok"
    assert cli("alarm", "-s", bad, "--state", state, "--notify", hook.url) == (1, "", "")
    (doc,) = hook.bodies
    assert doc["counts"]["new"] == 2


def test_a_webhook_url_with_credentials_sends_them_as_basic_auth_and_never_prints_them(cli, bad, tmp_path, hook):
    url = hook.url.replace("http://", "http://bob:hun%40ter2@")
    state = tmp_path / "st.json"
    hook.mode = "fail"
    code, out, err = cli("alarm", "-s", bad, "--state", state, "--notify", url)
    assert code == 1 and "failed: HTTP 503" in err and "hun" not in err + out and "bob" not in err + out
    hook.mode = "ok"
    assert cli("alarm", "-s", bad, "--state", state, "--notify", url) == (1, "", "")
    assert len(hook.bodies) == 1 and hook.auths[-1] == "Basic " + base64.b64encode(b"bob:hun@ter2").decode()
    code, out, _ = cli("alarm", "-s", bad, "--state", tmp_path / "dry.json", "--notify", url, "--dry-run")
    assert "hun" not in out and "bob" not in out


@pytest.fixture
def raw_server():
    """A loopback TCP server that answers each connection with `how(conn)` (set by the test)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    box = {}

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=box["how"], args=(conn, stop), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield box, f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    stop.set()
    listener.close()


def _trickle(conn, stop):
    # a status line, then a header byte every 0.05 s: each read is within any timeout, the answer goes on
    with conn:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        deadline = time.monotonic() + 12  # (then it ends: a client that waits on it fails the test, not hangs)
        while not stop.wait(0.05) and time.monotonic() < deadline:
            try:
                conn.sendall(b"z")
            except OSError:
                return


def _garbage(conn, stop):
    with conn:
        conn.recv(65536)
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")


def test_a_server_that_trickles_its_answer_is_given_up_at_the_timeout_and_garbage_is_a_failure(
    cli, bad, tmp_path, raw_server, hook
):
    box, url = raw_server
    box["how"] = _trickle
    config = tmp_path / "forensics.toml"
    config.write_text(f'sessions = "{bad}"\n[[notify]]\nurl = "{url}"\ntimeout = 0.5\n')
    start = time.monotonic()
    code, out, err = cli("alarm", "--config", config, "--state", tmp_path / "st.json", "--notify", hook.url)
    assert code == 1 and time.monotonic() - start < 8  # (it trickled on for as long as the server liked)
    assert "failed: no answer within 0.5 s" in err and "1 message kept" in err
    assert len(hook.bodies) == 1  # the receiver after it is still sent to
    box["how"] = _garbage  # not HTTP at all: a failure said, not a crash
    code, out, err = cli("alarm", "--config", config, "--state", tmp_path / "st.json")
    assert code == 1 and "failed: BadStatusLine" in err and "1 message kept" in err
    # a host name IDNA cannot encode (a crash past the delivery before): a failure said
    code, out, err = cli("alarm", "-s", bad, "--state", tmp_path / "idna.json", "--notify", "http://a..b/hook")
    assert code == 1 and out.startswith("ALARM: 2 new critical") and "failed: UnicodeError" in err


def test_a_message_the_webhook_refuses_with_a_4xx_is_dropped_not_retried_ahead_of_the_next(cli, bad, tmp_path, hook):
    # kept, a 413 is answered at every run, and every later message waits behind it for good
    state = tmp_path / "st.json"
    hook.mode = "picky"
    code, out, err = cli("alarm", "-s", bad, "--state", state, "--notify", hook.url)
    assert code == 1 and out.startswith("ALARM: 2 new critical")
    assert "refused new of " in err and "HTTP 413 payload too large" in err and "that message is dropped" in err
    test_alarm_memory._append(bad, [session("BAD-3", grounded=False, ts=_ts(1))])
    code, out, err = cli("alarm", "-s", bad, "--state", state, "--notify", hook.url)
    assert (code, err) == (1, "") and out.startswith("ALARM: 1 new critical")
    (doc,) = hook.bodies
    assert [r["session_id"] for g in doc["groups"] for r in g["rows"]] == ["BAD-3"]


# --- a command ----------------------------------------------------------------------------------


def test_exec_gets_the_message_on_stdin_and_the_event_in_its_environment(cli, bad, tmp_path):
    url, record = _recorder(tmp_path)
    state = tmp_path / "st.json"
    assert cli("alarm", "-s", bad, "--state", state, "--notify", url)[0] == 1
    (run,) = _runs(record)
    assert run["env"]["FORENSICS_EVENT"] == "new" and run["env"]["FORENSICS_EXIT"] == "1"
    assert run["env"]["FORENSICS_SUBJECT"].endswith(": 2 new (ungrounded_accepted)")
    stdin = run["stdin"]
    # hostile text is escaped: no control or reordering character, the forged line stays inside its field
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202e]", stdin)
    assert "model=qwen\\n<b>FAKE: all clear</b>" in stdin and "\\x1b[31m" in stdin
    assert stdin.count("about ungrounded_accepted:") == 1
    assert "incident: forensics incident BAD-1 -s " in stdin
    # the rows leave the logs: one more run of the command, its own event
    write_jsonl(bad, _clean())
    cli("alarm", "-s", bad, "--state", state, "--notify", url)
    assert [r["env"]["FORENSICS_EVENT"] for r in _runs(record)] == ["new", "resolved"]


def test_exec_is_told_of_a_problem_and_of_its_recovery(cli, tmp_path):
    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [session(f"s{i}", ts=_ts(192 + i)) for i in range(3)])
    url, record = _recorder(tmp_path)
    state = tmp_path / "st.json"
    assert cli("alarm", "-s", log, "--state", state, "--max-age", "2h", "--notify", url)[0] == 3
    with open(log, "a") as fh:  # the daemon writes again
        fh.write(json.dumps(session("fresh", ts=_ts(1))) + "\n")
    assert cli("alarm", "-s", log, "--state", state, "--max-age", "2h", "--notify", url)[0] == 0
    problem, recovered = _runs(record)
    assert problem["env"]["FORENSICS_EVENT"] == "problem" and problem["env"]["FORENSICS_EXIT"] == "3"
    assert "COULD NOT EVALUATE since " in problem["stdin"] and "older than --max-age 2h" in problem["stdin"]
    assert recovered["env"]["FORENSICS_EVENT"] == "recovered" and recovered["env"]["FORENSICS_EXIT"] == "0"
    assert "RECOVERED evaluated again" in recovered["stdin"]


def test_a_silence_s_end_is_its_own_event_to_a_receiver(cli, bad, tmp_path):
    url, record = _recorder(tmp_path)
    state = tmp_path / "st.json"
    code, out, _ = cli(
        "silence", "add", "session_id=BAD-1", "--for", "1h", "--comment", "redeploy", "--state", state, "-f", "json"
    )
    sid = json.loads(out)["id"]
    assert cli("alarm", "-s", bad, "--state", state, "--notify", url)[0] == 1  # the other row is new
    (first,) = _runs(record)
    assert first["env"]["FORENSICS_EVENT"] == "new" and "BAD-1" not in first["stdin"]
    assert cli("alarm", "-s", bad, "--state", state, "--notify", url)[:2] == (1, "")  # nothing changed
    assert len(_runs(record)) == 1
    assert cli("silence", "expire", sid, "--state", state)[0] == 0
    code, out, _ = cli("alarm", "-s", bad, "--state", state, "--notify", url)
    assert code == 1 and f"silence {sid} expired: 1 still firing" in out
    (ended,) = _runs(record)[1:]
    assert ended["env"]["FORENSICS_EVENT"] == "silence-expired" and "BAD-1" in ended["stdin"]
    cli("alarm", "-s", bad, "--state", state, "--notify", url)
    assert len(_runs(record)) == 2  # said once


def test_exec_that_fails_is_retried_next_run(cli, bad, tmp_path, monkeypatch):
    url, record = _recorder(tmp_path)
    state = tmp_path / "st.json"
    monkeypatch.setenv("RECORD_EXIT", "4")
    code, _, err = cli("alarm", "-s", bad, "--state", state, "--notify", url)
    assert code == 1 and "(exec): failed: exit 4" in err
    monkeypatch.delenv("RECORD_EXIT")
    assert cli("alarm", "-s", bad, "--state", state, "--notify", url) == (1, "", "")
    assert cli("alarm", "-s", bad, "--state", state, "--notify", url) == (1, "", "")
    assert [r["env"]["FORENSICS_EVENT"] for r in _runs(record)] == ["new", "new"]  # the failed try, then once


def test_exec_timeout_is_a_failure(cli, bad, tmp_path):
    (tmp_path / "forensics.toml").write_text(f'sessions = "{bad}"\n[[notify]]\nurl = "exec:sleep 30"\ntimeout = 0.3\n')
    start = time.monotonic()
    code, _, err = cli("alarm", "--config", tmp_path / "forensics.toml", "--state", tmp_path / "st.json")
    assert code == 1 and "no answer within 0.3 s (killed)" in err and time.monotonic() - start < 20


def test_exec_that_leaves_a_child_running_is_taken_once_and_its_output_is_not_kept(cli, bad, tmp_path):
    # a command that exits 0 at once but leaves a child behind (`notifier &`), after 50 MB on stdout
    # and an error line on stderr: taken, not waited on until its timeout, called failed and sent again
    taken = tmp_path / "taken.txt"
    cmd = f"exec:head -c 50000000 /dev/zero; (sleep 30 &); echo noise >&2; cat >> {taken}"
    (tmp_path / "forensics.toml").write_text(f'sessions = "{bad}"\n[[notify]]\nurl = "{cmd}"\ntimeout = 5\n')
    state, start = tmp_path / "st.json", time.monotonic()
    code, _, err = cli("alarm", "--config", tmp_path / "forensics.toml", "--state", state)
    assert (code, err) == (1, "") and time.monotonic() - start < 4
    assert cli("alarm", "--config", tmp_path / "forensics.toml", "--state", state) == (1, "", "")
    assert taken.read_text().count("2 new (ungrounded_accepted)") == 1  # sent once


def test_a_user_template_that_raises_or_says_nothing_never_changes_the_exit_code(cli, bad, tmp_path):
    url, record = _recorder(tmp_path)
    (tmp_path / "t").mkdir()
    subject = tmp_path / "t" / "subject.txt.j2"
    subject.write_text("{{ 1 // 0 }}")  # parses (checked at load), raises at render
    config = tmp_path / "forensics.toml"
    config.write_text(f'sessions = "{bad}"\ntemplates_dir = "t"\n[[notify]]\nurl = "{url}"\n')
    state = tmp_path / "st.json"
    code, out, err = cli("alarm", "--config", config, "--state", state)
    assert code == 1 and out.startswith("ALARM: 2 new critical") and "ZeroDivisionError" in err
    assert "this run is not recorded, and the next says it again" in err and not record.exists()
    subject.write_text("")  # mended, to a subject of nothing
    code, out, err = cli("alarm", "--config", config, "--state", state)
    assert (code, err) == (1, "") and out.startswith("ALARM: 2 new critical")  # said again: not lost
    (run,) = _runs(record)
    assert run["env"]["FORENSICS_SUBJECT"] == "" and "BAD-1" in run["stdin"]


# --- routing, configuration ---------------------------------------------------------------------


def test_routing_by_severity(cli, tmp_path, hook):
    log = write_jsonl(
        tmp_path / "logs" / "sessions.jsonl",
        _clean() + [session("CRIT-1", grounded=False, ts=_ts(2)), session("WARN-1", grounded=None, ts=_ts(2))],
    )
    url, record = _recorder(tmp_path)
    (tmp_path / "forensics.toml").write_text(
        f'sessions = "{log}"\n'
        f'[[notify]]\nurl = "{hook.url}"\nseverity = ["warn"]\n'
        f"[[notify]]\nurl = '{url}'\nseverity = [\"critical\"]\n"
    )
    code, out, _ = cli("alarm", "--state", tmp_path / "st.json")
    assert code == 1 and "WARN-1" in out and "CRIT-1" in out
    (doc,) = hook.bodies
    assert [r["session_id"] for g in doc["groups"] for r in g["rows"]] == ["WARN-1"]
    (run,) = _runs(record)
    assert "CRIT-1" in run["stdin"] and "WARN-1" not in run["stdin"]


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        ('[[notify]]\nurl = "ftp://x/"\n', "is not a receiver"),
        ('[[notify]]\nurl = "http://x/"\nseverity = ["page"]\n', "severity must be a list of critical, warn"),
        ('[[notify]]\nurl = "http://x/"\nsecret = 1\n', "unknown key 'secret'"),
        ('notify = "http://x/"\n', "notify must be tables"),
        ('group_by = ["colour"]\n', "group_by takes a list of"),
        ('templates_dir = "nowhere"\n', "is not a folder"),
        ('templates_dir = "tpl"\n', "TemplateSyntaxError"),
    ],
)
def test_a_bad_receiver_is_a_usage_error(cli, bad, tmp_path, toml, said):
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "message.txt.j2").write_text("{% for x in %}")
    (tmp_path / "forensics.toml").write_text(f'sessions = "{bad}"\n' + toml)
    code, out, err = cli("alarm", "--state", tmp_path / "st.json")
    assert code == 2 and said in out + err and "Traceback" not in out + err
    assert not (tmp_path / "st.json").exists()


def test_templates_dir_overrides_the_text_and_still_escapes(cli, bad, tmp_path):
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "message.txt.j2").write_text(
        "MINE {{ subject }}\n{% for s in sections %}{% for g in s.groups %}{% for r in g.rows %}"
        "[{{ r.model }}]\n{% endfor %}{% endfor %}{% endfor %}"
    )
    url, record = _recorder(tmp_path)
    (tmp_path / "forensics.toml").write_text(
        f'sessions = "{bad}"\ntemplates_dir = "tpl"\n[[notify]]\nurl = \'{url}\'\n'
    )
    cli("alarm", "--state", tmp_path / "st.json")
    (run,) = _runs(record)
    assert run["stdin"].startswith("MINE forensics alarm on ")
    assert "[qwen\\n<b>FAKE: all clear</b>]" in run["stdin"] and "\n<b>" not in run["stdin"]


def test_a_damaged_ledger_is_said_and_the_run_is_not_recorded(cli, bad, tmp_path, hook):
    state = tmp_path / "st.json"
    (tmp_path / "st.notify.json").write_text("{not json")
    code, out, err = cli("alarm", "-s", bad, "--state", state, "--notify", hook.url)
    assert code == 1 and out.startswith("ALARM: 2 new critical") and hook.bodies == []
    assert "cannot queue this run's news" in err and "st.notify.json" in err and "move it aside" in err
    assert not state.exists()  # not recorded: once the ledger is moved aside, the next run says and sends it
    (tmp_path / "st.notify.json").rename(tmp_path / "damaged.json")
    code, out, err = cli("alarm", "-s", bad, "--state", state, "--notify", hook.url)
    assert out.startswith("ALARM: 2 new critical") and err == "" and len(hook.bodies) == 1


# --- dry run, test ------------------------------------------------------------------------------


def test_dry_run_prints_what_each_receiver_would_get_and_changes_nothing(cli, bad, tmp_path, hook):
    url, record = _recorder(tmp_path)
    state = tmp_path / "st.json"
    am = "alertmanager+" + _refused_url()  # (nothing is sent: nothing needs to listen)
    code, out, err = cli(
        "alarm", "-s", bad, "--state", state, "--notify", hook.url, "--notify", url, "--notify", am, "--dry-run"
    )
    assert code == 1 and hook.bodies == [] and not record.exists() and not state.exists() and err == ""
    assert "(webhook): 1 message" in out and "(exec): 1 message" in out
    assert "(alertmanager): 2 alerts" in out and '"alertname": "ungrounded_accepted"' in out
    assert "-- FORENSICS_EVENT=new FORENSICS_EXIT=1" in out and '"version": 1' in out
    assert "\x1b" not in out and "SECRET" not in out
    # the next real run still says and delivers it
    code, out, _ = cli("alarm", "-s", bad, "--state", state, "--notify", hook.url, "--notify", url)
    assert out.startswith("ALARM: 2 new critical") and len(hook.bodies) == 1 and len(_runs(record)) == 1


def test_notify_test_says_which_receivers_answered(cli, tmp_path, hook):
    url, record = _recorder(tmp_path)
    refused = _refused_url()
    code, out, _ = cli("alarm", "--notify-test", "--notify", hook.url, "--notify", url, "--notify", refused)
    lines = out.splitlines()
    assert code == 1 and len(lines) == 3
    assert lines[0].startswith("ok     http://127.0.0.1:") and "(webhook): answered HTTP 200" in lines[0]
    assert lines[1].startswith("ok     exec:") and "answered exit 0" in lines[1]
    assert lines[2].startswith("FAILED http://127.0.0.1:") and "failed:" in lines[2]
    (doc,) = hook.bodies
    assert doc["test"] is True and doc["counts"]["new"] == 1
    assert _runs(record)[0]["env"]["FORENSICS_EVENT"] == "new"
    assert cli("alarm", "--notify-test", "--notify", hook.url)[0] == 0
    assert cli("alarm", "--notify-test")[0] == 2  # no receiver to test


# --- grouping -----------------------------------------------------------------------------------


def _storm(n: int):
    from forensics.oncall.outcome import AlarmOutcome

    outcome = AlarmOutcome(status="violations", exit_code=1)
    outcome.paging.descriptions = {"ungrounded_accepted": "named someone not on the roster"}
    models = ["qwen3.5:latest", "llama3:8b", "mistral:7b"]
    for i in range(n):
        outcome.violations.append(
            {
                "alarm": "ungrounded_accepted",
                "severity": "critical",
                "session_id": f"s-{i}",
                "timestamp": "2026-12-01T10:00:00Z",
                "model": models[0] if i % 16 else models[1 + (i // 16) % 2],
                "kind": "fill",
                "daemon": "gateway" if i % 5 else "validatord",
                "source_file": "/var/log/x.jsonl",
                "line": i + 1,
                "state": "new",
                "first_seen": "2026-12-01T10:01:00Z",
                "identity": f"id-{i}",
                "incident": f"forensics incident s-{i} --store /var/lib/forensics",
            }
        )
    return outcome


def test_a_storm_is_grouped_in_the_cron_text():
    from forensics.oncall.mail import render_text

    text = render_text(_storm(5000), max_rows=20)
    lines = text.splitlines()
    heads = [x for x in lines if " new · ungrounded_accepted · model=" in x]
    counts = {x: int(x.split()[0]) for x in heads}
    assert sum(counts.values()) == 5000 and len(heads) == 6
    assert heads[0] == f"{max(counts.values())} new · ungrounded_accepted · model=qwen3.5:latest · daemon=gateway"
    assert sum(1 for x in lines if x.startswith("NEW ")) == 20  # at most --max-rows rows in all
    assert sum(1 for x in lines if x.startswith("  incident: ")) == 20
    assert "... and 4,980 more ungrounded_accepted rows" in text
    assert text.count("about ungrounded_accepted: named someone not on the roster") == 1
    assert len(lines) < 60


def test_a_storm_is_grouped_in_the_webhook_document():
    from forensics.notify.document import context, document
    from forensics.notify.events import changes

    start = time.monotonic()
    outcome = _storm(5000)
    doc = document(context(changes(outcome), outcome, now=datetime.now(UTC), keys=("alarm", "model"), max_rows=20))
    assert doc["counts"]["new"] == 5000 and doc["rows_omitted"] == 4980
    assert [g["count"] for g in doc["groups"]] == [4687, 157, 156]
    assert sum(len(g["rows"]) for g in doc["groups"]) == 20 and all(g["rows"] for g in doc["groups"])
    assert doc["groups"][0]["head"] == "4687 new · ungrounded_accepted · model=qwen3.5:latest"
    assert doc["groups_omitted"] == 0
    # grouped by session, 5000 groups: the 100 largest are listed, the document stays small
    doc = document(context(changes(outcome), outcome, now=datetime.now(UTC), keys=("session_id",), max_rows=20))
    assert len(doc["groups"]) == 100 and doc["groups_omitted"] == 4900 and doc["rows_omitted"] == 4980
    assert len(json.dumps(doc)) < 200_000
    assert time.monotonic() - start < 3


def test_reminder_names_its_sessions_with_their_incident_commands(cli, bad, tmp_path):
    state = tmp_path / "st.json"
    cli("alarm", "-s", bad, "--state", state)
    code, out, _ = cli("alarm", "-s", bad, "--state", state, "--repeat", "0s", "--max-rows", "1")
    lines = out.splitlines()
    assert code == 1 and lines[1].startswith("about ungrounded_accepted:")
    assert lines[2].startswith("REMINDER ungrounded_accepted: 2 rows firing since ")
    assert lines[3].startswith("FIRING   CRITICAL ungrounded_accepted") and lines[4].startswith(
        "  incident: forensics incident "
    )
    assert len(lines) == 5  # --max-rows sessions in all


# --- the documented document --------------------------------------------------------------------


def _documented_keys() -> dict[str, str]:
    text = (ROOT / "docs" / "SESSION_LOG.md").read_text()
    section = text.split("### The webhook's JSON document", 1)[1].split("\n### ", 1)[0]
    return dict(re.findall(r"^\| `(\w+)` \| (\w+) \|", section, flags=re.M))


def test_a_real_document_matches_the_documented_schema(cli, bad, tmp_path, hook):
    from forensics.notify.document import SCHEMA

    cli("alarm", "-s", bad, "--state", tmp_path / "st.json", "--notify", hook.url)
    (doc,) = hook.bodies
    documented = _documented_keys()
    types = {"integer": int, "string": str, "boolean": bool, "array": list, "object": dict}
    assert set(documented) == set(doc) == set(SCHEMA)
    for key, kind in documented.items():
        assert isinstance(doc[key], types[kind]), key
    for g in doc["groups"]:
        assert set(g) == {"event", "labels", "count", "head", "rows"}


# --- printed commands ---------------------------------------------------------------------------


def test_program_is_the_running_forensics_as_a_shell_runs_it():
    import sys

    from forensics.oncall.commands import program

    assert program("/opt/forensics/bin/forensics") == "/opt/forensics/bin/forensics"
    assert program("/opt/my tools/bin/forensics") == "'/opt/my tools/bin/forensics'"
    assert program("/usr/lib/python3/site-packages/forensics/__main__.py") == f"{sys.executable} -m forensics"
    assert program("/usr/bin/pytest") == "forensics"  # (embedded: a notebook, a test harness)


@pytest.mark.slow  # (two runs of the installed script in a subprocess)
def test_printed_commands_use_the_running_forensics_path(bad, tmp_path, run_script):
    script = script_path()
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # as cron runs it: forensics' folder not on PATH
    proc = run_script("alarm", "-s", bad, "--state", tmp_path / "st.json", env=env, cwd=tmp_path)
    out = proc.stdout.decode()
    incidents = [x for x in out.splitlines() if x.startswith("  incident: ")]
    assert proc.returncode == 1 and len(incidents) == 2
    assert all(x.startswith(f"  incident: {script} incident ") for x in incidents)
    assert f"  silence them: {script} ack SESSION_ID..." in out
    shown = subprocess.run(
        ["bash", "-c", incidents[-1].removeprefix("  incident: ") + " --format json"],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert shown.returncode == 0 and json.loads(shown.stdout)


# --- the real Alertmanager ----------------------------------------------------------------------


def _alertmanager_binary():
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory):
    binary = _alertmanager_binary()
    if binary is None:
        if os.environ.get("FORENSICS_REQUIRE_ALERTMANAGER") == "1":
            pytest.fail("FORENSICS_REQUIRE_ALERTMANAGER=1 but prometheus-alertmanager is not installed")
        pytest.skip("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
    folder = tmp_path_factory.mktemp("alertmanager")
    (folder / "am.yml").write_text('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'am.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "am.log").open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("Alertmanager did not become ready: " + (folder / "am.log").read_text()[-2000:])
        time.sleep(0.05)  # (polling the readiness endpoint, under a deadline)
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def _alerts(base: str, **match) -> list[dict]:
    with urllib.request.urlopen(f"{base}/api/v2/alerts", timeout=10) as r:
        alerts = json.loads(r.read())
    return [a for a in alerts if all(a["labels"].get(k) == v for k, v in match.items())]


def test_alertmanager_gets_one_alert_per_violation_resent_then_ended_by_ack(cli, bad, tmp_path, alertmanager):
    url = "alertmanager+" + alertmanager
    state = tmp_path / "st.json"
    daemon = f"validatord-{tmp_path.name}"[:60]  # (one Alertmanager serves every test: this test's own rows)
    write_jsonl(
        bad,
        _clean()
        + [
            session("BAD-1", grounded=False, ts=_ts(2), daemon=daemon),
            session(HOSTILE_SID, grounded=False, ts=_ts(3), model=HOSTILE_MODEL, daemon=daemon),
        ],
    )
    code, _, err = cli("alarm", "-s", bad, "--state", state, "--notify", url)
    assert code == 1 and err == ""
    alerts = _alerts(alertmanager, daemon=daemon)
    assert len(alerts) == 2 and all(a["status"]["state"] == "active" for a in alerts)
    one = next(a for a in alerts if a["labels"]["session_id"] == "BAD-1")
    assert one["labels"]["alertname"] == "ungrounded_accepted" and one["labels"]["severity"] == "critical"
    assert one["labels"]["alarm"] == "ungrounded_accepted" and one["labels"]["model"] == "m-a"
    assert one["annotations"]["incident"].startswith("forensics incident BAD-1 ")
    hostile = next(a for a in alerts if a["labels"]["session_id"] == HOSTILE_SID)
    assert hostile["labels"]["model"] == HOSTILE_MODEL  # a label holds the value itself, JSON-encoded
    first_end = one["endsAt"]
    # re-sent every run while firing (nothing new to say on stdout)
    assert cli("alarm", "-s", bad, "--state", state, "--notify", url) == (1, "", "")
    assert len(_alerts(alertmanager, daemon=daemon)) == 2
    assert _alerts(alertmanager, daemon=daemon, session_id="BAD-1")[0]["endsAt"] >= first_end
    # acknowledged: sent once with its end, gone from the active alerts
    assert cli("ack", "BAD-1", "--state", state)[0] == 0
    assert cli("alarm", "-s", bad, "--state", state, "--notify", url)[0] == 1
    assert [a["labels"]["session_id"] for a in _alerts(alertmanager, daemon=daemon)] == [HOSTILE_SID]


def test_alertmanager_refused_is_said_and_a_resolution_ends_the_alert(cli, bad, tmp_path, alertmanager):
    daemon = f"down-{tmp_path.name}"[:60]
    write_jsonl(bad, _clean() + [session("BAD-1", grounded=False, ts=_ts(2), daemon=daemon)])
    state = tmp_path / "st.json"
    code, _, err = cli("alarm", "-s", bad, "--state", state, "--notify", "alertmanager+" + _refused_url())
    assert code == 1 and "(alertmanager): failed:" in err
    cli("alarm", "-s", bad, "--state", state, "--notify", "alertmanager+" + alertmanager)
    assert len(_alerts(alertmanager, daemon=daemon)) == 1
    # the row leaves the logs and is acknowledged: resolved, and its alert ends
    write_jsonl(bad, _clean())
    assert cli("ack", "--all", "--state", state)[0] == 0
    code, out, _ = cli("alarm", "-s", bad, "--state", state, "--notify", "alertmanager+" + alertmanager)
    assert code == 0 and "RESOLVED" in out
    assert _alerts(alertmanager, daemon=daemon) == []


def test_notify_test_reaches_alertmanager(cli, alertmanager):
    code, out, _ = cli("alarm", "--notify-test", "--notify", "alertmanager+" + alertmanager)
    assert code == 0 and out.startswith("ok     alertmanager+http://127.0.0.1:")
    assert _alerts(alertmanager, alertname="notify_test", session_id="forensics-notify-test")


def test_alertmanager_down_for_two_runs_then_back_gets_the_acknowledgement(cli, bad, tmp_path, alertmanager, hook):
    hook.forward = alertmanager  # the receiver's address: a proxy that can be down
    url = f"alertmanager+http://127.0.0.1:{hook.server_port}"
    daemon = f"proxy-{tmp_path.name}"[:60]
    write_jsonl(bad, _clean() + [session("BAD-1", grounded=False, ts=_ts(2), daemon=daemon)])
    state = tmp_path / "st.json"
    assert cli("alarm", "-s", bad, "--state", state, "--notify", url)[0] == 1
    assert len(_alerts(alertmanager, daemon=daemon)) == 1
    hook.mode = "fail"
    assert cli("ack", "BAD-1", "--state", state)[0] == 0
    for _ in range(2):
        code, out, err = cli("alarm", "-s", bad, "--state", state, "--notify", url)
        assert (code, out) == (0, "") and "(alertmanager): failed: HTTP 503" in err
        assert len(_alerts(alertmanager, daemon=daemon)) == 1  # (it missed the acknowledgement)
    hook.mode = "ok"
    assert cli("alarm", "-s", bad, "--state", state, "--notify", url) == (0, "", "")
    assert _alerts(alertmanager, daemon=daemon) == []


def test_alertmanager_takes_an_alert_ended_before_it_started_by_a_clock_stepped_back(
    cli, tmp_path, alertmanager, alarm_clock
):
    # first seen at T; the clock is stepped back 3 h (an NTP correction) and the row acknowledged: its end
    # came before its start, and Alertmanager refused the whole batch with a 400, run after run
    url, daemon = "alertmanager+" + alertmanager, f"stepped-{tmp_path.name}"[:60]
    logs = write_jsonl(
        tmp_path / "logs" / "sessions.jsonl",
        _clean() + [session(s, grounded=False, ts=_ts(2), daemon=daemon) for s in ("BAD-1", "BAD-2")],
    )
    state = tmp_path / "st.json"
    assert cli("alarm", "-s", logs, "--state", state, "--notify", url)[:3:2] == (1, "")
    alarm_clock.advance(-3 * 3600)
    assert cli("ack", "BAD-1", "--state", state)[0] == 0
    cli("alarm", "-s", logs, "--state", state, "--notify", url)
    alarm_clock.advance(3 * 3600 + 60)
    cli("alarm", "-s", logs, "--state", state, "--notify", url)
    code, _, err = cli("alarm", "-s", logs, "--state", state, "--notify", url)
    assert code == 1 and "start time must be before end time" not in err and err == ""
    assert [a["labels"]["session_id"] for a in _alerts(alertmanager, daemon=daemon)] == ["BAD-2"]
