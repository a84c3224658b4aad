"""The weekly report: golden markdown, hand-checked figures, standalone and inert HTML, empty weeks."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser

import pytest

from forensics.read.sources import resolve
from forensics.report.weekly import build_report, render_report
from forensics.store.connection import Store
from forensics.timewindow import resolve_week

from .conftest import session, write_jsonl
from .test_queries import MINI_REPLAYS, MINI_SESSIONS, wilson

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
PREVIOUS_WEEK = [
    session(
        f"p{i}",
        model="m-a",
        ts=f"2026-11-0{3 + i % 3}T09:00:00Z",
        attempts=["accepted"] if i % 2 else ["no_json", "accepted"],
    )
    for i in range(6)
]


@pytest.fixture
def mini_report():
    write_jsonl_rel = write_jsonl  # cwd is the test's tmp folder, so paths print relative
    s = write_jsonl_rel(__import__("pathlib").Path("sessions.jsonl"), PREVIOUS_WEEK + MINI_SESSIONS)
    r = write_jsonl_rel(__import__("pathlib").Path("replay_runs.jsonl"), MINI_REPLAYS)
    with Store(resolve(str(s), str(r), env={})) as st:
        return build_report(st, resolve_week("2026-W46"), trend_weeks=4, now=NOW)


def test_resolve_week():
    assert resolve_week("2026-W46")[1:] == (datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC))
    assert resolve_week(None, today=date(2026, 11, 22))[0] == "2026-W46"  # Sunday: last complete week
    assert resolve_week(None, today=date(2026, 11, 23))[0] == "2026-W47"
    assert resolve_week("2027-W01")[1] == datetime(2027, 1, 4, tzinfo=UTC)


def test_figures_match_hand_computation(mini_report):
    m = {x["model"]: x for x in mini_report["models"]}
    a, b = m["m-a"], m["m-b"]
    assert (a["calls"], a["accepted"], a["first_shot"], a["reached_model"]) == (5, 3, 2, 4)
    assert a["accepted_pct"] == 0.6 and a["first_shot_rate"] == 0.5
    assert (a["ci_low"], a["ci_high"]) == tuple(pytest.approx(x) for x in wilson(2, 4))
    assert a["max_iter_pct"] == 0.2 and a["infra_pct"] == 0.2
    assert a["mean_attempts_to_accept"] == pytest.approx(4 / 3)
    assert (b["calls"], b["accepted"], b["first_shot"]) == (4, 3, 2)  # s9 is in W47
    assert a["too_few"] and b["too_few"]
    assert a["change"]["verdict"] == "too few sessions" and b["change"]["verdict"] == "new"
    alarms = {x["name"]: x for x in mini_report["alarms"]}
    assert alarms["ungrounded_accepted"]["session_ids"] == ["s4"]
    assert alarms["unverified_accepted_fill"]["session_ids"] == ["s5"]
    assert mini_report["trend"]["m-a"] == {"2026-W45": 0.5, "2026-W46": 0.5}
    assert mini_report["basis"]["rows"] == 16


def test_golden_markdown(mini_report, golden):
    golden("report_2026-W46.md", render_report(mini_report, "markdown"))


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.refs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href") or (k or "").startswith("on")]

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_standalone_and_inert(tmp_path):
    evil_model = "<script>alert('m')</script>"
    evil_error = '<img src=x onerror="alert(document.domain)">'
    rows = [
        session(f"e{i}", model=evil_model, ts="2026-11-10T10:00:00Z", attempts=["validation_failed", "accepted"])
        for i in range(3)
    ]
    for r in rows:
        r["attempts"][0]["error"] = evil_error
    rows.append(session("<b>id</b>", model=evil_model, grounded=False, ts="2026-11-10T11:00:00Z"))
    s = write_jsonl(tmp_path / "s.jsonl", rows)
    with Store(resolve(str(s), env={})) as st:
        data = build_report(st, resolve_week("2026-W46"), now=NOW)
    html = render_report(data, "html")
    parser = _Tags()
    parser.feed(html)
    assert "script" not in parser.tags and "img" not in parser.tags and "link" not in parser.tags
    assert parser.refs == []  # no src, href or on* attribute anywhere: nothing external, nothing live
    assert "&lt;script&gt;alert(&#39;m&#39;)&lt;/script&gt;" in html
    # The reason is folded (the quoted value becomes '<v>') and then escaped.
    assert "&lt;img src=x onerror=&#39;&lt;v&gt;&#39;&gt;" in html
    assert "&lt;b&gt;id&lt;/b&gt;" in html.replace("<wbr>", "")  # a break opportunity after the separator /
    assert not re.search(r"url\(|@import|https?://", html)
    assert "<svg" in html and "<polyline" in html
    md = render_report(data, "markdown")
    assert "`<script>alert('m')</script>`" in md  # a code span: shows as text in chat and email


def test_empty_week_is_a_clear_message(tmp_path, cli):
    s = write_jsonl(tmp_path / "s.jsonl", [session("a", ts="2026-11-10T10:00:00Z")])
    code, out, err = cli("report", "-s", s, "--week", "2026-W10")
    assert code == 0 and "**No calls in 2026-W10.**" in out and "The logs hold 1 row from" in out
    code, _, err = cli("report", "-s", s, "--week", "2026-W10", "-f", "html", "-o", tmp_path / "r.html")
    assert code == 0 and "No calls in 2026-W10." in (tmp_path / "r.html").read_text()


def test_report_reads_the_logs_once(tmp_path, monkeypatch):
    """Once the report has parsed the logs, it never goes back to the files: emptying them
    right after the parse changes no figure."""
    s = write_jsonl(tmp_path / "s.jsonl", PREVIOUS_WEEK + MINI_SESSIONS)
    r = write_jsonl(tmp_path / "r.jsonl", MINI_REPLAYS)
    real = Store.materialize

    def parse_then_empty_the_files(self, *a, **k):
        n = real(self, *a, **k)
        s.write_bytes(b"")
        r.write_bytes(b"")
        return n

    monkeypatch.setattr(Store, "materialize", parse_then_empty_the_files)
    with Store(resolve(str(s), str(r), env={})) as st:
        data = build_report(st, resolve_week("2026-W46"), trend_weeks=4, now=NOW)
    m = {x["model"]: x for x in data["models"]}
    assert m["m-a"]["calls"] == 5 and m["m-b"]["calls"] == 4
    assert {a["name"]: a["count"] for a in data["alarms"]} == {
        "ungrounded_accepted": 1,
        "ungrounded_unknown_verdict": 0,
        "unverified_accepted_fill": 1,
    }
    assert {(x["model"], x["hits_bucket"]) for x in data["depth"]} >= {("m-a", "6+"), ("m-b", "3-5")}


def test_report_cli_writes_file(tmp_path, cli, sample_dir):
    out = tmp_path / "w.html"
    code, _, err = cli(
        "report",
        "-s",
        sample_dir / "sessions.jsonl",
        "-r",
        sample_dir / "replay_runs.jsonl",
        "--week",
        "2026-W45",
        "--format",
        "html",
        "--out",
        out,
    )
    assert (code, err) == (0, "")  # cron's line: silent when it succeeds (-v, or a terminal, says where)
    text = out.read_text()
    assert text.startswith("<!doctype html>") and "gpt-oss:20b" in text


def test_report_with_an_unreadable_replay_line(tmp_path):
    """The report's fast typed read of replay runs falls back like every other read."""
    s = write_jsonl(tmp_path / "s.jsonl", MINI_SESSIONS)
    r = write_jsonl(tmp_path / "r.jsonl", MINI_REPLAYS + [b"{broken", b"[1, 2]"])
    with Store(resolve(str(s), str(r), env={})) as st:
        data = build_report(st, resolve_week("2026-W46"), trend_weeks=4, now=NOW)
        assert st.mode == "tolerant"
    assert data["basis"]["unreadable_lines"] == 2
    depth = {(x["model"], x["hits_bucket"]): x["reached_model"] for x in data["depth"]}
    assert depth[("m-a", "6+")] == 2 and depth[("m-b", "3-5")] == 1


