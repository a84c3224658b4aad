"""Daily use: the same options and exit codes on every command, the config typo, the trend's empty
weeks, twelve distinguishable models, DataFrames without pandas."""

from __future__ import annotations

import json
import re
import sys

import pytest

from forensics.cli import app

from .conftest import session, write_jsonl


@pytest.fixture
def log(tmp_path):
    rows = [session(f"s-{i}", model=f"m-{i % 3}", ts=f"2026-11-1{i % 5}T10:00:00Z") for i in range(30)]
    return write_jsonl(tmp_path / "logs" / "sessions.jsonl", rows)


@pytest.mark.parametrize(
    "args",
    [
        ["run", "nope"],
        ["run", "top_rejection_errors", "-p", "top"],
        ["run", "top_rejection_errors", "-p", "top=x"],
        ["run", "top_rejection_errors", "-p", "nope=1"],
        ["run", "orphans", "--since", "7d"],
        ["run", "first_shot_success_rate", "--since", "tomorrow-ish"],
        ["run", "first_shot_success_rate", "--since", "7d", "-p", "since=7d"],
        ["sql", "select $x"],
        ["sql", "select 1", "-p", "x=1"],
        ["sql", "select 1", "-p", "x"],
        ["report", "--week", "46"],
        ["report", "--week", "2026-W54"],
        ["show", "nope"],
        ["ingest", "--store", "st", "--retain", "2h"],
        ["alarm", "--repeat", "soon"],
        ["run", "first_shot_success_rate", "--limit", "-1"],
    ],
)
def test_every_usage_error_exits_2_with_one_line(cli, log, args):
    code, out, err = cli(*args, "-s", log)
    assert code == 2, (out, err)
    assert "Traceback" not in err


def test_a_config_key_it_does_not_know_is_an_error_naming_the_closest(cli, log, tmp_path):
    cfg = tmp_path / "forensics.toml"
    cfg.write_text(f'sesions = "{log}"\n')
    for command in (["run", "first_shot_success_rate"], ["alarm"], ["report"], ["doctor"], ["sql", "select 1"]):
        code, out, err = cli(*command, "--config", cfg)
        assert code == 2 and "unknown key 'sesions'" in out + err and "did you mean 'sessions'" in out + err, command
    cfg.write_text(f'[sources]\nsessions = "{log}"\nreplay_run = "x"\n')
    code, out, err = cli("run", "first_shot_success_rate", "--config", cfg)
    assert code == 2 and "'replay_run'" in err and "'replay_runs'" in err


def test_version_and_h(cli):
    from forensics import __version__

    assert cli("--version") == (0, f"forensics {__version__}\n", "")
    code, out, _ = cli("-h")
    assert code == 0 and "Commands:" in out
    code, out, _ = cli("run", "-h")
    assert code == 0 and "--since" in out


def test_the_top_level_help_shows_each_summary_whole(cli):
    code, out, _ = cli("--help")
    flat = " ".join(out.split())
    for info in app.registered_commands:
        summary = " ".join(info.callback.__doc__.strip().splitlines()[0].split())
        assert summary in flat and "..." not in summary


def test_run_takes_since_and_until_like_the_alarm(cli, log):
    a = cli("run", "first_shot_success_rate", "-s", log, "--since", "2026-11-12", "--until", "2026-11-14", "-f", "json")
    b = cli(
        "run", "first_shot_success_rate", "-s", log, "-p", "since=2026-11-12", "-p", "until=2026-11-14", "-f", "json"
    )
    assert a == b and a[0] == 0
    everything = json.loads(cli("run", "first_shot_success_rate", "-s", log, "-f", "json")[1])
    assert sum(r["reached_model"] for r in json.loads(a[1])) == 12 < sum(r["reached_model"] for r in everything)


def test_sql_binds_parameters_like_run(cli, log):
    code, out, _ = cli(
        "sql",
        'select count(*) as n from sessions where model = $m and "timestamp" >= $t::timestamptz',
        "-p",
        "m=m-1",
        "-p",
        "t=2026-11-12",
        "-s",
        log,
        "-f",
        "json",
    )
    assert code == 0 and json.loads(out) == [{"n": 6}]
    code, out, _ = cli("sql", "select $m as m", "-p", "m=it's; drop table sessions", "-s", log, "-f", "json")
    assert json.loads(out) == [{"m": "it's; drop table sessions"}]  # bound, never spliced


def test_limit_says_on_stderr_how_many_rows_it_left_out(cli, log):
    code, out, err = cli("sql", "select session_id from sessions", "-s", log, "--limit", "4", "-f", "csv")
    assert code == 0 and len(out.splitlines()) == 5
    assert err.strip() == "note: 26 more rows not shown (--limit 4); 30 in all"
    assert cli("sql", "select session_id from sessions", "-s", log, "--limit", "40")[2] == ""


