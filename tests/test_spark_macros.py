"""The macros inlined into the statements sent to Spark (forensics/spark/macros.py), checked without Spark.

DuckDB runs the inlined text itself: each built-in query, its macros replaced by their bodies,
must give the answer the query gives with its macros; and the Spark text of every built-in query
must call no macro, so that it needs no temporary function on any Spark Connect server.
"""

from __future__ import annotations

import re
from functools import cache

import pytest

pytest.importorskip("sqlglot", reason="the Spark translation: pip install '.[dev]'")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """DuckDB over a few generated sessions: enough rows for every query to answer something."""
    import forensics
    from forensics.sample.logs import generate

    logs = tmp_path_factory.mktemp("macros")
    generate(logs, sessions=150, seed=5)
    engine = forensics.connect(sessions=str(logs / "sessions.jsonl"), replay_runs=str(logs / "replay_runs.jsonl"))
    yield engine
    engine.close()


@cache
def _catalog():
    from forensics.catalog import load_catalog

    return load_catalog([])


def _defined_names() -> set[str]:
    """The macros' names as DuckDB's text declares them (independent of the parser under test)."""
    from forensics.measures import MACROS
    from forensics.read.columns import READ_MACROS

    return set(re.findall(r"create or replace temp macro (\w+)\(", MACROS + READ_MACROS))


def _calls(sql: str, dialect: str) -> set[str]:
    """The names of the functions a statement calls that sqlglot does not know."""
    import sqlglot
    from sqlglot import exp

    return {f.name.lower() for f in sqlglot.parse_one(sql, read=dialect).find_all(exp.Anonymous)}


def test_every_macro_of_duckdb_s_text_is_read_with_its_parameters():
    from forensics.spark.macros import macros

    found = macros()
    assert set(found) == _defined_names() and len(found) >= 9
    assert len(_calling_macros()) >= 6
    assert found["wilson_low"][0] == ("k", "n") and found["first_shot"][0] == ("final_verdict", "ordered")


def _calling_macros() -> list[str]:
    """The built-in queries that call a macro (by the text's own words)."""
    words = re.compile(r"\b(" + "|".join(sorted(_defined_names())) + r")\(")
    return [n for n in _catalog().names() if words.search(_catalog().get(n).sql)]


# parameters that make a query answer something on a few clean generated sessions
_PARAMS = {"three_consecutive_rejections": {"min_run": 2}}
# A drop needs two windows with a real change, which clean sessions never have: its inlined text
# is held to DuckDB's answer on crafted rows that fire it, on the Spark line (tests/test_spark.py).
_EMPTY_HERE = {"first_shot_drop"}


@pytest.mark.parametrize("name", _calling_macros())
def test_a_built_in_query_inlined_gives_duckdb_the_same_answer(store, name):
    import sqlglot

    from forensics.spark.macros import inline_macros

    q = _catalog().get(name)
    inlined = inline_macros(sqlglot.parse_one(q.sql, read="duckdb")).sql(dialect="duckdb")
    assert not _calls(inlined, "duckdb") & _defined_names(), name
    some_id = store.execute("select min(session_id) from sessions").rows[0][0]
    params = q.bind({"session_id": some_id} if "session_id" in q.params else _PARAMS.get(name, {}))
    ours = store.execute(q.sql, params).rows
    assert store.execute(inlined, params).rows == ours, name
    assert ours or name in _EMPTY_HERE, f"{name} returned no rows: the comparison proves nothing"


def test_the_spark_text_of_every_built_in_query_calls_no_macro():
    from forensics.spark.translate import to_spark

    calls = set()
    for name in _catalog().names():
        text = to_spark(_catalog().get(name).sql, name=name)
        assert "temporary function" not in text.lower()
        calls |= _calls(text, "spark")
    assert not calls & _defined_names(), calls
    # the macros the queries call are there to be inlined: the test above is not vacuous
    called = set()
    for name in _catalog().names():
        called |= _calls(_catalog().get(name).sql, "duckdb")
    assert {"reached_model", "wilson_low", "wilson_high", "utc_week_start", "fold_error", "attempts_in_order"} <= called


