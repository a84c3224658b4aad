"""`forensics compare`: two cohorts on every per-call measure, held to a plain-Python reference
(tests/reference.py's Wilson and Newcombe, its percentile) and to Newcombe's published examples."""

from __future__ import annotations

import json
import random

import pytest

from forensics.read.sources import resolve
from forensics.report.compare import (
    comparable_columns,
    compare,
    mean_difference,
    proportion_difference,
    quantile,
    quantile_difference,
    verdict,
)
from forensics.store.connection import Store

from . import reference as ref
from .conftest import session, write_jsonl

# -- the two-proportion interval ----------------------------------------------------------------


@pytest.mark.parametrize(
    "k_b,n_b,k_a,n_a,difference,low,high",
    [
        # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (the hybrid
        # score interval), as the `propint` R package's tests also pin them.
        (56, 70, 48, 80, 0.2000, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.6000, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.5714, 0.0582, 0.8062),
        (5, 56, 0, 29, 0.0893, -0.0381, 0.1926),
    ],
)
def test_the_two_proportion_interval_is_newcombe_s_published_one(k_b, n_b, k_a, n_a, difference, low, high):
    d, lo, hi = proportion_difference(k_a, n_a, k_b, n_b)
    # To the four decimals printed (the paper used z = 1.959964, the macros 1.96).
    assert (d, lo, hi) == (
        pytest.approx(difference, abs=1e-4),
        pytest.approx(low, abs=1e-4),
        pytest.approx(high, abs=1e-4),
    )


def test_the_python_wilson_interval_is_the_sql_macro(cohorts):
    from forensics.measures import wilson_interval

    st, _ = cohorts
    cases = [(0, 1), (1, 1), (0, 2), (1, 2), (2, 2), (0, 30), (15, 30), (29, 30), (30, 30), (7, 1000)]
    for k, n in cases:
        (low, high), (sql_low, sql_high) = (
            wilson_interval(k, n),
            st.execute(
                "select wilson_low($k::double, $n::double), wilson_high($k::double, $n::double)", {"k": k, "n": n}
            ).rows[0],
        )
        assert low == pytest.approx(sql_low, abs=1e-12) and high == pytest.approx(sql_high, abs=1e-12)
        assert (low, high) == pytest.approx(ref.wilson(k, n), abs=1e-12)
    assert wilson_interval(0, 0) == (None, None)


def test_the_verdict_is_too_few_calls_below_the_report_s_minimum():
    from forensics.report.weekly import MIN_SESSIONS

    assert verdict(0.01, 0.2, MIN_SESSIONS, MIN_SESSIONS) == "up"
    assert verdict(-0.2, -0.01, MIN_SESSIONS, MIN_SESSIONS + 5) == "down"
    assert verdict(-0.2, 0.01, MIN_SESSIONS, MIN_SESSIONS) == "no real change"
    for n_a, n_b in ((MIN_SESSIONS - 1, 500), (500, MIN_SESSIONS - 1), (0, 0), (1, 2)):
        assert verdict(0.1, 0.2, n_a, n_b) == "too few calls"


# -- the other intervals --------------------------------------------------------------------------


def test_the_mean_difference_is_welch_s_interval():
    a, b = [1, 1, 2, 1, 3], [2, 2, 3, 1, 3, 2]
    d, low, high = mean_difference(a, b)
    var = lambda v: sum((x - sum(v) / len(v)) ** 2 for x in v) / (len(v) - 1)  # noqa: E731
    half = 1.96 * (var(a) / len(a) + var(b) / len(b)) ** 0.5
    assert d == pytest.approx(sum(b) / 6 - sum(a) / 5)
    assert (low, high) == pytest.approx((d - half, d + half))
    assert mean_difference([2], [1, 3]) == (0.0, None, None)  # n = 1: no variance, no interval
    assert mean_difference([], [1]) == (None, None, None)


def test_the_quantile_is_numpy_s_linear_one_and_the_bootstrap_is_seeded():
    rng = random.Random(5)
    a = [rng.randint(100, 5000) for _ in range(300)]
    b = [x + 700 for x in a[:250]] + [100] * 50  # ties
    for q in (0.0, 0.5, 0.95, 1.0):
        assert quantile(a, q) == ref.percentile(a, q)
    first = quantile_difference(a, b, 0.95)
    assert first == quantile_difference(a, b, 0.95), "the same logs give the same interval"
    # A plain bootstrap (sorting each resample) with its own seed lands within the Monte Carlo
    # error of ours: the order-statistic draw is the same resampling, without the sorts.
    plain = random.Random(99)
    diffs = sorted(
        ref.percentile(plain.choices(b, k=len(b)), 0.5) - ref.percentile(plain.choices(a, k=len(a)), 0.5)
        for _ in range(1000)
    )
    d, low, high = quantile_difference(a, b, 0.5)
    spread = diffs[974] - diffs[25]
    assert d == ref.percentile(b, 0.5) - ref.percentile(a, 0.5)
    assert abs(low - diffs[25]) < 0.15 * spread and abs(high - diffs[974]) < 0.15 * spread
    assert quantile_difference([], b, 0.5) == (None, None, None)
    assert quantile_difference([5], [7], 0.5) == (2, 2, 2)  # n = 1 each: every resample is the value


