"""What the writer does with the values it is given: markers, verdicts, numbers, attempt numbers.

A row always survives: a value that cannot be written as given is replaced by a marker that
says what was there, and counted. A verdict is never guessed.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import forensics
from forensics import SessionLogger, build_session_record

REQUEST = {"trace_id": "t-1", "kind": "fill", "prompt": "P", "provider": "ollama", "model": "qwen", "max_iterations": 3}
ACCEPTED = {
    "artifact": {"fills": [{"candidate_id": "W-1"}]},
    "iterations": 1,
    "history": [{"iteration": 0, "verdict_kind": "accepted"}],
}


def written(path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "forensics.writer"]


# --- 3. the row survives a bad value -------------------------------------------------------


class Unreadable(Mapping):
    """A mapping that runs out of memory when read."""

    def __getitem__(self, key):
        raise MemoryError

    def __iter__(self):
        raise MemoryError

    def __len__(self):
        return 3


class EndlessRepr:
    def __repr__(self):
        return repr(self)  # RecursionError, if anything asks


def _circular():
    value = {"name": "loop"}
    value["self"] = value
    return value


BAD_VALUES = [
    # (id, keys to merge into a good record, key written, what it must read back as)
    ("lone-surrogate", {"prompt": "caf\udce9 au lait"}, "prompt", "caf\\udce9 au lait"),
    (
        "attempts-is-text",
        {"attempts": "accepted"},
        "attempts",
        "<forensics: attempts is not a list of attempts: str 'accepted'>",
    ),
    (
        "attempt-not-a-mapping",
        {"attempts": [{"verdict_kind": "validation_failed"}, "garbage", None, {"verdict_kind": "accepted"}]},
        "attempts",
        [
            {"iteration": 0, "verdict_kind": "validation_failed"},
            "<forensics: not an attempt: str 'garbage'>",
            "<forensics: not an attempt: NoneType None>",
            {"iteration": 3, "verdict_kind": "accepted"},
        ],
    ),
    (
        "unserialisable-object",
        {"artifact": {"fills": [], "when": object()}},
        "artifact",
        lambda v: v["fills"] == [] and v["when"].startswith("<forensics: unserialisable object <object object at"),
    ),
    ("a-set", {"artifact": {"names": {"W-1"}}}, "artifact", {"names": "<forensics: unserialisable set {'W-1'}>"}),
    ("bytes", {"extra": b"\xff\xfe"}, "extra", "<forensics: unserialisable bytes b'\\xff\\xfe'>"),
    (
        "circular",
        {"artifact": _circular()},
        "artifact",
        {"name": "loop", "self": "<forensics: circular reference to a dict>"},
    ),
    ("nan", {"duration_ms": float("nan")}, "duration_ms", "<forensics: float nan>"),
    (
        "infinity-deep-inside",
        {"artifact": {"scores": [1.0, float("-inf")]}},
        "artifact",
        {"scores": [1.0, "<forensics: float -inf>"]},
    ),
    ("decimal-nan", {"duration_ms": Decimal("NaN")}, "duration_ms", "<forensics: Decimal NaN>"),
    (
        "memory-error-reading-a-value",
        {"artifact": Unreadable()},
        "artifact",
        {"<forensics: truncated>": "<forensics: could not read further items: MemoryError>"},
    ),
    (
        "recursion-error-describing-a-value",
        {"artifact": [EndlessRepr()]},
        "artifact",
        lambda v: v[0].startswith("<forensics: unserialisable EndlessRepr <EndlessRepr instance at"),
    ),
    (
        "key-that-is-not-text",
        {"artifact": {(1, 2): "pair"}},
        "artifact",
        {"<forensics: a key that is not text: tuple (1, 2)>": "pair"},
    ),
]


@pytest.mark.parametrize("extra,key,expected", [c[1:] for c in BAD_VALUES], ids=[c[0] for c in BAD_VALUES])
def test_a_bad_value_becomes_a_marker_and_the_row_is_kept(extra, key, expected, tmp_path, caplog):
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path, daemon="svc")
    record = {
        "session_id": "s-1",
        "kind": "fill",
        "model": "qwen",
        "final_verdict": "accepted",
        "attempts": [{"iteration": 0, "verdict_kind": "accepted"}],
        "artifact": {"fills": []},
        "grounded_in_roster": True,
        "duration_ms": 5,
        **extra,
    }
    with caplog.at_level(logging.WARNING, logger="forensics.writer"):
        assert log.append(record) is False  # written, but not as given
    assert log.errors == 1 and log.written == 1
    (row,) = written(path)
    value = row[key]
    assert expected(value) if callable(expected) else value == expected
    # Everything else is written as given, the verdicts above all.
    for k in ("session_id", "kind", "model", "final_verdict", "grounded_in_roster"):
        assert row[k] == record[k]
    assert row["daemon"] == "svc" and row["schema"] == "session.iterate.v1"
    (message,) = warnings(caplog)
    assert "could not be written as given" in message and key in message


def test_rows_with_markers_are_rows_to_the_reader(tmp_path):
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path)
    for i, case in enumerate(BAD_VALUES):
        log.append(
            {
                "session_id": f"bad-{i}",
                "final_verdict": "accepted",
                "artifact": {},
                "attempts": [{"verdict_kind": "accepted"}],
                **case[1],
            }
        )
    log.append(None)  # not a record at all: the call still leaves a row
    log.append(42)
    store = forensics.connect(str(path), config=os.devnull)
    seen = store.df("select session_id from sessions")["session_id"].tolist()
    assert len(seen) == len(BAD_VALUES) + 2
    assert seen[: len(BAD_VALUES)] == [f"bad-{i}" for i in range(len(BAD_VALUES))]
    assert log.errors == len(BAD_VALUES) + 2
    last = written(path)[-2:]
    assert [r["record"] for r in last] == [
        "<forensics: not a record: NoneType None>",
        "<forensics: not a record: int 42>",
    ]
    assert all(r["final_verdict"] == "" and "grounded_in_roster" not in r for r in last)


def test_same_failure_is_logged_once_until_an_append_goes_cleanly(tmp_path, caplog):
    log = SessionLogger(tmp_path / "s.jsonl")
    with caplog.at_level(logging.WARNING, logger="forensics.writer"):
        for i in range(5):
            log.append({"session_id": str(i), "duration_ms": float("nan")})
        assert len(warnings(caplog)) == 1
        assert log.append({"session_id": "clean"})
        log.append({"session_id": "again", "duration_ms": float("inf")})
    assert len(warnings(caplog)) == 2 and log.errors == 6 and log.written == 7


def _hostile_values():
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.decimals(),
        st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0xDFFF), max_size=6),
        st.binary(max_size=4),
        st.builds(object),
        st.frozensets(st.integers(), max_size=2),
    )
    keys = st.one_of(st.text(max_size=4), st.integers(), st.none(), st.tuples(st.integers()))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.tuples(inner, inner), st.dictionaries(keys, inner, max_size=4)
        ),
        max_leaves=20,
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.dictionaries(
        st.sampled_from(
            [
                "prompt",
                "artifact",
                "attempts",
                "iterations",
                "duration_ms",
                "final_verdict",
                "session_id",
                "grounded_in_roster",
                "extra",
                "kind",
            ]
        ),
        _hostile_values(),
        max_size=5,
    )
)
def test_any_record_leaves_exactly_one_readable_row(values, tmp_path):
    path = tmp_path / "prop.jsonl"
    path.unlink(missing_ok=True)
    log = SessionLogger(path)
    clean = log.append(values)
    (line,) = path.read_bytes().splitlines()  # one row, whatever was given
    row = json.loads(line)
    assert log.written == 1 and log.errors == (0 if clean else 1)
    assert row["schema"] == "session.iterate.v1" and row["session_id"] not in ("", None)
    assert not isinstance(row.get("grounded_in_roster"), str)
    if "grounded_in_roster" in row:
        assert values.get("grounded_in_roster") is row["grounded_in_roster"]


# --- 4. verdicts are never invented ------------------------------------------------------


@pytest.mark.parametrize("verdict,expected", [(True, True), (False, False)])
def test_a_boolean_roster_verdict_is_written(verdict, expected, tmp_path):
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path)
    assert log.append(build_session_record(REQUEST, response=ACCEPTED, roster_check=lambda a: verdict))
    assert written(path)[0]["grounded_in_roster"] is expected and log.errors == 0


@pytest.mark.parametrize("verdict", ["false", "true", "", ["W-404"], [], 1, 0, 0.0, {"ok": True}, b"\x00"], ids=repr)
def test_a_roster_check_that_returns_no_boolean_gives_no_verdict(verdict, tmp_path, caplog):
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path)
    with caplog.at_level(logging.WARNING, logger="forensics.writer"):
        ok = log.append(build_session_record(REQUEST, response=ACCEPTED, roster_check=lambda a: verdict))
        log.append({"session_id": "direct", "final_verdict": "accepted", "grounded_in_roster": verdict})
    assert ok is False and log.errors == 2 and log.written == 2
    assert all("grounded_in_roster" not in row for row in written(path))
    assert "is not a boolean: no verdict written" in warnings(caplog)[0]


def test_no_verdict_when_the_roster_check_returns_none_or_raises(tmp_path, caplog):
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path)

    def down(artifact):
        raise ConnectionError("roster service down")

    assert log.append(build_session_record(REQUEST, response=ACCEPTED, roster_check=lambda a: None))
    assert log.errors == 0  # None is the check's own "no verdict"
    with caplog.at_level(logging.WARNING, logger="forensics.writer"):
        assert log.append(build_session_record(REQUEST, response=ACCEPTED, roster_check=down)) is False
    assert all("grounded_in_roster" not in row for row in written(path)) and log.errors == 1
    assert "the roster check raised ConnectionError: roster service down" in warnings(caplog)[0]


def test_numpy_booleans_are_verdicts_and_numpy_arrays_are_not(tmp_path):
    np = pytest.importorskip("numpy")
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path)
    for verdict in (np.True_, np.False_, np.array([True]), np.array(False)):
        log.append(build_session_record(REQUEST, response=ACCEPTED, roster_check=lambda a, v=verdict: v))
    rows = written(path)
    assert [r.get("grounded_in_roster", "absent") for r in rows] == [True, False, "absent", "absent"]
    assert b'"grounded_in_roster":true' in path.read_bytes() and log.errors == 2


def test_numeric_types_are_written_as_json_numbers(tmp_path):
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path)
    assert log.append(
        {
            "session_id": "d",
            "iterations": Decimal("2"),
            "max_iterations": Decimal("3.0"),
            "duration_ms": Decimal("812"),
            "artifact": {"exact": Decimal("0.10"), "huge": 2**80, "neg": Decimal("-0")},
        }
    )
    line = path.read_bytes()
    assert b'"iterations":2,"max_iterations":3,' in line and b'"duration_ms":812' in line
    assert b'"exact":0.10' in line and b'"huge":1208925819614629174706176' in line
    row = written(path)[0]
    assert type(row["iterations"]) is int and row["artifact"]["neg"] == 0 and log.errors == 0


def test_numpy_numbers_are_written_as_json_numbers(tmp_path):
    np = pytest.importorskip("numpy")
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path)
    record = build_session_record(
        REQUEST,
        response={
            "artifact": {"shift": np.int32(3), "score": np.float64(0.25), "counts": np.arange(3)},
            "iterations": np.int64(2),
            "history": [
                {"iteration": np.int64(0), "verdict_kind": "no_json"},
                {"iteration": np.uint8(1), "verdict_kind": "accepted"},
            ],
        },
        roster_check=lambda a: np.True_,
        duration_ms=np.int64(812),
    )
    assert log.append(record) is True and log.errors == 0
    line = path.read_bytes()
    assert b'"iterations":2,' in line and b'"duration_ms":812' in line
    assert b'"artifact":{"shift":3,"score":0.25,"counts":[0,1,2]},"grounded_in_roster":true' in line
    assert [a["iteration"] for a in written(path)[0]["attempts"]] == [0, 1]
    log.append({"session_id": "nan", "artifact": {"score": np.float64("nan")}})
    assert written(path)[1]["artifact"]["score"] == "<forensics: float nan>" and log.errors == 1


# --- 5. attempt numbering -----------------------------------------------------------------


def test_an_attempt_without_iteration_takes_its_position(tmp_path):
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path)
    third_shot = {
        "artifact": {"fills": []},
        "iterations": 3,
        "history": [
            {"verdict_kind": "validation_failed", "error": "phantom W-9"},
            {"verdict_kind": "no_json"},
            {"verdict_kind": "accepted"},
        ],
    }
    assert log.append(
        build_session_record({**REQUEST, "trace_id": "third"}, response=third_shot, roster_check=lambda a: True)
    )
    assert log.append(
        {
            "session_id": "mixed",
            "final_verdict": "max_iter_exhausted",
            "attempts": [
                {"iteration": 0, "verdict_kind": "no_json"},
                {"verdict_kind": "no_json"},
                {"iteration": 7, "verdict_kind": "no_json"},
                {"verdict_kind": "no_json", "iteration": None},
            ],
        }
    )
    rows = written(path)
    assert [a["iteration"] for a in rows[0]["attempts"]] == [0, 1, 2]
    assert [a["iteration"] for a in rows[1]["attempts"]] == [0, 1, 7, 3]
    # A third-attempt accept is not read as a first shot.
    store = forensics.connect(str(path), config=os.devnull)
    first_shot, to_accept = store.df(
        "select first_shot, attempts_to_accept from sessions where session_id = 'third'"
    ).iloc[0]
    assert not first_shot and to_accept == 3


def test_values_read_back_exactly_when_nothing_was_wrong(tmp_path):
    path = tmp_path / "s.jsonl"
    log = SessionLogger(path)
    record = {
        "session_id": "ok",
        "artifact": {
            "pi": math.pi,
            "tiny": 5e-324,
            "big": 2**63 - 1,
            "text": "Café ⭐ \u2028",
            "nested": [[[]]],
            "empty": {},
        },
    }
    assert log.append(record) is True and log.errors == 0
    assert written(path)[0]["artifact"] == record["artifact"]