def test_a_lower_case_week_is_the_same_week(cli, log):
    assert cli("report", "-s", log, "--week", "2026-w46")[1].replace("W46", "") != ""
    a, b = cli("report", "-s", log, "--week", "2026-w46"), cli("report", "-s", log, "--week", "2026-W46")
    strip = lambda t: re.sub(r"Generated \S+", "", t)  # noqa: E731
    assert a[0] == b[0] == 0 and strip(a[1]) == strip(b[1])


def test_the_trend_shows_weeks_without_data_as_empty(cli, log):
    # The logs begin in W46: the week before spends no width; the empty weeks after are shown empty.
    code, md, _ = cli("report", "-s", log, "--week", "2026-W48", "--trend-weeks", "4")
    trend = md.split("## First-shot trend", 1)[1].split("\n## ", 1)[0]
    header = next(x for x in trend.splitlines() if x.startswith("| model"))
    assert header.split("|")[2:-1] == [" 2026-W46 ", " 2026-W47 ", " 2026-W48 "]
    assert "No calls at all in 2026-W47, 2026-W48 (shown –)." in trend
    assert "The logs begin in 2026-W46: the week before is left out of the trend." in trend
    m0 = next(x for x in trend.splitlines() if x.startswith("| `m-0`"))
    assert m0.split("|")[2:-1] == [" 100% ", " – ", " – "]
    code, html, _ = cli("report", "-s", log, "--week", "2026-W48", "--trend-weeks", "4", "--format", "html")
    assert html.count(">no data</text>") == 2


def test_twelve_models_are_twelve_distinguishable_lines(cli, tmp_path):
    from forensics.palette import styles

    models = [f"model-{i:02d}" for i in range(12)]
    rows = [session(f"s-{m}-{i}", model=m, ts=f"2026-11-1{i % 2}T10:00:00Z") for m in models for i in range(4)]
    log = write_jsonl(tmp_path / "s.jsonl", rows)
    code, html, _ = cli("report", "-s", log, "--week", "2026-W46", "--format", "html", "--trend-weeks", "2")
    legend = re.findall(
        r'<line x1="[\d.]+" x2="[\d.]+" y1="[\d.]+" y2="[\d.]+" stroke="(#\w+)" stroke-width="2"'
        r'(?: stroke-dasharray="([\d ]+)")?/>\s*<text[^>]*>([^<]+)</text>',
        html,
    )
    assert sorted(name for _, _, name in legend) == models
    assert len({(colour, dash) for colour, dash, _ in legend}) == 12
    # the notebook takes its styles from the same place: the same model, the same line
    by_name = {name: (colour, dash) for colour, dash, name in legend}
    assert {m: (s["color"], s["dash"]) for m, s in styles(models).items()} == by_name


def test_dataframes_without_pandas_say_how_to_install_it(log, monkeypatch):
    import forensics
    from forensics.errors import ForensicsError

    monkeypatch.setitem(sys.modules, "pandas", None)
    with forensics.connect(str(log)) as st:
        with pytest.raises(ForensicsError, match=r"pip install 'forensics\[notebook\]'"):
            st.run("first_shot_success_rate")
        with pytest.raises(ForensicsError, match=r"forensics\[notebook\]"):
            st.df("select 1")