# -- cohorts from crafted logs ------------------------------------------------------------------


def _calls(model, *, first, retried, exhausted, infra, ts="2026-11-10T10:00:00Z", base=1000):
    rows = []
    kinds = (
        [("accepted", ["accepted"])] * first
        + [("accepted", ["validation_failed", "accepted"])] * retried
        + [("max_iter_exhausted", None)] * exhausted
        + [("infra_error", None)] * infra
    )
    for i, (v, attempts) in enumerate(kinds):
        rows.append(
            session(f"{model}-{i}", model=model, verdict=v, attempts=attempts, ts=ts, duration_ms=base + 10 * (i % 7))
        )
    return rows


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    """m-a and m-b with enough calls to judge; m-one with 1 call, m-two with 2; a split in time."""
    rows = (
        _calls("m-a", first=30, retried=5, exhausted=3, infra=2)
        + _calls("m-b", first=15, retried=16, exhausted=9, infra=4, base=2000)
        + _calls("m-one", first=1, retried=0, exhausted=0, infra=0)
        + _calls("m-two", first=0, retried=1, exhausted=1, infra=0)
        + _calls("m-a", first=10, retried=20, exhausted=6, infra=0, ts="2026-11-20T10:00:00Z", base=3000)
        + [session("no-time", model="m-a", ts="not a time")]
    )
    path = write_jsonl(tmp_path_factory.mktemp("compare") / "sessions.jsonl", rows)
    with Store(resolve(str(path), env={})) as st:
        yield st, path


def _expected(a, b):
    """The reference's rates for two lists of calls: {measure: (a, n_a, b, n_b, low, high)}."""
    out = {}
    for measure, hit, base in (
        ("first_shot_rate", ref.first_shot, ref.reached_model),
        ("accepted_rate", lambda c: c.final_verdict == "accepted", lambda c: True),
        ("exhausted_rate", lambda c: c.final_verdict == "max_iter_exhausted", lambda c: True),
        ("infra_error_rate", lambda c: c.final_verdict == "infra_error", lambda c: True),
    ):
        k_a, n_a = sum(hit(c) for c in a), sum(base(c) for c in a)
        k_b, n_b = sum(hit(c) for c in b), sum(base(c) for c in b)
        low, high = ref.newcombe(k_b, n_b, k_a, n_a) if n_a and n_b else (None, None)
        out[measure] = (k_a / n_a if n_a else None, n_a, k_b / n_b if n_b else None, n_b, low, high)
    return out


def test_two_models_side_by_side_match_the_reference(cohorts, tmp_path):
    st, path = cohorts
    got = {r["measure"]: r for r in compare(st, by="model", a="m-a", b="m-b", until="2026-11-15").records()}
    assert list(got) == [
        "first_shot_rate",
        "accepted_rate",
        "exhausted_rate",
        "infra_error_rate",
        "attempts_per_accepted",
        "p50_duration_ms",
        "p95_duration_ms",
    ]
    calls = [
        c
        for c in ref.read_calls([str(path)])
        if ref.in_window(c.timestamp, None, ref.parse_timestamp("2026-11-15T00:00:00Z"))
    ]
    rows_a = [c for c in calls if c.model == "m-a"]
    rows_b = [c for c in calls if c.model == "m-b"]
    for measure, (a, n_a, b, n_b, low, high) in _expected(rows_a, rows_b).items():
        r = got[measure]
        assert (r["a"], r["n_a"], r["b"], r["n_b"]) == pytest.approx((a, n_a, b, n_b)), measure
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((low, high)), measure
        assert r["difference"] == pytest.approx(b - a)
    # infra errors are left out of the first-shot denominator, not out of the accepted rate's
    assert got["first_shot_rate"]["n_a"] == 38 and got["accepted_rate"]["n_a"] == 40
    assert got["first_shot_rate"]["verdict"] == "down"  # 30/38 against 15/40
    assert got["infra_error_rate"]["verdict"] == "no real change"
    durations = lambda cs: [c.duration_ms for c in cs]  # noqa: E731
    for measure, q in (("p50_duration_ms", 0.5), ("p95_duration_ms", 0.95)):
        assert got[measure]["a"] == ref.percentile(durations(rows_a), q)
        assert got[measure]["verdict"] == "up"  # every m-b call took 1000 ms longer
    places_a = [p for p in map(ref.attempts_to_accept, rows_a) if p is not None]
    assert got["attempts_per_accepted"]["a"] == pytest.approx(sum(places_a) / len(places_a))
    assert got["attempts_per_accepted"]["n_a"] == 35 and got["attempts_per_accepted"]["verdict"] == "up"