def test_an_argument_keeps_its_precedence_inside_the_body(store):
    import sqlglot

    from forensics.spark.macros import inline_macros

    sql = "select wilson_low(1 + 2, 10 - 2) as lo, wilson_high(3, 4 + 4) as hi, reached_model('acc' || 'epted') as r"
    inlined = inline_macros(sqlglot.parse_one(sql, read="duckdb")).sql(dialect="duckdb")
    assert "(1 + 2)" in inlined and "(10 - 2)" in inlined
    assert store.execute(inlined).rows == store.execute(sql).rows
    lo, hi, r = store.execute(inlined).rows[0]
    assert 0 < lo < 3 / 8 < hi < 1 and r is True


def test_a_macro_calling_a_macro_and_a_field_of_a_parameter_are_inlined(store):
    import sqlglot

    from forensics.spark.macros import inline_macros, parse_macros

    defined = parse_macros(
        "create macro outer_m(s) as inner_m(s, s.b + 1); create macro inner_m(x, y) as x.a * 10 + y;"
    )
    sql = "select outer_m({'a': 2, 'b': 3}) as v"
    inlined = inline_macros(sqlglot.parse_one(sql, read="duckdb"), defined).sql(dialect="duckdb")
    assert "outer_m" not in inlined.lower() and "inner_m" not in inlined.lower()
    assert store.execute(inlined).rows == [(24,)]


def test_a_call_that_cannot_be_inlined_is_an_error_naming_it():
    import sqlglot

    from forensics.spark.macros import MacroError, inline_macros, parse_macros
    from forensics.spark.translate import NotPortable, to_spark

    with pytest.raises(NotPortable, match=r"wilson_low takes 2 arguments"):
        to_spark("select wilson_low(1) from sessions")
    with pytest.raises(NotPortable, match=r"reached_model takes 1 argument "):
        to_spark("select reached_model(final_verdict, 2) from sessions")
    loop = parse_macros("create macro again(x) as again(x + 1);")
    with pytest.raises(MacroError, match="again calls itself"):
        inline_macros(sqlglot.parse_one("select again(1)", read="duckdb"), loop)
    # the body's lambda binds v: an argument naming a column v would read the lambda's v instead
    capture = parse_macros("create macro shift(xs, d) as list_transform(xs, lambda v: v + d);")
    with pytest.raises(MacroError, match="names v, a variable of its lambda"):
        inline_macros(sqlglot.parse_one("select shift(xs, v) from t", read="duckdb"), capture)
    assert "+ w" in inline_macros(sqlglot.parse_one("select shift(xs, w) from t", read="duckdb"), capture).sql()


def test_duckdb_s_functions_are_given_spark_s_spelling_of_their_meaning():
    from forensics.spark.translate import to_spark

    text = to_spark(
        "select list_transform(xs, lambda x, i: {'i': i, 'x': x.i}) as a, list_position(xs, 3) as b, "
        "fdiv(7, -2) as c, fmod(8, -3) as d, epoch_us(ts) as e from t"
    )
    # the index counts from 1, a struct's key and a field named i left alone
    assert "CAST((i + 1) AS BIGINT) AS i" in text and "x.i AS x" in text
    assert "NULLIF(ARRAY_POSITION(xs, 3), 0)" in text  # missing is NULL, as in DuckDB
    assert "FLOOR(CAST(7 AS DOUBLE) / CAST(-2 AS DOUBLE))" in text
    assert "CAST(8 AS DOUBLE) - CAST(-3 AS DOUBLE) * FLOOR(" in text  # the sign of the divisor
    assert "UNIX_MICROS(ts)" in text
    assert not _calls(text, "spark") & {"list_position", "fdiv", "fmod", "epoch_us"}


# fold_prompt's one pass (a hex run standing alone that runs into a UUID is one id) and fold_error's.
BOUNDARY_PATTERNS = [
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\\b[0-9a-fA-F]{8,}\\b",
    "\\b[0-9]+\\b",
    "\\B[0-9]+",
]


