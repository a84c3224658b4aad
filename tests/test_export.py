"""`forensics export` and `export_views`: the views as files, every format read back row for row."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

import forensics
from forensics.cli import app
from forensics.errors import ForensicsError, ParameterError, UsageError
from forensics.store import export as export_module
from forensics.store.export import EXPORT_FORMATS, VIEWS, export_views

from .conftest import replay, session, write_jsonl

HUGE = 17 << 20  # past the reader's 16 MiB default line limit, and DuckDB's CSV line limit
READ_LIMIT = 64 << 20

# Text from the logs is untrusted: every character below must come back as it went in.
CONTROL = 'a\nb\rc\td\x1b[31mred\x00nul\x7fdel\x85nel\u202eevil\u2028sep"q",;|'
FORMULAS = ('=HYPERLINK("http://x.example","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "-1+2")
UNICODE = "日本語 😀 e\u0301 العربية Ω"


def _rows():
    return [
        "",  # blank lines: exported lines are physical lines, as an editor shows them
        session(
            "r-ctrl",
            prompt=CONTROL,
            model='m,"quoted"',
            attempts=["validation_failed", "accepted"],
            artifact={"note": CONTROL, "fills": [{"candidate_id": "W-1", "ratio": 0.30000000000000004}]},
        ),
        session("r-null-model", model=None, prompt=""),
        "",
        "   ",
        session("r-huge", prompt="x" * HUGE, verdict="max_iter_exhausted"),
        session(UNICODE, prompt=UNICODE, kind="playbook", daemon=UNICODE),
        session("r-formula", prompt=FORMULAS[0], model=FORMULAS[1], provider=FORMULAS[2], daemon=FORMULAS[3]),
        session(
            "r-numbers",
            artifact={"tiny": 1e-300, "big": 2**63 - 1, "neg": -0.0, "exp": 1.5e300},
            duration_ms=2**62,
            grounded=False,
        ),
        session("r-string-verdict", grounded_in_roster="false"),
        session("r-infra", verdict="infra_error", ts="2026-11-10T05:39:29.123456789-05:00"),
        session("r-wrong-type", duration_ms="2097", iterations=1.5),
    ]


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("export-logs")
    write_jsonl(d / "sessions.jsonl", _rows())
    write_jsonl(
        d / "replay_runs.jsonl",
        [
            replay("r-ctrl", 3, output=CONTROL, extra={"nested": [1, 2.5, "x\ny", None]}),
            "",
            replay(UNICODE, 0, status="error", error=UNICODE, model=None),
            replay("r-numbers", 1, retrieval={"query": "q", "k": 2**40, "hits": [{"doc_id": "d", "score": 1e-300}]}),
        ],
    )
    return d


@pytest.fixture(scope="module")
def exported(logs, tmp_path_factory) -> dict[str, list]:
    """Each format written once by the command line, for the round-trip tests."""
    from typer.testing import CliRunner

    out = {}
    for fmt in EXPORT_FORMATS:
        folder = tmp_path_factory.mktemp(f"export-{fmt}")
        res = CliRunner().invoke(
            app,
            [
                "export",
                "-s",
                str(logs / "sessions.jsonl"),
                "-r",
                str(logs / "replay_runs.jsonl"),
                "--out",
                str(folder),
                "--format",
                fmt,
            ],
            catch_exceptions=False,
        )
        assert res.exit_code == 0, res.stderr
        out[fmt] = (folder, res.stdout, res.stderr)
    return out


def _canon(value):
    """A value in the one form both sides are compared in (times as the text exports write)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canon(v) for v in value]
    return value


def _jsonl(path: Path) -> list:
    # Lines end at \n only: U+2028 and U+0085 are valid inside a JSON string, and written as they are.
    return [json.loads(x) for x in path.read_text(encoding="utf-8").split("\n") if x]


def _nested(typ: str) -> bool:
    return typ == "JSON" or typ.endswith("]") or typ.startswith("STRUCT")


def _key(rec: dict):
    return rec["source_file"], rec["line"], rec.get("position") or 0


