"""The report as a reader meets it: the headline, the alarm cards, a week in progress, the trend's bands, and the
HTML laid out by a real headless Chromium at 1280 px and on A4 and Letter (nothing wider than its page, no
name, id or time broken inside a word)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from forensics.oncall.memory import Memory
from forensics.read.sources import resolve
from forensics.report.weekly import build_report, render_report
from forensics.store.connection import Store
from forensics.timewindow import resolve_week

from . import busy_week, chromium
from .conftest import session, write_jsonl


@pytest.fixture(scope="module")
def busy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("busy")
    s, r, state = busy_week.write(folder)
    with Store(resolve(str(s), str(r), env={})) as st:
        data = build_report(
            st, resolve_week("2026-W46"), trend_weeks=8, now=busy_week.NOW, memory=Memory.of_file(state)
        )
    html = folder / "report.html"
    html.write_text(render_report(data, "html"), encoding="utf-8")
    return data, html


def _quiet(tmp_path, **kw):
    rows = [
        session(f"q-{w}-{i}", model="m-a", ts=f"2026-11-{d:02d}T10:00:00Z")
        for w, d in ((0, 3), (1, 10))
        for i in range(40)
    ]
    s = write_jsonl(tmp_path / "s.jsonl", rows)
    with Store(resolve(str(s), env={})) as st:
        return build_report(st, resolve_week(kw.pop("week", "2026-W46")), trend_weeks=4, **kw)


def test_the_headline_of_a_quiet_week(tmp_path):
    state = tmp_path / "state.json"
    data = _quiet(tmp_path, now=datetime(2026, 11, 16, 9, 0, tzinfo=UTC), memory=Memory.of_file(state))
    assert data["headline"]["text"] == "All quiet: 0 open incidents, no real change"
    assert data["headline"]["quiet"]
    md = render_report(data, "markdown")
    assert "**All quiet: 0 open incidents, no real change.**" in md
    assert '<p class="headline">All quiet: 0 open incidents, no real change</p>' in render_report(data, "html")


def test_the_headline_of_a_week_with_a_real_change_and_acknowledged_incidents(busy):
    data, html = busy
    assert data["headline"]["text"] == (
        "1 model got worse: mistral-small:24b-instruct-2501-q4_K_M first shot -35.9 pp (real change); "
        "3 incidents, all acknowledged"
    )
    assert not data["headline"]["quiet"]
    page = html.read_text()
    assert '<p class="headline act">1 model got worse: <code>mistral-<wbr>small:<wbr>24b-<wbr>' in page
    # ... and marked where the eye lands: the row and the chart's legend
    assert re.search(r'<tr class="worse">\s*<td class="model"><code>mistral-', page)
    assert 'class="down">mistral-small:24b-instruct-2501-q4_K_M ▼</text>' in page


def test_alarm_cards_say_what_is_open(busy):
    data, html = busy
    cards = {a["name"]: a for a in data["alarms"]}
    assert (cards["unverified_accepted_fill"]["count"], cards["unverified_accepted_fill"]["open"]) == (2, 0)
    assert (cards["ungrounded_accepted"]["count"], cards["ungrounded_accepted"]["open"]) == (1, 0)
    page = html.read_text()
    assert '<div class="n">2 <span class="of">this week · 0 open</span></div>' in page
    assert 'class="card critical hit"' not in page  # acknowledged: not a red open alarm


def test_an_open_incident_is_red_and_leads_the_headline(tmp_path):
    s, r, state = busy_week.write(tmp_path, acknowledged=False)
    with Store(resolve(str(s), str(r), env={})) as st:
        data = build_report(st, resolve_week("2026-W46"), now=busy_week.NOW, memory=Memory.of_file(state))
    assert data["headline"]["text"].endswith("; 3 incidents, 1 open")
    page = render_report(data, "html")
    assert (
        page.count('class="card critical hit"') == 1
        and '<div class="n">1 <span class="of">this week · 1 open</span></div>' in page
    )
    assert _quiet_with(tmp_path, state)["headline"]["text"] == "3 incidents, 1 open; no real change"


def _quiet_with(tmp_path, state):
    return _quiet(tmp_path, now=busy_week.NOW, memory=Memory.of_file(state))


def test_a_week_in_progress_says_so(tmp_path):
    data = _quiet(tmp_path, week="2026-W46", now=datetime(2026, 11, 9, 0, 7, 30, tzinfo=UTC))
    assert "partial week: 7 minutes of data so far" in render_report(data, "html")
    assert "Partial week: 7 minutes of data so far." in render_report(data, "markdown")
    later = _quiet(tmp_path, week="2026-W46", now=datetime(2026, 11, 12, 4, 0, tzinfo=UTC))
    assert "partial week: 3 days 4 hours of data so far" in render_report(later, "html")
    assert "partial week" not in render_report(_quiet(tmp_path, now=datetime(2026, 11, 16, tzinfo=UTC)), "html")


def test_the_trend_draws_bands_an_axis_title_and_the_tables_order(busy):
    data, html = busy
    page = html.read_text()
    table = [m["model"] for m in data["models"]]
    legend = re.findall(
        r'<text x="[\d.]+" y="[\d.]+"(?: class="\w+")?>([^<]+?)(?: [▼▲])?</text>', page.split("<svg", 1)[1]
    )
    assert [x for x in legend if x in table] == table
    assert page.count('fill-opacity="0.12"') == len(table)  # one band a model, two weeks each
    assert "first shot, of calls that reached the model" in page and "95% interval" in page
    assert len(data["chart"]["ticks"]) == 2  # the store began in W45: no six empty weeks before it


def test_times_show_to_the_second_and_the_basis_speaks_plainly(busy):
    data, html = busy
    page = html.read_text()
    assert '2026-11-11</span><wbr><span class="nw">T10:02:13Z' in page  # was 10:02:13.412
    assert ".412" not in page
    assert "fingerprint" not in page.lower()
    assert "calls logged between" in page and "<summary>How these figures are computed</summary>" in page


# -- in a real browser ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    b = chromium.Browser(chromium.require())
    yield b
    b.close()


def test_the_report_fits_1280px_in_chromium_and_breaks_no_token(busy, browser):
    _, html = busy
    page = browser.page(html, 1280)
    try:
        found = page.eval(chromium.MEASURE)
    finally:
        page.close()
    assert found["scrollWidth"] <= found["width"] == 1280, found
    assert found["wider"] == [] and found["midToken"] == [], found


@pytest.mark.parametrize("paper", ["A4", "Letter"])  # (the browser is already up: under a second each)
def test_the_report_printed_fits_its_page(busy, browser, paper, tmp_path):
    _, html = busy
    page = browser.page(html, chromium.PRINT_WIDTHS[paper], media="print")
    try:
        found = page.eval(chromium.MEASURE)
        pdf = page.pdf(paper)
    finally:
        page.close()
    assert found["wider"] == [] and found["midToken"] == [], found
    assert found["scrollWidth"] <= found["width"], found
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 2


def test_the_measure_sees_an_overflow_and_a_broken_token(browser, tmp_path):
    """The check itself can fail: a table wider than the page and an id broken inside a word are both seen."""
    page_file = tmp_path / "bad.html"
    page_file.write_text(
        "<!doctype html><body style='margin:0'><table style='width:1500px'><tr><td>wide</td></tr></table>"
        "<div style='width:60px'><code style='overflow-wrap:anywhere'>abcdefghijklmnopqrstuvwxyz</code></div>"
    )
    page = browser.page(page_file, 1280)
    try:
        found = page.eval(chromium.MEASURE)
    finally:
        page.close()
    assert any(w.startswith("table") for w in found["wider"]) and found["midToken"], found