def test_report_parses_only_what_its_statements_read(tmp_path):
    s = write_jsonl(tmp_path / "s.jsonl", PREVIOUS_WEEK + MINI_SESSIONS)
    r = write_jsonl(tmp_path / "r.jsonl", MINI_REPLAYS)
    with Store(resolve(str(s), str(r), env={})) as st:
        build_report(st, resolve_week("2026-W46"), trend_weeks=4, now=NOW)
        kept = {row[0] for row in st.con.execute("select column_name from (describe _sessions_all)").fetchall()}
        replay_kept = {row[0] for row in st.con.execute("select column_name from (describe _replay_mat)").fetchall()}
    assert {"timestamp", "model", "final_verdict", "attempts", "grounded_in_roster", "kind"} <= kept
    assert not kept & {"prompt", "artifact", "daemon", "provider", "timestamp_raw", "line"}
    # One file a stream: the file's name is said once by the views, not stored per row.
    assert replay_kept == {"session_id", "hits"} and "source_file" not in kept


def test_a_custom_alarm_without_session_ids_is_still_counted(tmp_path):
    qdir = tmp_path / "q"
    qdir.mkdir()
    (qdir / "slow_fill.sql").write_text(
        "-- name: slow_fill\n-- kind: alarm\n-- severity: warn\n"
        "-- param: since timestamp = null\n-- param: until timestamp = null\n"
        "select model, duration_ms from sessions where kind = 'fill' and duration_ms > 150\n"
        '    and ($since is null or "timestamp" >= $since::timestamptz)\n'
        '    and ($until is null or "timestamp" < $until::timestamptz)\n'
    )
    s = write_jsonl(tmp_path / "s.jsonl", [session("a", duration_ms=500), session("b", duration_ms=5)])
    with Store(resolve(str(s), None, queries_dirs=[str(qdir)], env={})) as st:
        data = build_report(st, resolve_week("2026-W46"), trend_weeks=2, now=NOW)
    slow = {a["name"]: a for a in data["alarms"]}["slow_fill"]
    assert slow["count"] == 1 and slow["session_ids"] == []


def test_the_html_report_prints_headings_with_what_follows_and_tables_across_pages(mini_report):
    html = render_report(mini_report, "html")
    css = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "@page { size: auto;" in css  # the printer's own paper: A4 or Letter
    printing = css.split("@media print", 1)[1]
    assert "h2 {" in printing and "break-after: avoid-page" in printing
    assert "h2 + * { break-before: avoid-page" in printing
    assert "thead { display: table-header-group; }" in printing
    assert "tr, .card, svg" in printing and "break-inside: avoid-page" in printing
    assert "table, svg { break-inside: avoid" not in css  # a long table may break, between rows
