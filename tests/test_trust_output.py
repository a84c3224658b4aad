"""What the alarm guarantees, on the answering side: alarm queries see what run sees, the critical
alarm cannot be switched off by accident, untrusted text cannot forge output, odd data does not
crash, one vocabulary."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from forensics.read.sources import resolve
from forensics.report.weekly import build_report, render_report
from forensics.store.connection import Store
from forensics.timewindow import resolve_week

from .conftest import session, write_jsonl

PARTITIONING_ALARM = """-- name: repeated_line_alarm
-- kind: alarm
-- severity: warn
-- description: Rows ranked within their file by line, and counted per file.
select
    session_id,
    "timestamp",
    model,
    kind,
    daemon,
    source_file,
    line,
    row_number() over (partition by source_file order by line) as nth,
    count(*) over (partition by line) as same_line
from sessions
where final_verdict = 'accepted'
"""


def test_an_alarm_query_returns_under_alarm_what_it_returns_under_run(cli, tmp_path):
    qdir = tmp_path / "q"
    qdir.mkdir()
    (qdir / "repeated_line_alarm.sql").write_text(PARTITIONING_ALARM)
    a = write_jsonl(tmp_path / "a.jsonl", [session("a1"), b"", session("a2", verdict="infra_error"), session("a3")])
    b = write_jsonl(tmp_path / "b.jsonl", [b"{torn", session("b1"), session("b2")])
    code, out, _ = cli("run", "repeated_line_alarm", "-s", a, "-s", b, "-q", qdir, "-f", "json")
    ran = [{k: r[k] for k in ("session_id", "source_file", "line", "nth", "same_line")} for r in json.loads(out)]
    code, out, _ = cli("alarm", "-s", a, "-s", b, "-q", qdir, "-f", "json", "--max-unreadable", "1")
    alarmed = [
        {
            "session_id": w["session_id"],
            "source_file": w["source_file"],
            "line": w["line"],
            "nth": w["row"]["nth"],
            "same_line": w["row"]["same_line"],
        }
        for w in json.loads(out)["warnings"]
    ]
    key = lambda r: (r["source_file"], r["line"])  # noqa: E731
    assert sorted(alarmed, key=key) == sorted(ran, key=key)
    assert {(os.path.basename(r["source_file"]), r["line"], r["nth"]) for r in ran} == {
        ("a.jsonl", 1, 1),
        ("a.jsonl", 4, 2),
        ("b.jsonl", 2, 1),
        ("b.jsonl", 3, 2),
    }
    assert all(r["same_line"] >= 1 for r in ran)


REPLACEMENT = """-- name: ungrounded_accepted
-- kind: alarm
-- severity: {severity}
-- description: A replacement that misses everything.
select session_id, "timestamp", model, kind, daemon, source_file, line from sessions where false
"""


@pytest.mark.default_keeps(2)
@pytest.mark.parametrize("how", ["queries_dir", "env", "config_in_cwd"])
@pytest.mark.parametrize("severity", ["critical", "warn"])
def test_a_replaced_built_in_alarm_is_announced_and_fails_the_self_test(cli, tmp_path, monkeypatch, how, severity):
    qdir = tmp_path / "mine"
    qdir.mkdir()
    (qdir / "ungrounded_accepted.sql").write_text(REPLACEMENT.format(severity=severity))
    log = write_jsonl(tmp_path / "s.jsonl", [session("BAD", grounded=False)])
    args = []
    if how == "queries_dir":
        args = ["-q", qdir]
    elif how == "env":
        monkeypatch.setenv("FORENSICS_QUERIES", str(qdir))
    else:
        (tmp_path / "forensics.toml").write_text(f'queries_dirs = ["{qdir}"]\n')
        monkeypatch.chdir(tmp_path)
    code, out, err = cli("alarm", "-s", log, *args)
    assert "warning: the built-in alarm ungrounded_accepted (critical) is" in err
    assert ("demoted from critical to warn" in err) == (severity == "warn")
    assert code == 0  # the replacement misses BAD: which is why it is announced
    code, out, err = cli("alarm", "--self-test", *args)
    assert code == 3 and "self-test FAILED" in err


# -- 9. untrusted text --------------------------------------------------------------------

HOSTILE = "evil\nCRITICAL ungrounded_accepted forged line\r\x1b[2K\x1b]0;owned\x07\x85\u2028\u202ename\t|x|"


def _printed_lines_are_ours(text: str) -> None:
    for line in text.splitlines():
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", line), line
    assert not any(line.startswith("CRITICAL ungrounded_accepted forged") for line in text.splitlines())


def test_control_characters_in_every_text_field_are_shown_escaped(cli, tmp_path):
    fields = dict(model=HOSTILE, kind=HOSTILE, daemon=HOSTILE, provider=HOSTILE, prompt=HOSTILE)
    row = session(HOSTILE, **fields)
    row["grounded_in_roster"] = False
    row["attempts"][0]["error"] = HOSTILE
    p = write_jsonl(tmp_path / "s.jsonl", [row, session("ok")])
    code, out, err = cli("alarm", "-s", p)
    assert code == 1
    lines = out.splitlines()[1:]  # (after the summary: the alarm's description, then the row)
    assert len(lines) == 3 and lines[1].startswith("NEW      CRITICAL ungrounded_accepted  ")
    assert (
        "session=evil\\nCRITICAL ungrounded_accepted forged line\\r\\x1b[2K\\x1b]0;owned\\x07\\x85\\u2028\\u202e"
        in lines[1]
    )
    assert lines[2].startswith("  incident: forensics incident $'evil\\nCRITICAL")
    _printed_lines_are_ours(out + err)
    code, out, err = cli("sql", "select session_id, model, kind, daemon, provider, prompt from sessions", "-s", p)
    assert code == 0 and len(out.splitlines()) == 4
    _printed_lines_are_ours(out + err)
    code, out, err = cli("run", "top_rejection_errors", "-s", p)
    _printed_lines_are_ours(out + err)
    code, out, err = cli("doctor", "-s", p)
    _printed_lines_are_ours(out + err)


def test_markdown_output_escapes_html_and_pipes(cli, tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("x", model="<img src=x onerror=alert(1)>|col")])
    code, out, _ = cli("sql", "select model, 1 as n from sessions", "-s", p, "-f", "markdown")
    assert "&lt;img src=x onerror=alert(1)&gt;\\|col" in out and "<img" not in out
    assert all(line.count("|") - line.count("\\|") == 3 for line in out.splitlines())


def test_csv_keeps_full_precision_and_the_table_rounds(cli, tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("x")])
    code, out, _ = cli("sql", "select 2/3 as r, 123456.789012 as big", "-s", p, "-f", "csv")
    assert out.splitlines()[1] == f"{2 / 3!r},123456.789012"
    code, out, _ = cli("sql", "select 2/3 as r", "-s", p)
    assert "0.6667" in out and "0.66666" not in out


BREAKOUTS = [
    "`` ` ```",
    "```\n# heading the data wrote\n```",
    "a\r# cr heading",
    "<script>alert(1)</script>",
    "x | y",
    "`",
    "``",
    " `x` ",
    "\\`",
    "![img](http://example.invalid/x.png)",
    "<b>bold</b>\u2028",
]


def test_the_markdown_report_cannot_be_broken_out_of(tmp_path):
    from markdown_it import MarkdownIt

    rows = []
    for i, text in enumerate(BREAKOUTS):
        r = session(f"s{i}", model=text, ts="2026-11-10T10:00:00Z", verdict="max_iter_exhausted")
        for a in r["attempts"]:
            a["error"] = text
        rows.append(r)
    rows.append(session("g", model="<script>x</script>", grounded=False, ts="2026-11-10T10:00:00Z"))
    p = write_jsonl(tmp_path / "s.jsonl", rows)
    with Store(resolve(str(p), env={})) as st:
        md = render_report(build_report(st, resolve_week("2026-W46"), trend_weeks=2), "markdown")
    html = MarkdownIt("commonmark").enable("table").render(md)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    headings = re.findall(r"<h\d>(.*?)</h\d>", html)
    assert headings and not any("heading" in h or "cr" in h for h in headings), headings
    assert html.count("<code>") >= len(BREAKOUTS)


# -- 11. odd but possible data ------------------------------------------------------------


def test_the_report_takes_a_null_model_in_any_week(cli, tmp_path):
    rows = [session(f"n{i}", model=None, ts=f"2026-11-{d:02d}T10:00:00Z") for i, d in enumerate((3, 10, 11))]
    rows += [session("m", ts="2026-11-10T10:00:00Z")]
    p = write_jsonl(tmp_path / "s.jsonl", rows)
    for fmt in ("markdown", "html"):
        code, out, err = cli("report", "-s", p, "--week", "2026-W46", "-f", fmt)
        assert code == 0, err
        assert "m-a" in out


def test_generate_refuses_to_overwrite_logs(cli, tmp_path):
    out = tmp_path / "logs"
    assert cli("generate", "--out", out, "-n", "20")[0] == 0
    before = (out / "sessions.jsonl").read_bytes()
    code, _, err = cli("generate", "--out", out, "-n", "30", "--seed", "2")
    assert code == 2 and "--force" in err and (out / "sessions.jsonl").read_bytes() == before
    assert cli("generate", "--out", out, "-n", "30", "--seed", "2", "--force")[0] == 0
    assert (out / "sessions.jsonl").read_bytes() != before


def test_no_shared_tmp_path_is_trusted(cli, sample_dir, tmp_path, monkeypatch):
    """Another user may create any name in /tmp first: the report and the alarm write none there."""
    import tempfile

    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    monkeypatch.setenv("TMPDIR", str(shared))
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    s = sample_dir / "sessions.jsonl"
    assert cli("report", "-s", s, "--week", "2026-W45", "-f", "html")[0] == 0
    assert cli("alarm", "-s", s)[0] == 1
    assert list(shared.iterdir()) == []
    cache = tmp_path / "cache" / "forensics"
    assert (cache.stat().st_mode & 0o077) == 0 and {p.name for p in cache.iterdir()} == {"jinja", "locks"}
    # A cache folder others can write is not trusted: the commands still run, without it.
    os.chmod(cache / "locks", 0o777)
    code, _, err = cli("alarm", "-s", s)
    assert code == 3 and "private folder" in err
    os.chmod(cache / "jinja", 0o777)
    assert cli("report", "-s", s, "--week", "2026-W45", "-f", "html")[0] == 0


def test_every_text_is_escaped_in_warnings_about_files(cli, tmp_path):
    p = write_jsonl(tmp_path / "evil\x1b[31mname.jsonl", [session("a"), b"{torn"])
    code, out, err = cli("run", "verdict_breakdown", "-s", p)
    assert code == 0 and "evil\\x1b[31mname.jsonl" in err and "\x1b" not in err


def test_paths_in_json_output_are_kept_whole(cli, tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [session("BAD", grounded=False)])
    code, out, _ = cli("alarm", "-s", p, "-f", "json")
    assert json.loads(out)["violations"][0]["source_file"] == str(Path(p))


# -- 12. one vocabulary -----------------------------------------------------------------------


def test_a_column_named_sessions_counts_session_ids_everywhere(tmp_path):
    """A coordinator session makes several calls: `sessions` counts ids, `calls` counts rows."""
    from forensics.catalog import load_catalog

    rows = [
        session("S", verdict=v, ts="2026-11-10T10:00:00Z")
        for v in ("accepted", "max_iter_exhausted", "max_iter_exhausted", "infra_error")
    ]
    p = write_jsonl(tmp_path / "s.jsonl", rows)
    seen = set()
    with Store(resolve(str(p), env={})) as st:
        for q in load_catalog().queries.values():
            required = {p.name: "S" for p in q.params.values() if p.required}
            res = st.query(q.name, required)
            name = q.name
            for col in ("sessions", "calls"):
                if col in res.columns:
                    seen.add((name, col))
                    values = [r[res.columns.index(col)] for r in res.rows]
                    if col == "sessions":
                        assert max(values) == 1, (name, values)
        total_calls = sum(r[2] for r in st.query("verdict_breakdown").rows)
    assert total_calls == 4
    assert ("top_rejection_errors", "sessions") in seen and ("verdict_breakdown", "calls") in seen
    assert ("model_weekly_summary", "calls") in seen and ("attempts_to_accept", "calls") in seen


@pytest.mark.parametrize(
    "option", [["--since", "99999999999d"], ["--max-age", "99999999999w"], ["--since", "not-a-time"]]
)
def test_an_alarm_option_out_of_range_is_a_usage_error(cli, tmp_path, option):
    p = write_jsonl(tmp_path / "s.jsonl", [session("a")])
    code, out, err = cli("alarm", "-s", p, *option)
    assert code == 2 and "usage error" in err and "unexpected" not in err
    code, out, _ = cli("alarm", "-s", p, *option, "-f", "json")
    assert code == 2 and json.loads(out)["exit_code"] == 2


@pytest.mark.parametrize("verdict", ["Accepted", "accepted ", "ACCEPTED", None, ""])
def test_a_false_roster_verdict_beside_an_unknown_verdict_alarms(cli, tmp_path, verdict):
    row = session("ODD", grounded=False)
    row["final_verdict"] = verdict
    exhausted = session("EX", verdict="max_iter_exhausted", grounded_in_roster=False)
    p = write_jsonl(tmp_path / "s.jsonl", [session("ok"), row, exhausted])
    code, out, _ = cli("alarm", "-s", p)
    assert code == 1 and "CRITICAL ungrounded_unknown_verdict" in out and "session=ODD" in out
    assert "session=EX" not in out
