"""docs/SESSION_LOG.md stays honest: its SQL runs, its commands exist, its query example parses."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from forensics.catalog import parse_query
from forensics.cli import app
from forensics.read.sources import resolve
from forensics.store.connection import Store

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "SESSION_LOG.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    nxt = text.find("\n## ", start + len(heading))
    return text[start : nxt if nxt != -1 else len(text)]


EXAMPLES = re.findall(r"```sql\n(.*?)```", section(DOC, "## Worked DuckDB examples"), re.S)


def test_there_are_worked_examples():
    assert len(EXAMPLES) >= 5


@pytest.fixture(scope="module")
def logs_dir(
    tmp_path_factory,
):
    from forensics.sample.logs import generate

    d = tmp_path_factory.mktemp("docs")
    generate(d, sessions=700, seed=9)
    return d


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_worked_example_runs_verbatim(index, logs_dir, monkeypatch):
    monkeypatch.chdir(logs_dir)
    con = duckdb.connect()
    statements = [s for s in EXAMPLES[index].split(";") if s.strip()]
    for stmt in statements[:-1]:
        con.execute(stmt)
    rows = con.execute(statements[-1]).fetchall()
    assert rows, f"example {index + 1} returned nothing"


# That each example returns what its named query returns is tested in test_measures.py, on the
# sample logs, on anomalous ones and on generated logs.


COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_documented(command, cli):
    block = section(DOC, f"### `forensics {command}`") if f"### `forensics {command}`" in DOC else ""
    assert block, f"docs/SESSION_LOG.md has no section for forensics {command}"
    assert f"forensics {command}" in block.split("\n", 1)[1], "the section shows no example"
    code, _, _ = cli(command, "--help")
    assert code == 0


def test_exit_codes_documented_in_docs_and_readme():
    for text in (DOC, README):
        for code in ("`0`", "`1`", "`2`", "`3`"):
            assert code in text
        assert "MAILTO=" in text


def test_custom_query_example_parses_and_runs(tmp_path, logs_dir):
    sql = re.search(r"```sql\n(-- name: slow_playbooks.*?)```", DOC, re.S).group(1)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "slow_playbooks.sql").write_text(sql)
    q = parse_query(folder / "slow_playbooks.sql")
    assert q.params["min_ms"].default == "10000"
    with Store(resolve(str(logs_dir / "sessions.jsonl"), env={}, queries_dirs=[str(folder)])) as st:
        assert st.query("slow_playbooks", {"min_ms": 1000}).rows


def test_readme_quick_start_and_ci_agree():
    lines = [ln.strip() for ln in README.split("```", 2)[1].splitlines() if ln.strip() and not ln.startswith("#")]
    commands = [ln for ln in lines if not ln.startswith("bash")]
    assert len(commands) == 2 and "forensics demo" in commands[0] and "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci, ".ci/run must run the README's test command"
    assert shutil.which("bash")
