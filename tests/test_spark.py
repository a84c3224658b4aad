"""The named queries on Spark: every built-in one against DuckDB's answer on the same store.

Each Spark server starts once for the module (`-m spark`, its own lines in .ci/run): Apache Spark's
own (a local driver) and Sail (`sail spark server` on a loopback port), each skipped where it is not
installed (tests/spark_servers.py). The store is built
from generated logs plus rows meant to separate two engines that disagree: no timestamp, a
leap second, offsets, a repeated iteration, an attempt without one, empty attempts, unicode
and quotes in every text, a call with several files' rows.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from .conftest import replay, session, write_jsonl
from .spark_servers import free_port, local_spark_or_skip, wait_listening

pytestmark = pytest.mark.spark

# How each parameterised built-in query is run: every parameter that narrows it, at least once.
PARAMS = {
    "session_attempts": [{"session_id": "odd-attempts"}, {"session_id": "many-files"}],
    "session_replays": [{"session_id": "many-files"}],
    "first_shot_success_rate": [{}, {"since": "2026-11-01", "until": "2026-11-10"}, {"kind": "fill"}],
    "top_rejection_errors": [{}, {"top": 1}],
    "model_weekly_summary": [{}, {"model": "qwen3.5:latest"}],
    "three_consecutive_rejections": [{}, {"min_run": 2}],
    "first_shot_drop": [{"baseline": "2026-10-01", "recent": "2026-11-19", "until": "2026-12-01", "min_calls": 30}],
    "failure_streak": [{}, {"since": "2026-11-01", "until": "2026-11-30", "calls": 3}],
    "retry_cost": [{}, {"model": "qwen3.5:latest"}],
    "rejections_by_class": [{}, {"since": "2026-11-01", "until": "2026-11-10"}],
    "prompt_template_first_shot": [{}, {"kind": "fill"}],
}

# Every error class, in each shape an error text comes in, malformed JSON included.
ERROR_TEXTS = [
    '{"Schema":{"field":"x","reason":"y"}}',
    '{"Completeness":{"reason":"y"}}',
    ' {"Consistency":{"reason":"y"}} ',
    '{"Policy":{"reason":"y"}}',
    '{"Kind":"Schema","Field":"x","Reason":"y"}',
    '{"Kind":"Weird"}',
    '{"Kind":5}',
    '{"Schema":"no object"}',
    '{"Schema":{},"Policy":{}}',
    '{"Schema":{"field":',
    "{not json",
    '"phantom W-1"',
    "[1, 2]",
    "phantom W-17",
    "Roster: nobody",
    "schema: missing required field 'shift_id'",
    "policy violation",
    "missing required field",
    "",
]
PROMPTS = [
    "Fill site A on 2026-11-03T10:00:00Z for W-17, trace 123e4567-e89b-12d3-a456-426614174000",
    "Fill site A on 2026-12-24 for W-4, trace 00ff00ff00ff: doc-1 doc-2 doc-3 'O''Brien' \"x y\"",
    "  \t ",
    "ünïcode\tprompt  with\nlines 3ü4 deadbeefcafe",
    "trace 0123456789abcdef-e89b-12d3-a456-426614174000 and 123e4567-e89b-12d3-a456-426614174000",
]


def _odd_rows():
    out = []
    ts = [
        "2026-11-03T10:00:00Z",
        "2026-11-03t10:00:01.5z",
        "2026-11-03T05:00:02-05:00",
        "2016-12-31T23:59:60Z",
        None,
        "not a time",
        "2026-11-03 10:00:03.123456789+00:00",
    ]
    for i, t in enumerate(ts):
        row = session(f"odd-ts-{i}", model='m-ödd \' "quoted"', grounded=i % 2 == 0, ts=t or "x")
        if t is None:
            del row["timestamp"]
        out.append(row)
    odd = session(
        "odd-attempts",
        verdict="accepted",
        attempts=["validation_failed", "no_json", "accepted"],
        ts="2026-11-04T09:00:00Z",
    )
    odd["attempts"][1]["iteration"] = 0  # a repeated iteration number
    del odd["attempts"][2]["iteration"]  # an attempt without one goes last
    out.append(odd)
    for i, text in enumerate(ERROR_TEXTS):
        row = session(
            f"class-{i}",
            verdict="accepted" if i % 2 else "max_iter_exhausted",
            attempts=["validation_failed", "no_json", "accepted" if i % 2 else "validation_failed"],
            ts=f"2026-11-0{3 + i % 5}T08:00:00Z",
            prompt=PROMPTS[i % len(PROMPTS)],
        )
        row["attempts"][0]["error"] = text
        out.append(row)
    empty = session("no-attempts", verdict="max_iter_exhausted", attempts=[], ts="2026-11-04T09:01:00Z")
    out.append(empty)
    for i in range(3):
        out.append(
            session("many-files", verdict="max_iter_exhausted", ts=f"2026-11-05T0{i}:00:00Z", model="qwen3.5:latest")
        )
    # first_shot_drop: 35 first shots before 2026-11-19, 35 second shots after; failure_streak: 6 failures
    for i in range(35):
        out.append(session(f"drop-old-{i}", model="m-drop", ts=f"2026-10-{10 + i % 20:02d}T10:{i:02d}:00Z"))
        late = session(f"drop-new-{i}", model="m-drop", ts=f"2026-11-2{i % 9}T10:{i:02d}:00Z")
        late["attempts"] = [
            {"iteration": 0, "verdict_kind": "validation_failed"},
            late["attempts"][0] | {"iteration": 1},
        ]
        out.append(late)
    for i in range(6):
        out.append(session(f"streak-{i}", model="m-streak", verdict="infra_error", ts=f"2026-11-06T0{i}:00:00Z"))
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store folder built from generated and odd logs (DuckDB only: no Spark needed to build it)."""
    from forensics.sample.logs import generate
    from forensics.store.ingest import ingest

    base = tmp_path_factory.mktemp("spark")
    generate(base / "gen", sessions=4000, seed=17)
    odd = write_jsonl(base / "odd" / "sessions.jsonl", _odd_rows())
    odd_replay = write_jsonl(
        base / "odd" / "replay_runs.jsonl",
        [replay("many-files", 3, ts="2026-11-05T03:00:00Z"), replay("many-files", 0)],
    )
    ingest(
        base / "store",
        sessions=[str(base / "gen" / "sessions.jsonl"), str(odd)],
        replay_runs=[str(base / "gen" / "replay_runs.jsonl"), str(odd_replay)],
    )
    return base / "store"