@pytest.mark.parametrize("flavour", ["java", "rust"])
def test_re2_s_word_boundary_is_spelt_as_each_server_reads_re2_s(flavour):
    """`\\b` and `\\B` as Spark gets them, one pattern in one pass, applied by a backtracking engine that
    reads the server's spelling as the server does (Python's: Java's look-arounds as they are, Rust's
    ASCII `(?-u:\\b)` as `(?a:\\b)`), give RE2's answer on text with letters past ASCII, marks, _ and digits."""
    import duckdb
    import sqlglot
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from sqlglot import exp

    from forensics.spark.regex import RegexFlavour
    from forensics.spark.translate import to_spark

    db = duckdb.connect()
    spelt = []
    for pattern in BOUNDARY_PATTERNS:
        text = to_spark(f"select regexp_replace(x, '{pattern}', '<id>', 'g') from t", regex=RegexFlavour(flavour))
        (node,) = sqlglot.parse_one(text, read="spark").find_all(exp.RegexpReplace)
        theirs = node.expression.this
        # one pattern, no look-around for Rust (Sail's regex has none); no (?-u:) for Java (its \b is Unicode)
        assert ("?<" in theirs) == (flavour == "java") and ("(?-u:" in theirs) == (flavour == "rust"), theirs
        spelt.append((pattern, theirs.replace("(?-u:", "(?a:")))

    @settings(max_examples=80, deadline=None, database=None)
    @given(st.text(alphabet="0a9fF_-é\u0301ü½ \n", max_size=24))
    def agree(value):
        for pattern, theirs in spelt:
            re2 = db.execute("select regexp_replace($v, $p, '<id>', 'g')", {"v": value, "p": pattern}).fetchone()[0]
            assert re.sub(theirs, "<id>", value) == re2, (pattern, value)

    agree()
    # a trace id that runs into a UUID: one id, as RE2's leftmost-first pass reads it
    uuid = "123e4567-e89b-12d3-a456-426614174000"
    value = f"trace deadbeef{uuid[8:]}abc x"
    for pattern, theirs in spelt[:1]:
        re2 = db.execute("select regexp_replace($v, $p, '<id>', 'g')", {"v": value, "p": pattern}).fetchone()[0]
        assert re.sub(theirs, "<id>", value) == re2


def test_a_boundary_inside_a_bracket_class_is_refused_and_any_replacement_is_taken():
    from forensics.spark.regex import RegexFlavour
    from forensics.spark.translate import NotPortable, to_spark

    for flavour in RegexFlavour:
        with pytest.raises(NotPortable, match="inside a bracket class"):
            to_spark("select regexp_matches(x, '[\\b0-9]') from t", regex=flavour)
        # one pass, no captured neighbours: a replacement of letters, or one the pattern matches, is fine
        for sql in (
            "select regexp_replace(x, '\\b[0-9]+\\b', 'N', 'g') from t",
            "select regexp_replace(x, '\\b[a-z]+\\b', '<word>', 'g') from t",
        ):
            assert "$" not in to_spark(sql, regex=flavour)


def test_the_server_s_regex_is_asked_once_and_an_unclear_answer_keeps_the_look_arounds():
    """Rust's spelling only where the server gives RE2's answer with it; Java's on another answer or an error."""
    from forensics.spark.regex import RegexFlavour
    from forensics.spark.session import regex_flavour

    class Server:
        def __init__(self, answer):
            self.answer, self.asked = answer, 0

        def sql(self, text, args):
            self.asked += 1
            if isinstance(self.answer, Exception):
                raise self.answer
            return type(
                "Df",
                (),
                {
                    "collect": lambda _: (
                        [(re.sub(r"\b[0-9]", "#", args["t"], flags=re.ASCII),)]
                        if self.answer == "re2"
                        else [(args["t"],)]
                    )
                },
            )()

    rust, java, broken = Server("re2"), Server("unicode"), Server(RuntimeError("regex parse error"))
    assert [regex_flavour(s) for s in (rust, java, broken)] == [RegexFlavour.RUST, RegexFlavour.JAVA, RegexFlavour.JAVA]
    assert regex_flavour(rust) is RegexFlavour.RUST and rust.asked == 1  # once per session
