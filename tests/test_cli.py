"""The command line: thin commands, clear one-line errors, help with examples everywhere."""

from __future__ import annotations

import json

import pytest

from forensics.cli import app

from .conftest import session

COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands)


def test_commands_are_the_documented_set():
    assert (
        sorted(
            [
                "ack",
                "alarm",
                "compare",
                "demo",
                "doctor",
                "export",
                "generate",
                "incident",
                "ingest",
                "list",
                "notebook",
                "report",
                "roundtrip",
                "run",
                "show",
                "sql",
            ]
        )
        == COMMANDS
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command, cli):
    code, out, _ = cli(command, "--help")
    assert code == 0
    assert "Example" in out and f"forensics {command}" in out


def test_list_and_show(cli):
    code, out, _ = cli("list")
    assert code == 0 and "first_shot_success_rate" in out and "alarm" in out
    code, out, _ = cli("list", "--format", "json")
    names = {q["name"]: q for q in json.loads(out)}
    assert names["ungrounded_accepted"]["severity"] == "critical"
    code, out, _ = cli("show", "first_shot_success_rate")
    assert code == 0 and "Wilson" in out and "since (timestamp, default none)" in out and "select" in out


def test_run_formats_and_limit(cli, sample_dir):
    s = sample_dir / "sessions.jsonl"
    code, out, err = cli("run", "first_shot_success_rate", "-s", s, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert len(data) == 4 and all(isinstance(r["rate"], float) for r in data)
    code, out, _ = cli("run", "verdict_breakdown", "-s", s, "--format", "csv", "--limit", "2")
    assert code == 0 and len(out.strip().splitlines()) == 3
    code, out, _ = cli("run", "first_shot_success_rate", "-s", s, "-p", "model=gpt-oss:20b", "-f", "jsonl")
    assert [json.loads(x)["model"] for x in out.splitlines()] == ["gpt-oss:20b"]
    code, out, _ = cli("run", "first_shot_success_rate", "-s", s, "--tablefmt", "grid")
    assert code == 0 and out.startswith("+")


def test_sql_command(cli, sample_dir):
    code, out, _ = cli("sql", "select count(*) as n from sessions", "-s", sample_dir, "-f", "json")
    assert code == 0 and json.loads(out) == [{"n": 800}]


@pytest.mark.parametrize(
    "args, message, exit_code",
    [
        (["run", "nope", "-s", "{sample}"], "no query named 'nope'", 2),
        (["run", "first_shot_success_rate", "-s", "missing.jsonl"], "no such file or directory", 1),
        (["run", "first_shot_success_rate"], "no sessions log configured", 2),
        (["run", "first_shot_success_rate", "-s", "{sample}", "-p", "since"], "--param takes key=value", 2),
        (["run", "first_shot_success_rate", "-s", "{sample}", "-p", "since=yesterdayish"], "not a time", 2),
        (["run", "first_shot_success_rate", "-s", "{sample}", "-p", "since=99999999999d"], "calendar", 2),
        (["run", "top_rejection_errors", "-s", "{sample}", "-p", "top=99999999999999999999"], "is not a valid int", 2),
        (["sql", "select * from nowhere", "-s", "{sample}"], "query failed", 1),
        (["report", "-s", "{sample}", "--week", "2026-47"], "ISO week", 2),
        (["report", "-s", "{sample}", "--week", "9999-W52"], "calendar's ends", 2),
        (["report", "-s", "{sample}", "--week", "0001-W01"], "calendar's ends", 2),
    ],
)
def test_errors_are_one_clear_line(cli, sample_dir, args, message, exit_code):
    code, out, err = cli(*[a.replace("{sample}", str(sample_dir)) for a in args])
    assert code == exit_code
    assert out == ""
    assert message in err and "Traceback" not in err
    # one error line; what helps fix it (DuckDB's caret under the mistake) indented under it
    assert len([x for x in err.strip().splitlines() if not x.startswith("  ")]) == 1


def test_usage_error_is_exit_2(cli):
    code, _, _ = cli("run", "first_shot_success_rate", "--format", "xml")
    assert code == 2


def test_unreadable_lines_reported_on_stderr(cli, tmp_path):
    from .conftest import session, write_jsonl

    p = write_jsonl(tmp_path / "s.jsonl", [session("a"), b"{oops", session("b")])
    code, out, err = cli("run", "verdict_breakdown", "-s", p, "-f", "json")
    assert code == 0
    assert json.loads(out)[0]["calls"] == 2
    assert "1 unreadable line" in err and "invalid_json: 1" in err and "line 2" in err


def test_environment_variable_source(cli, sample_dir, monkeypatch):
    monkeypatch.setenv("FORENSICS_SESSIONS", str(sample_dir / "sessions.jsonl"))
    code, out, _ = cli("sql", "select count(*) as n from sessions", "-f", "csv")
    assert code == 0 and out.splitlines()[1] == "800"


def test_generate_is_deterministic(cli, tmp_path):
    for d in ("a", "b"):
        code, _, _ = cli("generate", "--out", tmp_path / d, "--sessions", "300", "--seed", "4")
        assert code == 0
    assert (tmp_path / "a" / "sessions.jsonl").read_bytes() == (tmp_path / "b" / "sessions.jsonl").read_bytes()
    assert (tmp_path / "a" / "replay_runs.jsonl").read_bytes() == (tmp_path / "b" / "replay_runs.jsonl").read_bytes()


def test_sample_data_has_what_it_promises(sample_dir):
    from forensics.read.sources import resolve
    from forensics.store.connection import Store

    with Store(resolve(str(sample_dir / "sessions.jsonl"), str(sample_dir / "replay_runs.jsonl"), env={})) as st:
        q = st.execute
        assert {r[0] for r in q("select distinct final_verdict from sessions").rows} == {
            "accepted",
            "max_iter_exhausted",
            "infra_error",
        }
        assert {r[0] for r in q("select distinct daemon from sessions").rows} == {"validatord", "gateway"}
        assert {r[0] for r in q("select distinct kind from sessions").rows} >= {"fill", "playbook"}
        raw = (sample_dir / "sessions.jsonl").read_text()
        assert 'Z"' in raw and '+00:00"' in raw and ('-05:00"' in raw or '-08:00"' in raw)
        assert q("select count(*) from sessions where grounded_in_roster = false").rows[0][0] >= 3
        assert q("select count(*) from (select session_id from sessions group by 1 having count(*) > 1)").rows[0][0] > 0
        assert q("select count(*) from attempts where verdict_kind = 'no_json'").rows[0][0] > 0
        assert q("select count(*) from attempts where error like 'phantom W-%'").rows[0][0] > 0
        weeks = q("select count(distinct strftime(\"timestamp\", '%G-W%V')) from sessions").rows[0][0]
        assert weeks >= 5
        rates = dict(
            q(
                "select model, rate from (" + st.catalog.get("first_shot_success_rate").sql + ")",
                {"since": None, "until": None, "model": None, "kind": None},
            ).rows
        )
        assert max(rates.values()) - min(rates.values()) > 0.3
        assert q("select count(*) from replay_runs where session_id is null").rows[0][0] > 0


def test_demo_runs_from_an_empty_folder(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("demo")
    assert code == 0
    assert "First-shot success per model" in out and "ungrounded_accepted" in out
    assert (tmp_path / "forensics-demo" / "sessions.jsonl").exists()
    code, out, _ = cli("demo")
    assert code == 0 and "Reusing" in out


def test_installed_script_finds_its_queries_and_templates(run_script, sample_dir, tmp_path):
    """Run from an empty folder, the installed package must carry queries/ and templates/."""
    proc = run_script("list", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "first_shot_success_rate" in proc.stdout.decode()
    out = tmp_path / "r.html"
    proc = run_script(
        "report",
        "-s",
        sample_dir / "sessions.jsonl",
        "--week",
        "2026-W45",
        "--format",
        "html",
        "--out",
        out,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("<!doctype html>")


def test_cli_path_never_imports_pandas(sample_dir, tmp_path):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from forensics.cli import app\n"
        "try:\n"
        f"    app(['run', 'first_shot_success_rate', '-s', {str(sample_dir / 'sessions.jsonl')!r}, '-f', 'json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "from forensics.cli import app as again\n"
        "try:\n"
        f"    again(['report', '-s', {str(sample_dir / 'sessions.jsonl')!r}, '--week', '2026-W45'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('PANDAS' if 'pandas' in sys.modules else 'NO-PANDAS', file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=tmp_path, timeout=120)
    assert proc.stderr.decode().strip().endswith("NO-PANDAS"), proc.stderr.decode()


def test_python_dash_m(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "forensics", "--help"], capture_output=True, cwd=tmp_path)
    assert proc.returncode == 0 and b"forensics" in proc.stdout


def test_list_and_show_do_not_need_the_logs(cli, monkeypatch):
    monkeypatch.setenv("FORENSICS_SESSIONS", "/nowhere/sessions.jsonl")
    assert cli("list")[0] == 0
    assert cli("show", "orphans")[0] == 0
    assert cli("run", "orphans")[0] == 1  # but anything that reads them says what is missing


def test_the_default_path_never_imports_spark_and_says_how_to_get_it(cli, tmp_path, monkeypatch):
    import subprocess
    import sys

    log = tmp_path / "s.jsonl"
    log.write_text(json.dumps(session("a")) + "\n")
    probe = (
        "import sys\nfrom forensics.cli import app\nfrom typer.testing import CliRunner\n"
        f"CliRunner().invoke(app, ['alarm', '-s', {str(log)!r}])\n"
        f"CliRunner().invoke(app, ['run', 'first_shot_success_rate', '-s', {str(log)!r}])\n"
        "print(sorted(m for m in ('pyspark', 'sqlglot', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    code, _, err = cli("run", "first_shot_success_rate", "--engine", "spark", "--store", tmp_path / "st")
    assert code == 1 and "pip install 'forensics[spark]'" in err
    code, _, err = cli("run", "first_shot_success_rate", "--engine", "spark", "-s", log)
    assert code == 2 and "reads a store" in err
    code, _, err = cli("run", "first_shot_success_rate", "-s", log, "--spark-master", "local[2]")
    assert code == 2 and "go with --engine spark" in err


@pytest.mark.parametrize(
    "args",
    [
        ["alarm", "--help"],
        ["alarm", "--bogus"],
        ["alarm", "--since"],
        ["silence", "list", "--help"],
        ["silence", "nothing"],
        ["alarmx"],
        ["--version"],
        [],
    ],
)
def test_the_console_script_builds_only_the_command_it_runs_and_says_the_same(args):
    """The script's app holds the one command named (Typer builds every command's options before it
    runs one), with the full app's help, errors and exit codes."""
    from typer.main import get_command
    from typer.testing import CliRunner

    from forensics.cli.main import app_for

    one = app_for(args)
    full, alone = (CliRunner().invoke(a, args) for a in (app, one))
    assert (alone.exit_code, alone.stdout, alone.stderr) == (full.exit_code, full.stdout, full.stderr)
    built = set(get_command(one).commands)
    assert built == ({args[0]} if args and args[0] in ("alarm", "silence") else set(get_command(app).commands))