def _view(logs, view) -> tuple[list[tuple[str, str]], list[dict]]:
    """The view's types and rows as `forensics sql` sees them: physical lines, JSON parsed."""
    with forensics.connect(str(logs / "sessions.jsonl"), str(logs / "replay_runs.jsonl")) as store:
        store.check()
        types = store.describe(view)
        res = store.execute(f"select * from {view}")
    rows = []
    for rec in res.records():
        for c in res.json_columns:
            rec[c] = None if rec[c] is None else json.loads(rec[c])
        rows.append(_canon(rec))
    return types, sorted(rows, key=_key)


def _read_back(path: Path, fmt: str, types: list[tuple[str, str]]) -> tuple[list[str], list[dict]]:
    """The file read back with DuckDB: its column names and rows in the compared form."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    if fmt == "parquet":
        rel = con.execute("select * from read_parquet(?)", [str(path)])
        names = [d[0] for d in rel.description]
        kinds = {d[0]: str(d[1]) for d in rel.description}
        rows = []
        for r in rel.fetchall():
            rec = dict(zip(names, r))
            for c, t in kinds.items():
                if t == "JSON" and rec[c] is not None:
                    rec[c] = json.loads(rec[c])
            rows.append(_canon(rec))
    elif fmt == "jsonl":
        # Every key as its JSON text, so what the file holds is what is compared.
        spec = "{" + ", ".join(f"'{n}': 'JSON'" for n, _ in types) + "}"
        rel = con.execute(
            f"select * from read_json(?, format = 'newline_delimited', records = true, "
            f"columns = {spec}, maximum_object_size = {READ_LIMIT})",
            [str(path)],
        )
        names = [d[0] for d in rel.description]
        rows = [{n: None if v is None else json.loads(v) for n, v in zip(names, r)} for r in rel.fetchall()]
    else:
        rel = con.execute(
            f"select * from read_csv(?, header = true, all_varchar = true, "
            f"allow_quoted_nulls = false, max_line_size = {READ_LIMIT})",
            [str(path)],
        )
        names = [d[0] for d in rel.description]
        kinds = dict(types)
        rows = []
        for r in rel.fetchall():
            rec = {}
            for n, v in zip(names, r):
                t = kinds[n]
                if v is not None:
                    if _nested(t):
                        v = json.loads(v)
                    elif t in ("BIGINT", "INTEGER"):
                        v = int(v)
                    elif t == "DOUBLE":
                        v = float(v)
                    elif t == "BOOLEAN":
                        v = {"true": True, "false": False}[v]
                rec[n] = v
            rows.append(rec)
    return names, sorted(rows, key=_key)


@pytest.mark.default_keeps(2)
@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
@pytest.mark.parametrize("view", VIEWS)
def test_every_format_reads_back_as_the_view_row_for_row(logs, exported, fmt, view):
    folder, stdout, _ = exported[fmt]
    types, want = _view(logs, view)
    names, got = _read_back(folder / f"{view}.{fmt}", fmt, types)
    assert names == [n for n, _ in types]
    assert len(got) == len(want) and got == want
    if view == "sessions":
        by_id = {r["session_id"]: r for r in got}
        assert by_id["r-ctrl"]["prompt"] == CONTROL and by_id["r-ctrl"]["artifact"]["note"] == CONTROL
        assert by_id["r-null-model"]["model"] is None and by_id["r-null-model"]["prompt"] == ""
        assert len(by_id["r-huge"]["prompt"]) == HUGE
        assert by_id[UNICODE]["prompt"] == UNICODE
        assert [by_id["r-formula"][k] for k in ("prompt", "model", "provider", "daemon")] == list(FORMULAS)
        assert by_id["r-numbers"]["artifact"] == {"tiny": 1e-300, "big": 2**63 - 1, "neg": -0.0, "exp": 1.5e300}
        assert by_id["r-numbers"]["duration_ms"] == 2**62
        assert by_id["r-string-verdict"]["grounded_in_roster"] is None
        assert by_id["r-string-verdict"]["grounded_in_roster_raw"] == "false"
        assert by_id["r-wrong-type"]["duration_ms"] is None and by_id["r-wrong-type"]["iterations"] is None
        assert by_id["r-infra"]["timestamp"] == "2026-11-10T10:39:29.123456Z"
        # Physical lines: the file starts with a blank line and has two more before r-huge.
        assert by_id["r-ctrl"]["line"] == 2 and by_id["r-huge"]["line"] == 6
    if view == "replay_runs":
        by_id = {r["session_id"]: r for r in got}
        assert by_id["r-ctrl"]["raw"]["extra"] == {"nested": [1, 2.5, "x\ny", None]}
        assert by_id["r-ctrl"]["output"] == CONTROL and by_id["r-ctrl"]["line"] == 1
        assert by_id[UNICODE]["line"] == 3 and by_id[UNICODE]["model"] is None
        assert by_id["r-numbers"]["retrieval"]["hits"][0]["score"] == 1e-300
    path = folder / f"{view}.{fmt}"
    assert f"{path}: {len(want):,} rows, {path.stat().st_size:,} bytes" in stdout.splitlines()


def test_jsonl_nests_json_columns_and_csv_keeps_every_digit(exported):
    folder = exported["jsonl"][0]
    rows = _jsonl(folder / "sessions.jsonl")
    ctrl = next(r for r in rows if r["session_id"] == "r-ctrl")
    assert isinstance(ctrl["artifact"], dict) and ctrl["grounded_in_roster_raw"] is True
    assert isinstance(ctrl["attempts"], list) and ctrl["attempts"][1]["verdict_kind"] == "accepted"
    replays = (folder / "replay_runs.jsonl").read_text(encoding="utf-8")
    assert '"raw":{' in replays
    csv_text = (exported["csv"][0] / "sessions.csv").read_bytes()
    assert b"0.30000000000000004" in csv_text and b"1e-300" in csv_text
    # Data, written as it is and quoted where RFC 4180 says: no cell is rewritten.
    assert b'=HYPERLINK(""http://x.example"",""y"")' in csv_text


def test_parquet_is_read_by_other_tools(exported):
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(exported["parquet"][0] / "sessions.parquet")
    assert table.num_rows == len(_rows()) - 3
    assert str(table.schema.field("timestamp").type).startswith("timestamp[us, tz=")


def test_an_export_writes_nothing_else(exported):
    for fmt, (folder, _, stderr) in exported.items():
        assert sorted(p.name for p in folder.iterdir()) == sorted(f"{v}.{fmt}" for v in VIEWS)
        # wrong-typed values are empty cells, not unreadable lines: nothing to warn about
        assert "unreadable" not in stderr


def test_force_overwrites_and_nothing_less_does(cli, tmp_path):
    log = write_jsonl(tmp_path / "sessions.jsonl", [session("s-1"), session("s-2")])
    out = tmp_path / "out"
    code, stdout, err = cli("export", "-s", log, "-o", out)
    assert code == 0, err
    assert "replay_runs not exported" in err and not (out / "replay_runs.parquet").exists()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == ["attempts.parquet", "sessions.parquet"]
    write_jsonl(log, [session("s-1"), session("s-2"), session("s-3")])
    code, _, err = cli("export", "-s", log, "-o", out)
    assert code == 2
    assert "sessions.parquet" in err and "already exist" in err and "--force" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # Only the views asked for are looked at: another format writes beside them.
    code, _, err = cli("export", "-s", log, "-o", out, "-f", "csv", "--view", "sessions", "--view", "sessions")
    assert code == 0, err
    assert (out / "sessions.csv").read_text().count("\n") == 4 and not (out / "attempts.csv").exists()
    code, stdout, err = cli("export", "-s", log, "-o", out, "--force")
    assert code == 0, err
    assert f"{out / 'sessions.parquet'}: 3 rows" in stdout
    assert duckdb.sql(f"select count(*) from '{out / 'sessions.parquet'}'").fetchall() == [(3,)]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_failed_write_leaves_the_old_file_and_no_part_of_the_new(tmp_path, monkeypatch):
    log = write_jsonl(tmp_path / "sessions.jsonl", [session("s-1")])
    out = tmp_path / "out"
    with forensics.connect(str(log)) as store:
        export_views(store, out, "jsonl")
    before = (out / "sessions.jsonl").read_bytes()
    write_jsonl(log, [session("s-1"), session("s-2")])

    def interrupted(path, **_):  # as if the process were stopped once the file was written
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "fsync_path", interrupted)
    with forensics.connect(str(log)) as store, pytest.raises(KeyboardInterrupt):
        export_views(store, out, "jsonl", force=True)
    assert (out / "sessions.jsonl").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["attempts.jsonl", "sessions.jsonl"]

    def full_disk(path, **_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_module, "fsync_path", full_disk)
    with forensics.connect(str(log)) as store, pytest.raises(ForensicsError, match="No space left"):
        export_views(store, tmp_path / "new", "csv")
    assert list((tmp_path / "new").iterdir()) == []


def test_a_bad_out_is_a_usage_error(cli, tmp_path):
    log = write_jsonl(tmp_path / "sessions.jsonl", [session("s-1")])
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, _, err = cli("export", "-s", log, "-o", a_file)
    assert code == 2 and "is not a folder" in err
    code, _, err = cli("export", "-s", log, "-o", a_file / "sub")
    assert code == 2 and "cannot write in" in err
    (tmp_path / "out" / "sessions.parquet").mkdir(parents=True)
    code, _, err = cli("export", "-s", log, "-o", tmp_path / "out", "--force")
    assert code == 2 and "is a folder" in err
    if os.path.isdir("/proc/self"):  # refused even to root
        code, _, err = cli("export", "-s", log, "-o", "/proc/self")
        assert code == 2 and "cannot write in" in err
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() != 0:  # root writes anywhere
        code, _, err = cli("export", "-s", log, "-o", locked)
        assert code == 2 and "cannot write in" in err
    assert list(locked.iterdir()) == []


def test_an_unknown_format_or_view_is_a_usage_error(cli, tmp_path):
    log = write_jsonl(tmp_path / "sessions.jsonl", [session("s-1")])
    for args in (["-f", "xml"], ["--format", "json"], ["--view", "prompts"]):
        code, _, err = cli("export", "-s", log, "-o", tmp_path / "out", *args)
        assert code == 2 and "Invalid value" in err
    code, _, err = cli("export", "-s", log, "-o", tmp_path / "out", "--view", "replay_runs")
    assert code == 2 and "no replay runs were given" in err
    code, _, err = cli("export", "-o", tmp_path / "out")
    assert code == 2 and "no sessions log configured" in err
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    with forensics.connect(str(log)) as store:
        with pytest.raises(ParameterError, match="unknown export format"):
            export_views(store, tmp_path / "out", "xml")
        with pytest.raises(ParameterError, match="unknown view"):
            export_views(store, tmp_path / "out", "csv", ["sessions", "prompts"])
        with pytest.raises(UsageError):
            export_views(store, tmp_path / "out", "csv", [])


def test_the_command_line_offers_what_the_library_takes(cli):
    code, out, _ = cli("export", "--help")
    flat = " ".join(out.split())
    assert code == 0 and all(f in flat for f in EXPORT_FORMATS) and all(v in flat for v in VIEWS)
    assert cli("export", "--format", "xlsx", "--out", "x", "-s", "s.jsonl")[0] == 2


def test_unreadable_lines_are_reported_and_never_exported(cli, tmp_path):
    """A hostile mixed log: every line that is no row is counted on stderr, never a row of NULLs."""
    good = [session("ok-1"), session("ok-2", verdict="max_iter_exhausted")]
    lines = [
        good[0],
        b"null",
        b"{}",
        b"[1, 2]",
        b"{not json",
        b"",
        json.dumps(replay("foreign", 1)).encode(),
        b'{"foo": 1}',
        json.dumps(session("ok-utf8")).encode().replace(b'"prompt": "p"', b'"prompt": "\xff\xfe"'),
        json.dumps(session("ok-dup")).encode()[:-1] + b', "grounded_in_roster": false}',
        good[1],
    ]
    log = write_jsonl(tmp_path / "sessions.jsonl", lines, raw_tail=json.dumps(session("torn")).encode()[:40])
    code, stdout, err = cli("export", "-s", log, "-o", tmp_path / "out", "-f", "jsonl")
    assert code == 0, err
    assert "unreadable lines skipped" in err and "repaired and read" in err
    for cause in (
        "not_object: 2",
        "empty_object: 1",
        "invalid_json: 1",
        "foreign_row: 1",
        "not_a_row: 1",
        "torn_last_line: 1",
    ):
        assert cause in err
    rows = _jsonl(tmp_path / "out" / "sessions.jsonl")
    assert sorted(r["session_id"] for r in rows) == ["ok-1", "ok-2", "ok-dup", "ok-utf8"]
    physical = log.read_bytes().split(b"\n")
    for r in rows:  # each exported row names the physical line it was read from
        assert f'"{r["session_id"]}"'.encode() in physical[r["line"] - 1]
    dup = next(r for r in rows if r["session_id"] == "ok-dup")
    assert dup["grounded_in_roster"] is False
    assert "\ufffd" in next(r for r in rows if r["session_id"] == "ok-utf8")["prompt"]
    attempts = _jsonl(tmp_path / "out" / "attempts.jsonl")
    assert {a["session_id"] for a in attempts} == {"ok-1", "ok-2", "ok-dup", "ok-utf8"}
    assert f"{tmp_path / 'out' / 'sessions.jsonl'}: 4 rows" in stdout


def test_many_files_number_their_own_physical_lines(tmp_path):
    """Past eight files one reader reads them all; each file's blank lines still shift only its own rows."""
    for i in range(11):
        rows = [session(f"f{i}-{j}") for j in range(6)]
        rows[i % 6 : i % 6] = [""] * (i % 3)
        write_jsonl(tmp_path / "logs" / f"sessions-{i:02d}.jsonl", rows)
    with forensics.connect(str(tmp_path / "logs")) as store:
        files = export_views(store, tmp_path / "out", "parquet", ["sessions", "attempts"])
    assert [(f.view, f.rows) for f in files] == [("sessions", 66), ("attempts", 66)]
    for view in ("sessions", "attempts"):
        got = duckdb.sql(f"select source_file, line, session_id from '{tmp_path / 'out' / view}.parquet'").fetchall()
        assert len(got) == 66
        for source_file, line, sid in got:
            text = Path(source_file).read_text().split("\n")[line - 1]
            assert json.loads(text)["session_id"] == sid


