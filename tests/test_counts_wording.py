"""Every count the tool prints reads as English: "1 row", "2 rows", never "row(s)". One helper
(`forensics.output.counted`, `plural`) says them all, in code and as the templates' filter."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

from forensics.output import counted, plural

from .conftest import _ts, replay, session, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
# "row(s)", "reply(ies)", "match(es)": a count's noun hedged instead of said. (http(s):// is a scheme.)
HEDGED = re.compile(r"\b(?!http\()\w+\((?:s|es|ies)\)")


def test_counted_says_one_and_many_as_english_does():
    assert [counted(n, "row") for n in (0, 1, 2, 1204)] == ["0 rows", "1 row", "2 rows", "1,204 rows"]
    assert counted(2, "reply") == "2 replies" and counted(2, "day") == "2 days" and counted(3, "batch") == "3 batches"
    assert counted(2, "more ungrounded_accepted row") == "2 more ungrounded_accepted rows"
    assert counted(2, "person", "people") == "2 people" and counted(1, "person", "people") == "1 person"
    assert plural(1, "iteration") == "iteration" and plural(None, "iteration") == "iterations"


@pytest.fixture(scope="module")
def said(tmp_path_factory) -> dict[str, str]:
    """What the alarm's mail, the incident page (markdown, HTML) and doctor say, stdout and stderr, on
    logs that hold one of some things and two of others: two files of one session's two violating
    calls (max_iterations 1 and 2), one unreadable line, two replay runs of one and of two hits."""
    from typer.testing import CliRunner

    import forensics
    from forensics.cli.main import app
    from forensics.oncall.incident import build_incident, render_incident

    logs = tmp_path_factory.mktemp("said") / "logs"
    for i in (1, 2):
        bad = session("BAD-1", grounded=False, ts=_ts(2 + i), max_iterations=i)
        write_jsonl(logs / f"sessions-{i}.jsonl", [bad, "{not json"] if i == 1 else [bad])
    r = write_jsonl(logs / "replay_runs.jsonl", [replay("BAD-1", hits, ts=_ts(1)) for hits in (1, 2)])
    s = str(logs / "sessions-*.jsonl")
    runner = CliRunner()

    def run(*args) -> str:
        res = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return res.stdout + res.stderr

    with forensics.connect(sessions=s, replay_runs=str(r)) as st:
        incident = build_incident(st, "BAD-1", around=1)
    return {
        "alarm": run("alarm", "-s", s, "--max-unreadable", "10"),
        "markdown": render_incident(incident, "markdown"),
        "html": render_incident(incident, "html"),
        "doctor": run("doctor", "-s", s, "-r", r),
    }


def test_one_is_said_in_the_singular_and_two_in_the_plural(said):
    alarm, md, html, doctor = said["alarm"], said["markdown"], said["html"], said["doctor"]
    assert alarm.startswith("ALARM: 2 new critical, 0 firing, 0 acknowledged, 0 new warnings, 0 resolved; ")
    assert "checked 2 files, 2 rows, 1 unreadable line, " in alarm
    assert "1 unreadable line skipped (invalid_json: 1; line 2)" in alarm
    assert "2 calls, 2 replay runs." in md and "2 calls, 2 replay runs.</p>" in html
    for page in (md, html):
        assert "after 1 of 1 iteration;" in page and "after 1 of 2 iterations;" in page
        assert "k = 8, 1 hit." in page and "k = 8, 2 hits." in page
    assert "up to 1 call before" in md
    assert "(sessions): 1 row, 1 unreadable" in doctor and "(replay_runs): 2 rows, 0 unreadable" in doctor
    assert "orphans: 0 of 1 session id have no replay run" in doctor
    assert re.search(r"\n\d+ checks ok, 2 problems\n", doctor), doctor


def test_no_output_hedges_a_count(said):
    assert all(text.strip() for text in said.values())
    assert {what: HEDGED.findall(text) for what, text in said.items() if HEDGED.search(text)} == {}


# Where a hedged count is still written, left to another change (the store's modules are another
# helper's this round); this test fails once it is fixed, so the exception goes with it.
LEFT: set[str] = set()


def test_no_string_in_the_code_or_templates_hedges_a_count():
    found = set()
    for path in sorted((ROOT / "forensics").rglob("*.py")):
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
            # (Python 3.12 tokenizes an f-string into parts: its text is FSTRING_MIDDLE, not STRING.)
            text = tok.type == tokenize.STRING or tokenize.tok_name[tok.type] == "FSTRING_MIDDLE"
            if text and HEDGED.search(tok.string):
                found.add(path.relative_to(ROOT).as_posix())
    for path in sorted((ROOT / "forensics" / "templates").rglob("*.j2")):
        if HEDGED.search(path.read_text(encoding="utf-8")):
            found.add(path.relative_to(ROOT).as_posix())
    assert found == LEFT
