"""Daily use, round two, at the command line: did-you-mean, DuckDB's own help kept, --out into a missing
folder, one sentence and exit 2 for no source, full-width tables when piped, doctor's summary, the
self-test's reason, a silent cron report, English counts, and the README's extras."""

from __future__ import annotations

import os
import re
import tomllib

import pytest

from .conftest import ROOT, session, write_jsonl


@pytest.fixture
def log(tmp_path):
    rows = [session(f"s-{i}", model=f"m-{i % 3}", ts=f"2026-11-1{i % 5}T10:00:00Z") for i in range(30)]
    return write_jsonl(tmp_path / "logs" / "sessions.jsonl", rows)


def test_did_you_mean_for_query_names_and_parameters(cli, log):
    code, _, err = cli("run", "first_shot_rate", "-s", log)
    assert code == 2 and "no query named 'first_shot_rate' (did you mean " in err
    assert "first_shot_success_rate" in err.split("did you mean ")[1].split(")")[0]
    code, _, err = cli("run", "first_shot_success_rat", "-s", log)
    assert code == 2 and "(did you mean first_shot_success_rate" in err  # the closest first
    code, _, err = cli("run", "top_rejection_errors", "-p", "modle=x", "-s", log)
    assert code == 2 and "unknown parameter modle; did you mean model?" in err


def test_sql_keeps_duckdbs_hint_and_caret_under_one_error(cli, log):
    code, _, err = cli("sql", "select modl from sessions", "-s", log)
    lines = err.splitlines()
    assert code == 1 and lines[0].startswith('error: query failed: Binder Error: Referenced column "modl" not found')
    assert any(x.strip().startswith('Candidate bindings: "model"') for x in lines[1:])
    line = next(x for x in lines if "LINE 1:" in x)
    caret = lines[lines.index(line) + 1]
    # the caret still sits under the mistake: both lines keep the same indent
    assert caret.strip().startswith("^") and caret.index("^") == line.index("modl")
    assert "Traceback" not in err and all(x.startswith(("error: ", "  ")) for x in lines)


def test_out_into_a_missing_folder_is_a_one_line_usage_error(cli, log, tmp_path):
    code, out, err = cli("report", "-s", log, "--week", "2026-W46", "-o", tmp_path / "nope" / "r.html", "-f", "html")
    assert (code, out) == (
        2,
        "",
    ) and err == f"error: --out {tmp_path / 'nope' / 'r.html'}: the folder {tmp_path / 'nope'} does not exist\n"
    assert not (tmp_path / "nope").exists()


NO_SOURCE = (
    "error: no sessions log configured: pass --sessions PATH, set FORENSICS_SESSIONS, or name it in "
    "./forensics.toml (see `forensics --help`)\n"
)


@pytest.mark.parametrize(
    "args",
    [
        ["run", "first_shot_success_rate"],
        ["sql", "select 1"],
        ["report"],
        ["doctor"],
        ["export", "-o", "x"],
        ["incident", "abc"],
    ],
)
def test_every_reading_command_without_a_source_exits_2_with_one_sentence(cli, args):
    assert cli(*args) == (2, "", NO_SOURCE)


def test_ingest_into_a_new_store_without_a_source_exits_2_with_the_same_sentence(cli, tmp_path):
    code, out, err = cli("ingest", "--store", tmp_path / "new")
    assert (code, out) == (2, "") and err.startswith(NO_SOURCE.rstrip("\n") + "; the store remembers its sources")


def test_the_alarm_without_a_source_keeps_exit_3_for_cron(cli):
    code, out, err = cli("alarm")
    assert code == 3 and "could not evaluate: no sessions log configured" in out + err