def test_a_cohort_of_zero_one_or_two_calls_is_too_few(cohorts):
    st, _ = cohorts
    for other, n in (("m-one", 1), ("m-two", 2), ("no-such-model", 0)):
        rows = compare(st, by="model", a="m-a", b=other).records()
        assert {r["verdict"] for r in rows} == {"too few calls"}, other
        assert all(r["ci_low"] is None and r["ci_high"] is None for r in rows)
        assert {r["n_b"] for r in rows if r["measure"] == "accepted_rate"} == {n}
    empty = compare(st, by="model", a="m-a", b="no-such-model").records()[0]
    assert empty["b"] is None and empty["difference"] is None


def test_split_at_compares_before_with_after_per_model(cohorts):
    st, _ = cohorts
    rows = compare(st, split_at="2026-11-15T00:00:00Z").records()
    by = {(r["group"], r["measure"]): r for r in rows}
    assert {g for g, _ in by} == {"m-a", "m-b", "m-one", "m-two"}
    fs = by[("m-a", "first_shot_rate")]
    # the row with no valid time is on neither side
    assert (fs["cohort_a"], fs["n_a"], fs["cohort_b"], fs["n_b"]) == ("before", 38, "after", 36)
    assert fs["verdict"] == "down" and fs["ci_high"] < 0
    assert by[("m-b", "accepted_rate")]["verdict"] == "too few calls"  # nothing after the split


def test_by_is_checked_against_the_sessions_view(cohorts):
    from forensics.errors import ParameterError

    st, _ = cohorts
    assert {"model", "daemon", "provider", "kind", "prompt_template", "first_shot"} <= set(comparable_columns())
    assert "attempts" not in comparable_columns()
    for bad in ('model" = model or "', "no_such_column", "attempts"):
        with pytest.raises(ParameterError, match="no column of the sessions view"):
            compare(st, by=bad, a="x", b="y")
    rows = compare(st, by="kind", a="fill", b="playbook").records()
    assert rows[0]["n_a"] > 0 and rows[0]["n_b"] == 0


def test_the_command_line(cohorts, cli):
    _, path = cohorts
    code, out, err = cli("compare", "--by", "model", "m-a", "m-b", "-s", path, "-f", "json", "--until", "2026-11-15")
    assert code == 0, err
    rows = json.loads(out)
    assert rows[0]["measure"] == "first_shot_rate" and rows[0]["verdict"] == "down"
    for args, message in (
        (("--by", "nope", "a", "b"), "no column of the sessions view"),
        (("m-a",), "two cohorts"),
        (("--split-at", "2026-11-15", "m-a", "m-b"), "give no A or B"),
    ):
        code, out, err = cli("compare", *args, "-s", path)
        assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1, (args, err)


def test_bad_cohorts_are_usage_errors(cohorts):
    from forensics.errors import ParameterError, UsageError

    st, _ = cohorts
    for kwargs, message in (
        ({"a": "m-a", "b": "m-a"}, "both"),
        ({"a": "m-a"}, "two cohorts"),
        ({"split_at": "not a time"}, "not a time"),
        ({"split_at": "2026-11-15", "a": "m-a", "b": "m-b"}, "give no A or B"),
    ):
        with pytest.raises(ParameterError, match=message):
            compare(st, **kwargs)
    assert issubclass(ParameterError, UsageError)  # exit 2 on the command line


def test_templates_are_named_by_their_hash(tmp_path, cli):
    rows = [
        session(f"t{i}", prompt=f"Fill site A for W-{i} on 2026-11-0{1 + i % 9}", ts="2026-11-10T10:00:00Z")
        for i in range(40)
    ] + [
        session(
            f"u{i}", prompt=f"Summarise doc-{i} doc-{i + 1}", verdict="max_iter_exhausted", ts="2026-11-10T10:00:00Z"
        )
        for i in range(35)
    ]
    path = write_jsonl(tmp_path / "sessions.jsonl", rows)
    fill = ref.prompt_template("Fill site A for W-1 on 2026-11-01")
    summary = ref.prompt_template("Summarise doc-1 doc-2")
    code, out, err = cli("compare", "--by", "prompt_template", fill.split()[0], summary, "-s", path, "-f", "json")
    assert code == 0, err
    first = json.loads(out)[0]
    assert (first["n_a"], first["n_b"], first["a"], first["b"], first["verdict"]) == (40, 35, 1.0, 0.0, "down")