@pytest.fixture(scope="module")
def duck(store):
    """DuckDB over the store: the answers Spark must give."""
    import forensics

    engine = forensics.connect(store=store)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def engines(duck, store, spark_server):
    """(DuckDB store, Spark store) over the same folder, the Spark one on each server in turn."""
    spark = spark_server.open(store)
    yield duck, spark
    spark.close()


def both_engines(store, server, *, sessions, replay_runs):
    """Ingest into a new store; yield (DuckDB store, Spark store on ``server``) over it, then close both."""
    import forensics
    from forensics.store.ingest import ingest

    ingest(store, sessions=sessions, replay_runs=replay_runs)
    spark = server.open(store)
    duck = forensics.connect(store=store)
    yield duck, spark
    duck.close()
    spark.close()


def canonical(value):
    """A value both engines agree on: floats to 1e-9, times in UTC, structures as sorted tuples."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (float, Decimal)):
        value = float(value)
        return None if math.isnan(value) else round(value, 9)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return tuple(sorted((k, canonical(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(canonical(v) for v in value)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return canonical(json.loads(value))  # a JSON column is text on Spark, JSON on DuckDB
        except ValueError:
            return value
    return value


def _rows(result):
    return sorted((tuple(canonical(v) for v in r) for r in result.rows), key=repr)


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a == b


def _all_runs():
    from forensics.catalog import load_catalog

    for name in load_catalog([]).names():
        for params in PARAMS.get(name, [{}]):
            yield name, params


@pytest.mark.parametrize(
    "name,params",
    list(_all_runs()),
    ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()) or "-",
)
def test_every_built_in_query_gives_duckdb_s_answer_on_spark(engines, name, params):
    duck, spark = engines
    d, s = duck.query(name, params), spark.query(name, params)
    assert d.columns == s.columns
    dr, sr = _rows(d), _rows(s)
    assert len(dr) == len(sr) and all(_close(a, b) for a, b in zip(dr, sr)), name
    assert dr or name in ("ungrounded_unknown_verdict",), f"{name} returned no rows: the comparison proves nothing"
    # ... and the same kinds of value: a DECIMAL where DuckDB gives a DOUBLE breaks the report's arithmetic
    assert _kinds(s) == _kinds(d), name


def _kinds(result) -> list[set[str]]:
    """Each column's kinds of non-null value (a number's Python type kept apart: int, float, Decimal)."""
    kinds = [set() for _ in result.columns]
    for row in result.rows:
        for i, v in enumerate(row):
            if v is not None:
                kinds[i].add("text" if isinstance(v, (str, dict, list)) else type(v).__name__)
    return kinds


def test_the_views_have_the_same_columns_and_types(engines):
    from forensics.spark.schema import spark_type

    duck, spark = engines
    for view in ("sessions", "attempts", "replay_runs"):
        theirs = [(f.name, f.dataType.simpleString()) for f in spark.session.table(view).schema.fields]
        ours = [
            (n, spark_type(t)) for n, t in duck.execute(f"select column_name, column_type from (describe {view})").rows
        ]
        normal = lambda pairs: [(n, t.lower().replace(" ", "").replace("`", "")) for n, t in pairs]  # noqa: E731
        assert normal(theirs) == normal(ours), view
    # first_shot and the roster fields are the store's own columns, computed once at ingest
    for sql in (
        "select count(*) filter (where first_shot) from sessions",
        "select count(*) filter (where grounded_in_roster = false) from sessions",
        "select sum(attempts_to_accept) from sessions",
    ):
        assert duck.execute(sql).rows == spark.execute(sql).rows


def test_the_error_class_and_the_prompt_template_are_duckdb_s_on_spark(engines):
    """Spark's own functions (a store written before prompt_template computes it) give DuckDB's answers."""
    duck, spark = engines
    classes = "select error, verdict_kind, error_class from attempts where session_id like 'class-%'"
    assert _rows(duck.execute(classes)) == _rows(spark.execute(classes))
    assert {r[2] for r in duck.execute(classes).rows} >= {"schema", "completeness", "consistency", "policy", "roster"}
    theirs = spark.execute("select prompt, prompt_template(prompt) as t from sessions")
    ours = duck.execute("select prompt, prompt_template as t from sessions")
    assert _rows(theirs) == _rows(ours)
    assert len({r[1] for r in ours.rows}) > 3


def test_compare_on_spark_is_duckdb_s(engines):
    """`forensics compare` runs one statement: Spark answers it as DuckDB does, in both modes."""
    from forensics.report.compare import compare

    duck, spark = engines
    for args in (
        {"by": "model", "a": "qwen3.5:latest", "b": "gpt-oss:20b"},
        {"split_at": "2026-11-20T00:00:00Z", "by": "kind"},
        {"split_at": "2026-11-20T00:00:00Z", "by": "prompt_template"},  # fold_prompt's \\b on every server
    ):
        d, s = compare(duck, **args), compare(spark, **args)
        assert d.columns == s.columns and d.rows, args
        assert all(_close(a, b) for a, b in zip(_rows(d), _rows(s))) and len(d.rows) == len(s.rows), args


def test_a_store_at_a_url_is_read_through_spark_s_file_systems(engines):
    """A URL (here file://, as s3a:// or hdfs:// would be) is read by Spark itself, manifest included."""
    from forensics.catalog import load_catalog
    from forensics.spark.engine import SparkStore

    duck, spark = engines
    url = SparkStore(f"file://{spark.root}", load_catalog([]), session=spark.session)
    assert url.local is None and url.manifest.batch == spark.manifest.batch
    for name in ("first_shot_success_rate", "ungrounded_accepted"):
        assert _rows(url.query(name)) == _rows(duck.query(name))
    # the session's views back over the folder, for the tests after this one
    assert SparkStore(spark.root, load_catalog([]), session=spark.session).local is not None


def test_a_query_spark_cannot_run_names_the_construct(engines):
    from forensics.errors import ForensicsError

    _, spark = engines
    with pytest.raises(ForensicsError, match=r"(?i)list_reverse|routine"):
        spark.execute("select list_reverse(attempts) from sessions")
    with pytest.raises(ForensicsError, match="one statement"):
        spark.execute("select 1; select 2")


def test_the_cli_runs_a_query_on_spark_as_on_duckdb(engines, spark_server, cli):
    duck, spark = engines
    root = str(spark.root)
    spark_out = cli(
        "run", "first_shot_success_rate", "--store", root, "--engine", "spark", *spark_server.flags, "-f", "json"
    )
    duck_out = cli("run", "first_shot_success_rate", "--store", root, "-f", "json")
    # stderr holds one line, how fresh Spark's answer is (every line ingested: the engines agree)
    assert (
        spark_out[0] == duck_out[0] == 0
        and spark_out[2].splitlines() == [spark_out[2].splitlines()[0]]
        and spark_out[2].startswith("note: Spark answers as of ingest batch 1, ")
    )
    assert spark_out[2].rstrip().endswith("every line the sources hold is ingested")
    assert [canonical(r) for r in json.loads(spark_out[1])] == [canonical(r) for r in json.loads(duck_out[1])]


def test_the_alarm_and_the_report_on_spark(engines, spark_server, cli, tmp_path):
    _, spark = engines
    root = str(spark.root)
    state = tmp_path / "alarm.json"
    flags = spark_server.flags
    code, out, err = cli("alarm", "--store", root, "--engine", "spark", *flags, "--state", state, "--format", "json")
    data = json.loads(out)
    duck = json.loads(cli("alarm", "--store", root, "--state", tmp_path / "duck.json", "--format", "json")[1])
    assert code == 1 == data["exit_code"] and data["summary"] == duck["summary"], err
    assert sorted(v["identity"] for v in data["violations"]) == sorted(v["identity"] for v in duck["violations"])
    # how fresh Spark's answer is, in the JSON (the alarm ingests first: every line is in the store)
    assert data["freshness"]["pending_rows"] == 0 and data["freshness"]["batch"] >= 1 and duck["freshness"] is None
    # the same memory: a second run on Spark is silent and still red; -v says how fresh, after the summary
    assert cli("alarm", "--store", root, "--engine", "spark", *flags, "--state", state)[:2] == (1, "")
    verbose = cli("alarm", "--store", root, "--engine", "spark", *flags, "--state", state, "-v")[1].splitlines()
    # (each run's ingest is a batch of its own, an empty one too)
    assert verbose[0].startswith("ALARM: 0 new critical, ") and re.fullmatch(
        r"note: Spark answers as of ingest batch \d+, \d+ (s|min) ago: every line the sources hold is ingested",
        verbose[1],
    )
    code, md, err = cli("report", "--store", root, "--engine", "spark", *flags, "--week", "2026-W45")
    duck_md = cli("report", "--store", root, "--week", "2026-W45")[1]
    strip = lambda t: [x for x in t.splitlines() if "Generated" not in x and not x.startswith("- `")]  # noqa: E731
    assert code == 0 and strip(md) == strip(duck_md)


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory):
    """A Spark Connect server on this machine (the one pyspark ships), for the thin client."""
    pytest.importorskip("grpc", reason="Spark Connect's client: pip install '.[spark-connect]'")
    import os
    import subprocess

    home = local_spark_or_skip()
    work = tmp_path_factory.mktemp("connect")
    port = free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOG_DIR": str(work),
        "SPARK_PID_DIR": str(work),
        "SPARK_IDENT_STRING": f"forensics-test-{port}",
    }
    subprocess.run(
        [
            "bash",
            str(home / "sbin" / "start-connect-server.sh"),
            "--master",
            "local[2]",
            "--conf",
            f"spark.connect.grpc.binding.port={port}",
            "--conf",
            "spark.ui.enabled=false",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        # started by a script that returns at once: no process of ours to watch, only the port
        wait_listening(port, None, work)
        yield f"sc://127.0.0.1:{port}"
    finally:
        subprocess.run(
            ["bash", str(home / "sbin" / "stop-connect-server.sh")], env=env, capture_output=True, timeout=120
        )


def test_a_laptop_drives_spark_connect_with_the_thin_client(store, connect_url, cli, run_script):
    root = str(store)
    for name in ("first_shot_success_rate", "model_weekly_summary", "three_consecutive_rejections"):
        # its own process, as on a laptop: one process holds one kind of Spark session
        res = run_script("run", name, "--store", root, "--engine", "spark", "--spark-remote", connect_url, "-f", "json")
        # stderr says only how fresh the answer is (the store's last ingest)
        said = res.stderr.decode().splitlines()
        assert res.returncode == 0 and len(said) == 1, res.stderr[-2000:]
        assert said[0].startswith("note: Spark answers as of ingest batch "), said
        theirs = sorted((canonical(r) for r in json.loads(res.stdout)), key=repr)
        ours = sorted((canonical(r) for r in json.loads(cli("run", name, "--store", root, "-f", "json")[1])), key=repr)
        assert len(theirs) == len(ours) and all(_close(a, b) for a, b in zip(theirs, ours)), name
