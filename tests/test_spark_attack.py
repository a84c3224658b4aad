"""Attacks on --engine spark: data and DuckDB constructs that would make the engines disagree.

Each construct must give DuckDB's answer on Spark or an error naming it, never another answer.
On each Spark server in turn (Apache Spark's own, Sail), over a store of rows meant to separate the engines.
"""

from __future__ import annotations

import pytest

from .conftest import session, write_jsonl
from .test_spark import _close, both_engines, canonical

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def engines(tmp_path_factory, spark_server):
    """(DuckDB store, Spark store) over one store folder holding errors RE2, Java and Rust read apart."""
    base = tmp_path_factory.mktemp(f"spark-attack-{spark_server.name}")
    errs = session(
        "errs", verdict="max_iter_exhausted", attempts=["validation_failed"] * 3, model="m-e", ts="2026-11-04T09:00:00Z"
    )
    errs["attempts"][0]["error"] = "bad 3ü4 and ü7 W-12 12"
    errs["attempts"][1]["error"] = "x_12 ½ 12.5 é9é"
    errs["prompt"] = HOSTILE_PROMPT
    hostile = session(
        "json",
        verdict="max_iter_exhausted",
        attempts=["validation_failed"] * len(HOSTILE_JSON),
        ts="2026-11-04T11:00:00Z",
    )
    for attempt, error in zip(hostile["attempts"], HOSTILE_JSON):
        attempt["error"] = error
    logs = write_jsonl(base / "logs" / "sessions.jsonl", [errs, hostile, session("s-1", ts="2026-11-04T10:00:00.5Z")])
    yield from both_engines(base / "store", spark_server, sessions=[str(logs)], replay_runs=[])


# Hex runs beside letters past ASCII, a combining mark, _, digits and the text's ends; a trace id run into a UUID.
HOSTILE_PROMPT = (
    "12345678 run é12345678 a12345678 12345678é _12345678 e\u03019abcdef01 "
    "trace deadbeef-e89b-12d3-a456-426614174000abc ü7 x_12 at 2026-11-04 cafebabe99"
)


def test_the_prompt_template_reads_hex_beside_a_unicode_letter_as_re2_does(engines):
    duck, spark = engines
    theirs = spark.execute("select prompt_template(prompt) from sessions where session_id = 'errs'").rows
    ours = duck.execute("select prompt_template from sessions where session_id = 'errs'").rows
    assert theirs == ours and "<id>" in ours[0][0], ours


def test_fold_error_reads_a_number_beside_a_unicode_letter_as_re2_does(engines):
    duck, spark = engines
    sql = "select error, fold_error(error) from attempts where session_id = 'errs' order by error"
    assert spark.execute(sql).rows == duck.execute(sql).rows
    assert sorted(spark.query("top_rejection_errors").rows) == sorted(duck.query("top_rejection_errors").rows)


# Error texts that are JSON, nearly JSON, or no JSON: the validator's two shapes, and what a model or a
# producer could write instead (escapes, unicode, nesting, arrays, scalars, a raw newline, a lone
# surrogate, a truncated object). Not here, as their answers are not promised (docs/SCALING.md): text
# after a whole document, a trailing comma, NaN, a key named twice.
HOSTILE_JSON = [
    None,
    "",
    "not json",
    "  Policy: refund over limit",
    '{"Kind":"Schema"}',
    '{"Kind":"sch\\u0065ma"}',
    '{"Kind":"Pólicy","note":"日本"}',
    '{"Kind":"ROSTER","x":[1,{"y":null}]}',
    '{"Kind":5}',
    '{"Kind":{"Schema":{}}}',
    '{"Kind":null}',
    '{"Kind":"Schema\\nx"}',  # an escaped newline: valid JSON
    '{"Kind":"x\ny"}',  # a raw newline inside the string: no JSON to yyjson
    '{"Kind":"\\ud800"}',
    '{"Schema":{"field":"a"}}',
    '  {"Consistency":{"n":1}}  ',
    '{"Policy":{}}',
    '{"Schema":[]}',
    '{"Schema":"x"}',
    '{"Schema":{},"Policy":{}}',
    '{"schema":{}}',
    '{"a":{"Kind":"Schema"}}',
    '[{"Kind":"Schema"}]',
    '"Schema"',
    "42",
    "null",
    "true",
    "{}",
    "[]",
    '{"Kind":"Schema"',
    '{"Completeness":{"a":"é"},"Kind":"Completeness"}',
    '{"Kind":"Phantom"}',
]
# Each respelt JSON function, asked only where DuckDB answers (its json_type and json_keys fail on
# text that is no JSON), and the macros that read an error's JSON.
JSON_READ = """
select
    error,
    json_valid(error) as valid,
    case when json_valid(error) then json_type(error) = 'OBJECT' end as object,
    case when json_valid(error) then json_type(error) = 'ARRAY' end as array,
    case when json_valid(error) then json_type(error) = 'VARCHAR' end as text,
    case when json_valid(error) then json_type(error, '$.Kind') = 'VARCHAR' end as kind_text,
    case when json_valid(error) then json_type(error, '$.Schema') = 'OBJECT' end as schema_object,
    case when json_valid(error) then len(json_keys(error)) end as keys,
    case when json_valid(error) then case when json_type(error, '$.Kind') = 'VARCHAR' then error ->> '$.Kind' end end
        as kind,
    is_json_object(error) as is_object,
    error_variant(error) as variant,
    error_class(verdict_kind, error) as class
from attempts
where session_id = 'json'
order by iteration
"""