def test_tables_use_the_full_width_when_piped_unless_columns_says(run_script, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    piped = run_script("list", env=env, cwd=tmp_path)
    assert piped.returncode == 0 and "…" not in piped.stdout.decode()
    assert "Distribution of the attempts it took to accept (1 = first shot), per model." in piped.stdout.decode()
    narrow = run_script("list", env={**env, "COLUMNS": "80"}, cwd=tmp_path).stdout.decode()
    assert "…" in narrow and max(len(x) for x in narrow.splitlines()) <= 80  # an 80-column terminal


def test_doctor_prints_a_summary_and_the_problems_verbose_every_check(cli, tmp_path):
    log = write_jsonl(tmp_path / "s.jsonl", [session("a"), session("bad", grounded=False)])
    code, out, _ = cli("doctor", "-s", log)
    lines = out.splitlines()
    assert code == 1 and re.fullmatch(r"\d+ checks ok, 1 problem", lines[-1])
    assert [x.split(":")[0] for x in lines if x.startswith(("FAIL", "ok "))] == ["FAIL ungrounded_accepted"]
    code, out, _ = cli("doctor", "-s", log, "--verbose")
    ok = [x for x in out.splitlines() if x.startswith("ok ")]
    assert code == 1 and len(ok) == int(out.splitlines()[-1].split()[0]) - 1  # every check; the file is one too
    code, out, _ = cli("doctor", "-s", write_jsonl(tmp_path / "c.jsonl", [session("a")]))
    assert code == 0 and re.fullmatch(r"\d+ checks ok: healthy \(--verbose lists every check\)", out.splitlines()[-1])


@pytest.mark.slow  # two alarm runs on a planted log: about 5 s with both cores busy
def test_the_self_test_says_what_was_missed_and_why(cli, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "ungrounded_accepted.sql").write_text(
        "-- name: ungrounded_accepted\n-- kind: alarm\n-- severity: critical\n-- description: mine\n"
        'select session_id, "timestamp", model, kind, daemon, source_file, line from sessions where false\n'
    )
    code, out, err = cli("alarm", "--self-test", "-q", mine)
    assert code == 3
    assert (
        "self-test FAILED: the planted ungrounded_accepted row was not flagged: "
        f"ungrounded_accepted is replaced by {(mine / 'ungrounded_accepted.sql').resolve()}"
    ) in out + err


def test_a_store_without_replay_runs_is_said_in_the_report_not_on_stderr(cli, log, tmp_path):
    store, page = tmp_path / "store", tmp_path / "week.html"
    assert cli("ingest", "--store", store, "-s", log)[0] == 0
    assert cli("report", "--store", store, "--week", "2026-W46", "-f", "html", "-o", page) == (0, "", "")
    assert "This store holds no replay runs" in page.read_text()


@pytest.mark.slow  # four runs of the installed script, as cron runs it
def test_the_weekly_cron_line_is_silent_and_the_report_says_a_store_has_no_replay_runs(run_script, log, tmp_path):
    store, page = tmp_path / "store", tmp_path / "week.html"
    assert run_script("ingest", "--store", store, "-s", log, cwd=tmp_path).returncode == 0
    cron = run_script("report", "--store", store, "--week", "2026-W46", "--format", "html", "--out", page, cwd=tmp_path)
    assert (cron.returncode, cron.stdout, cron.stderr) == (0, b"", b"")
    assert "This store holds no replay runs" in page.read_text()
    loud = run_script("report", "--store", store, "--week", "2026-W46", "-f", "html", "-o", page, "-v", cwd=tmp_path)
    assert loud.stderr.decode() == f"wrote html report for 2026-W46 to {page}\n"


def test_counts_read_as_english(cli, tmp_path, log):
    cli("generate", "-o", tmp_path / "demo", "-n", "20")
    code, _, err = cli("generate", "-o", tmp_path / "demo", "-n", "20")
    assert code == 2 and "replay_runs.jsonl already exist; pass --force to overwrite them" in err
    assert "exist(s)" not in err and f"{tmp_path / 'demo' / 'sessions.jsonl'} and " in err
    code, _, err = cli("run", "first_shot_success_rate", "-s", log, "--limit", "2")
    assert err == "note: 1 more row not shown (--limit 2); 3 in all\n"


def test_the_readme_and_ci_name_extras_that_exist_and_agree():
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    texts = {name: (ROOT / name).read_text() for name in ("README.md", ".ci/run")}
    named = {name: re.findall(r"\.\[([a-z,-]+)\]", text) for name, text in texts.items()}
    for name, groups in named.items():
        for group in groups:
            assert set(group.split(",")) <= extras, (name, group)
    # the spark test line installs the same extras wherever it is written
    spark_lines = {name: {g for g in groups if "spark" in g and "dev" in g} for name, groups in named.items()}
    assert spark_lines["README.md"] == spark_lines[".ci/run"] == {"dev,spark-connect"}