def test_terminal_tables_show_rates_as_percentages_and_fit_the_terminal(cli, log, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # (at 100 the long column names fold onto two lines)
    code, out, _ = cli("run", "first_shot_success_rate", "-s", log)
    header, _, first = out.splitlines()[:3]
    assert header.split()[:6] == ["model", "reached_model", "first_shot", "rate", "ci_low", "ci_high"]
    assert re.fullmatch(r"\d{1,3}\.\d%", first.split()[3]) and re.fullmatch(r"\d{1,3}\.\d%", first.split()[4])
    csv_rate = cli("run", "first_shot_success_rate", "-s", log, "-f", "csv")[1].splitlines()[1].split(",")[3]
    assert float(csv_rate) <= 1 and "%" not in csv_rate  # csv and json keep the number
    long_error = "schema: " + "x" * 300
    rows = [session(f"r-{i}", verdict="max_iter_exhausted", ts="2026-11-10T10:00:00Z") for i in range(3)]
    for r in rows:
        for a in r["attempts"]:
            a["error"] = long_error
    write_jsonl(tmp_path / "wide.jsonl", rows)
    wide = "wide.jsonl"  # (the tests run in tmp_path) a file name, not a 70-character temp path
    for columns in (140, 200):  # (nine columns: at 100 the ids and times alone leave no room)
        monkeypatch.setenv("COLUMNS", str(columns))
        code, out, _ = cli("run", "three_consecutive_rejections", "-s", wide)
        lines = out.splitlines()
        assert code == 0 and max(len(x) for x in lines) <= columns, (columns, out)
        first = lines[next(i for i, x in enumerate(lines) if x.startswith("---")) + 1]  # (headers may fold)
        assert "…" in first and "r-0" in out  # the free text is cut, the id never
    code, out, _ = cli("run", "three_consecutive_rejections", "-s", wide, "-f", "json")
    assert long_error in json.loads(out)[0]["errors"]
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = cli("list")
    assert code == 0 and max(len(x) for x in out.splitlines()) <= 100
    # an 80-column terminal: a long column name folds after its underscore, the table fits
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = cli("run", "first_shot_success_rate", "-s", log)
    assert out.splitlines()[0].split()[:3] == ["model", "reached_", "first_"]
    assert out.splitlines()[1].split()[:2] == ["model", "shot"]
    assert max(len(x) for x in out.splitlines()) <= 86  # (tabulate pads each header by two)
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = cli("list")
    assert code == 0 and max(len(x) for x in out.splitlines()) <= 80


# --- build_session_record takes what a caller naturally has ----------------------------------------


def _row(record):
    from forensics.write.rows import session_row

    return session_row(record)


@pytest.mark.parametrize("key", ["history", "attempts"])
@pytest.mark.parametrize("id_key", ["trace_id", "session_id"])
def test_build_session_record_reads_either_name_from_dicts_and_objects(key, id_key):
    from types import SimpleNamespace

    from forensics import build_session_record

    attempts = [
        {"iteration": 0, "verdict_kind": "validation_failed", "error": "phantom W-9"},
        {"iteration": 1, "verdict_kind": "accepted"},
    ]
    req = {"kind": "fill", "model": "m", "prompt": "p", "max_iterations": 3, id_key: "sess-1"}
    resp = {"artifact": {"fills": []}, "iterations": 2, key: attempts}
    for r, o in ((req, resp), (SimpleNamespace(**req), SimpleNamespace(**resp))):
        rec = build_session_record(r, response=o, roster_check=lambda a: True)
        assert rec["session_id"] == "sess-1" and [a["verdict_kind"] for a in rec["attempts"]] == [
            "validation_failed",
            "accepted",
        ]
        assert rec["attempts"][0]["error"] == "phantom W-9" and rec["grounded_in_roster"] is True
        failed = build_session_record(r, failure={"iterations": 2, key: attempts[:1]})
        assert failed["final_verdict"] == "max_iter_exhausted" and len(failed["attempts"]) == 1


def test_what_build_session_record_cannot_read_is_logged_not_silent(caplog):
    import logging

    from forensics import build_session_record

    caplog.set_level(logging.WARNING, logger="forensics.writer")
    rec = build_session_record(
        {"model": "m", "trace_id": "t-1"},
        response={"artifact": {}, "iterations": 2, "steps": [{"verdict_kind": "accepted"}]},
    )
    assert rec["attempts"] == [] and "no history or attempts" in caplog.text and "t-1" in caplog.text
    caplog.clear()
    rec = build_session_record("just a prompt", error=TimeoutError("slow"))
    assert rec["final_verdict"] == "infra_error" and "the request is a str" in caplog.text
    caplog.clear()
    build_session_record({"model": "m"}, failure={"iterations": 0, "history": []})
    assert caplog.text == ""  # nothing missing: nothing said


@pytest.mark.default_keeps(1)
def test_every_command_the_demo_prints_reproduces_what_it_showed(cli):
    import shlex

    code, out, _ = cli("demo")
    sections = re.split(r"\n(?===)", out)
    commands = 0
    for section in sections:
        m = re.match(r"== [^\n]*\(\$ (forensics [^\n]*)\)\n", section)
        if not m:
            continue
        command, shown = m.group(1), section[m.end() :].strip("\n").splitlines()
        head = None
        if " | head -" in command:
            command, n = command.split(" | head -")
            head = int(n)
        code_, printed, _ = cli(*shlex.split(command)[1:])
        printed = printed.splitlines()[:head] if head else printed.splitlines()
        shown = [x for x in shown if not x.startswith("exit code ")]
        drop = lambda lines: [x for x in lines if "Generated" not in x]  # noqa: E731  (the report's clock)
        assert drop(printed) == drop(shown), command
        commands += 1
    assert commands == 6


def test_a_store_s_replay_runs_are_given_to_the_report_without_naming_their_logs(cli, tmp_path):
    from .conftest import replay

    s = write_jsonl(tmp_path / "s.jsonl", [session(f"s-{i}", ts="2026-11-10T10:00:00Z") for i in range(5)])
    r = write_jsonl(tmp_path / "r.jsonl", [replay(f"s-{i}", i) for i in range(5)])
    assert cli("ingest", "--store", tmp_path / "st", "-s", s, "-r", r)[0] == 0
    code, md, err = cli("report", "--store", tmp_path / "st", "--week", "2026-W46")
    depth = md.split("## Retrieval depth", 1)[1].split("\n## ", 1)[0]
    assert code == 0 and "No replay runs given" not in depth and "| `m-a` |" in depth