def test_the_json_functions_and_macros_give_duckdb_s_answer_on_hostile_text(engines):
    duck, spark = engines
    ours, theirs = duck.execute(JSON_READ).rows, spark.execute(JSON_READ).rows
    assert len(ours) == len(HOSTILE_JSON)
    assert {r[-1] for r in ours} >= {"schema", "policy", "roster", "consistency", "completeness", "other"}
    for mine, yours in zip(ours, theirs):
        assert yours == mine
    assert sorted(spark.query("rejections_by_class").rows) == sorted(duck.query("rejections_by_class").rows)


def test_a_json_type_without_a_spark_spelling_is_named():
    from forensics.spark.translate import NotPortable, to_spark

    for sql in (
        "select json_type(e) from t",
        "select json_type(e) = 'UBIGINT' from t",
        "select json_type(e, '$[0]') = 'NULL' from t",
    ):
        with pytest.raises(NotPortable, match="json_type"):
            to_spark(sql)


# Each gives DuckDB's answer on Spark, or an error: never another answer.
CONSTRUCTS = [
    "select [1, 2, 3][2:3] as a",
    "select 'hello'[2:3] as a",
    "select regexp_replace('aaa', 'a', 'b') as a",
    "select regexp_replace('aaa', 'a', '$0', 'g') as a",
    "select regexp_matches('3ü4', '\\b4') as a, regexp_replace('a1 ü2', '\\b[0-9]', 'N', 'g') as b",
    "select substring('hello', 0, 2) as a",
    "select substring('hello', 3, -1) as a",
    "select substring(session_id, length(session_id) - 4, 2) as a from sessions order by 1",
    "select substring('hello', length('hello') - 5, 2) as a",
    "select 2.5::int as a, (-1.5)::int as b",
    "select (duration_ms / 3)::int as a from sessions order by 1",
    "select 7.5 // 2 as a",
    'select epoch("timestamp") as a from sessions order by 1',
    "select strftime(timestamp '2026-01-01 13:04:05', '%j') as a",
    "select strftime(timestamp '2026-01-01 13:04:05', '%Y%% at %H') as a",
    "select strftime(timestamp '2026-01-01 13:04:05', '%u %w %U %W %z') as a",
    "select strftime(timestamp '2026-01-01 13:04:05', '%Y-%m-%d %H:%M:%S|%j') as a",
]


# A list's index, and what the inlined macros' bodies call, each given Spark's spelling of DuckDB's
# meaning: these must give DuckDB's answer on every server, not an error.
RESPELT = [
    "select [1, 2, 3][-1] as a, [1, 2, 3][0] as b, [1, 2, 3][4] as c, [1, 2, 3][-4] as d",
    "select list_transform(attempts, lambda a: a.iteration)[-1] as last from sessions where session_id = 'errs'",
    "select fmod(-1, 7) as a, fmod(8, -3) as b, fmod(-1.5, 7) as c, fdiv(-1, 7) as d, fdiv(7, -2) as e",
    "select list_position([1, 2], 3) as a, list_position(['x', 'y'], 'y') as b",
    "select list_transform(['a', 'b', 'c'], lambda x, i: i) as a, list_filter([5, 6, 7], lambda x, i: i > 1) as b",
    "select regexp_replace('1 2 3 x4 5_ 6 7.8 ü9 10', '\\b[0-9]+\\b', '<n>', 'g') as a",
    # RE2's ASCII \\b and \\B beside letters past ASCII, a combining mark, _, digits, the text's ends
    "select regexp_replace('12345678 x 12345678 é12345678 a12345678 12345678é _12345678 e\u03019abcdef01 12345678', "
    "'\\b[0-9a-fA-F]{8,}\\b', '<h>', 'g') as a, "
    "regexp_replace('a1 _2 é3 4 x5é 66 e\u03017', '\\B[0-9]', '#', 'g') as b, "
    "regexp_matches('ü4', '\\b4') as c, regexp_matches('_4', '\\b4') as d, regexp_extract('ü12 3', '\\b[0-9]+') as e",
    "select fold_prompt('trace deadbeef-e89b-12d3-a456-426614174000abc é12345678 _12345678 12345678ü 9abcdef01') as a, "
    "fold_error('ü7 x_12 é9é 3ü4 5') as b",
    "select utc_week_start(timestamp '1969-12-28 12:00:00') as a, utc_week_start(timestamp '2026-11-08 23:59:59') as b",
    "select wilson_low(3, 8) as a, wilson_high(3, 8) as b, wilson_low(0, 0) as c",
]


@pytest.mark.parametrize("sql", RESPELT)
def test_a_respelt_duckdb_function_gives_duckdb_s_answer(engines, sql):
    duck, spark = engines
    theirs, ours = (tuple(canonical(v) for v in e.execute(sql).rows[0]) for e in (spark, duck))
    assert _close(theirs, ours), (sql, theirs, ours)  # floats to 1e-9


@pytest.mark.parametrize("sql", CONSTRUCTS)
def test_a_construct_gives_duckdb_s_answer_or_an_error(engines, sql):
    from forensics.errors import ForensicsError

    duck, spark = engines
    ours = duck.execute(sql)
    try:
        theirs = spark.execute(sql)
    except ForensicsError as exc:
        assert "cannot run on Spark" in str(exc) or "failed on Spark" in str(exc)
        return
    assert theirs.rows == ours.rows, sql


def test_an_unportable_construct_is_named(engines):
    from forensics.spark.translate import NotPortable, to_spark

    for sql, named in (
        ("select regexp_replace(s, 'a', 'b') from t", "regexp_replace"),
        ("select s[2:3] from t", "slice"),
        ("select substring(s, 0, 2) from t", "SUBSTRING"),
        ("select (a / 2)::int from t", "CAST"),
        ("select strftime(ts, '%u') from t", "%u"),
        ("select x // 2.5 from t", "//"),
    ):
        with pytest.raises(NotPortable, match=named):
            to_spark(sql)