def test_the_line_join_streams_the_log_past_the_spans(tmp_path):
    """The planner must build the line join's hash table from the spans, never from the log's rows."""
    log = write_jsonl(tmp_path / "sessions.jsonl", ["", session("s-1"), "", session("s-2")])
    with forensics.connect(str(log)) as store:
        store.check()
        assert export_module._line_shifts(store)
        # As many spans as a file of many blank lines leaves: more rows than the planner
        # guesses a log it has not read holds.
        export_module._insert_spans(store.con, "elsewhere.jsonl", [(2 * i, 2 * i + 1, i) for i in range(20_000)])
        with export_module._streaming(store.con, joins_lines=True):
            plan = store.con.execute(
                "explain (format json) " + export_module._select(store, "sessions", "parquet", True)
            ).fetchall()[0][1]

    def joins(node):
        if "JOIN" in node.get("name", ""):
            yield node
        for child in node.get("children", []):
            yield from joins(child)

    found = [j for top in json.loads(plan) for j in joins(top)]
    assert found
    for join in found:
        build = json.dumps(join["children"][1])
        assert "_export_lines" in build and "READ_JSON" not in build


def test_an_empty_log_exports_empty_files_with_columns(tmp_path):
    log = tmp_path / "sessions.jsonl"
    log.write_bytes(b"")
    with forensics.connect(str(log)) as store:
        files = export_views(store, tmp_path / "out", "csv")
        columns = [n for n, _ in store.describe("sessions")]
    assert [f.rows for f in files] == [0, 0]
    assert (tmp_path / "out" / "sessions.csv").read_text().strip().split(",") == columns
