"""Error classes, prompt templates and the cost of retries, on crafted logs, held to the plain-Python
reference (tests/reference.py): every class (malformed JSON included), ties, n = 0, 1, 2."""

from __future__ import annotations

import pytest

from forensics.read.sources import resolve
from forensics.store.connection import Store

from . import reference as ref
from .conftest import session, write_jsonl
from .figures import assert_rows, records

# (verdict kind, error text, its class): every class, each shape of a text, malformed JSON.
CLASSES = [
    ("accepted", None, None),
    ("no_json", "no JSON object in the answer", "no_json"),
    ("infra_error", "connection refused", "infra"),
    ("validation_failed", '{"Schema":{"field":"shift_id","reason":"missing"}}', "schema"),
    ("validation_failed", '{"Kind":"Schema","Field":"x","Reason":"y"}', "schema"),
    ("validation_failed", "schema: 'fills' must be an array", "schema"),
    ("validation_failed", '{"Completeness":{"reason":"no fills"}}', "completeness"),
    ("validation_failed", '{"Kind":"Completeness","Field":"","Reason":"y"}', "completeness"),
    ("validation_failed", ' {"Consistency":{"reason":"two shifts at once"}} ', "consistency"),
    ("validation_failed", '{"Policy":{"reason":"overtime"}}', "policy"),
    ("validation_failed", "Policy: overtime", "policy"),
    ("validation_failed", "phantom W-17", "roster"),
    ("validation_failed", "Roster: W-3 unknown", "roster"),
    ("validation_failed", "missing required field 'shift_id'", "other"),
    ("validation_failed", '{"Schema":{"field":', "other"),  # cut short
    ("validation_failed", "{not json at all", "other"),
    ("validation_failed", '{"Kind":5,"Field":"x"}', "other"),  # a Kind of the wrong type
    ("validation_failed", '{"Kind":"Weird"}', "other"),  # a variant no one knows
    ("validation_failed", '{"Schema":"not an object"}', "other"),
    ("validation_failed", '{"Schema":{},"Policy":{}}', "other"),  # two tags
    ("validation_failed", '"phantom W-1"', "other"),  # a JSON string, not a complaint
    ("validation_failed", "[1, 2]", "other"),
    ("validation_failed", "", "other"),
    ("validation_failed", None, "other"),
    ("timeout", "what is this", "other"),
    (None, "phantom W-2", "other"),
]


def _attempt(i, kind, error):
    a = {"iteration": i}
    if kind is not None:
        a["verdict_kind"] = kind
    if error is not None:
        a["error"] = error
    return a


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """One log: every error class; the docs' retry-cost example (model m-r); ties; models of 1 and 2 calls."""
    rows = []
    for i, (kind, error, _) in enumerate(CLASSES):
        row = session(f"class-{i}", model="m-c", verdict="max_iter_exhausted", ts="2026-11-10T10:00:00Z")
        row["attempts"] = [_attempt(0, kind, error)]
        rows.append(row)
    # The docs' worked example: a first shot, an accepted call after a no_json, an exhausted call
    # after three rejections, an infra error.
    rows += [
        session("r-first", model="m-r", attempts=["accepted"], duration_ms=100),
        session("r-retried", model="m-r", attempts=["no_json", "accepted"], duration_ms=300),
        session("r-exhausted", model="m-r", verdict="max_iter_exhausted", duration_ms=900),
        session("r-infra", model="m-r", verdict="infra_error", duration_ms=5000),
    ]
    rows += [session("one", model="m-one", verdict="infra_error")]  # no call reached the model
    rows += [
        session("two-a", model="m-two", attempts=["accepted"]),
        session("two-b", model="m-two", verdict="max_iter_exhausted"),
    ]
    # Templates: two prompts of one template (numbers, dates, ids, more context), a third; ties.
    prompts = [
        "Fill site A for week 45 on 2026-11-03T10:00:00Z, span deadbeef01. Context: doc-1 doc-2",
        "Fill site A for week 46 on 2026-12-24, span 0123abcd99. Context: doc-7",
        'Summarise "O\'Brien" notes',
        "Summarise 'Nguyen' notes",
    ]
    for i, p in enumerate(prompts * 2):
        v = "accepted" if i % 3 else "max_iter_exhausted"
        rows.append(session(f"p-{i}", model="m-p", verdict=v, prompt=p, ts="2026-11-11T10:00:00Z"))
    rows.append(session("p-empty", model="m-p", prompt="  \t ", ts="2026-11-11T10:00:00Z"))
    rows.append(
        session(
            "p-ids", model="m-p", prompt="trace 0123456789abcdef-e89b-12d3-a456-426614174000", ts="2026-11-11T10:00:00Z"
        )
    )
    rows.append(session("p-late", model="m-p", prompt="Fill site A", ts="2026-11-18T10:00:00Z"))
    path = write_jsonl(tmp_path_factory.mktemp("classes") / "sessions.jsonl", rows)
    with Store(resolve(str(path), env={})) as st:
        yield st, ref.read_calls([str(path)])


def test_every_error_class(crafted):
    st, _ = crafted
    got = dict(
        st.execute(
            "select session_id, error_class from attempts where session_id like 'class-%' order by session_id"
        ).rows
    )
    for i, (kind, error, expected) in enumerate(CLASSES):
        assert got[f"class-{i}"] == expected == ref.error_class(kind, error), (kind, error)
    assert {c for *_, c in CLASSES} >= {
        "no_json",
        "schema",
        "completeness",
        "consistency",
        "policy",
        "roster",
        "infra",
        "other",
    }


def test_every_error_class_of_the_macro_is_the_reference_s(crafted):
    """The macro over each text alone, without the view: the same answer."""
    st, _ = crafted
    for kind, error, expected in CLASSES:
        assert st.execute("select error_class($k, $e)", {"k": kind, "e": error}).rows[0][0] == expected


def test_prompt_templates_fold_numbers_dates_ids_and_quotes(crafted):
    st, calls = crafted
    got = dict(st.execute("select session_id, prompt_template from sessions where session_id like 'p-%'").rows)
    for c in calls:
        if c.session_id.startswith("p-"):
            assert got[c.session_id] == ref.prompt_template(c.raw["prompt"])
    assert got["p-0"] == got["p-1"] == got["p-4"]  # week, date, span id and context length folded
    assert got["p-2"] == got["p-3"] != got["p-0"]  # a quoted name either way
    assert got["p-0"].split(" ", 1)[1] == "Fill site A for week <n> on <date>,"
    assert len(got["p-0"].split(" ", 1)[0]) == 8
    assert got["p-empty"] is None and got["p-late"] != got["p-0"]
    assert got["p-ids"].split(" ", 1)[1] == "trace <id>-e89b-12d3-a456-<id>"  # one pass, leftmost first


def test_retry_cost_is_the_docs_worked_example(crafted):
    st, calls = crafted
    rows = {r["model"]: r for r in records(st.query("retry_cost"))}
    r = rows["m-r"]
    assert (r["calls"], r["accepted"], r["attempts"], r["reached_model"], r["retried"], r["recovered"]) == (
        4,
        2,
        7,
        3,
        2,
        1,
    )
    assert (r["calls_per_accepted"], r["attempts_per_accepted"], r["ms_per_accepted"]) == (2, 3.5, 3150)
    assert (r["retry_share"], r["recovery_rate"]) == (pytest.approx(2 / 3), 0.5)
    # n = 0 accepted and none reached the model: no ratio at all
    one = rows["m-one"]
    assert (one["accepted"], one["calls_per_accepted"], one["retry_share"], one["recovery_rate"]) == (
        0,
        None,
        None,
        None,
    )
    # n = 2: an accepted call with no rejection, an exhausted one
    two = rows["m-two"]
    assert (two["retried"], two["recovered"], two["recovery_rate"], two["retry_share"]) == (1, 0, 0.0, 0.5)
    assert_rows(records(st.query("retry_cost")), ref.retry_cost(calls), what="retry_cost")


def test_rejections_by_class_and_templates_match_the_reference(crafted):
    st, calls = crafted
    assert_rows(records(st.query("rejections_by_class")), ref.rejections_by_class(calls), what="by class")
    by_class = {r["error_class"]: r["attempts"] for r in records(st.query("rejections_by_class", {"model": "m-c"}))}
    assert by_class == {
        "no_json": 1,
        "infra": 1,
        "schema": 3,
        "completeness": 2,
        "consistency": 1,
        "policy": 2,
        "roster": 2,
        "other": 13,
    }
    ranked = records(st.query("prompt_template_first_shot"))
    assert_rows(ranked, ref.prompt_template_first_shot(calls), what="templates")
    rates = [r["rate"] for r in ranked if r["rate"] is not None]
    assert rates == sorted(rates, reverse=True) and len(set(rates)) < len(rates)  # ties, ordered by n then name


def test_top_reasons_are_counted_within_their_class(crafted):
    st, calls = crafted
    rows = records(st.query("top_rejection_errors", {"model": "m-c", "top": 30}))
    assert_rows(rows, ref.top_rejection_errors(calls, model="m-c", top=30), what="top reasons")
    # Completeness and Policy envelopes fold to one text; their classes keep them apart.
    folded = [r for r in rows if r["reason"] == "{'<v>':{'<v>':'<v>'}}"]
    assert {r["error_class"] for r in folded} == {"completeness", "policy"}


@pytest.mark.slow  # three ingests and a merge: several seconds
def test_a_store_keeps_no_prompt_template_and_computes_it_when_read(tmp_path):
    """The Parquet files hold no template (folding every prompt would double the ingest); the
    view computes it from the stored prompt, after an ingest, a second one and a merge alike."""
    import duckdb

    import forensics
    from forensics.ingest import ingest

    prompts = ["Fill site A for week 45", "Fill site A for week 46: doc-1 doc-2", "Summarise 'x'", ""]
    old = write_jsonl(tmp_path / "a.jsonl", [session(f"a{i}", prompt=p) for i, p in enumerate(prompts)])
    store = tmp_path / "store"

    def templates():
        files = [str(f) for f in (store / "sessions").rglob("*.parquet")]
        stored = {n for (n,) in duckdb.connect().execute("select name from parquet_schema(?)", [files]).fetchall()}
        assert "prompt" in stored and "prompt_template" not in stored
        with forensics.connect(store=store) as st:
            return sorted(st.execute("select session_id, prompt_template from sessions").rows)

    expected = lambda ids: sorted((f"{k}{i}", ref.prompt_template(p)) for k in ids for i, p in enumerate(prompts))  # noqa: E731
    ingest(store, sessions=[str(old)])
    assert templates() == expected("a")
    new = write_jsonl(tmp_path / "b.jsonl", [session(f"b{i}", prompt=p) for i, p in enumerate(prompts)])
    ingest(store, sessions=[str(old), str(new)])
    assert templates() == expected("ab")
    ingest(store, compact=True)
    assert templates() == expected("ab")


def test_the_report_shows_what_retries_cost_and_reasons_by_class(tmp_path):
    from forensics.report.weekly import build_report, render_report
    from forensics.timewindow import resolve_week

    rows = [
        session("r-first", model="m-r", attempts=["accepted"], duration_ms=100),
        session("r-retried", model="m-r", attempts=["no_json", "accepted"], duration_ms=300),
        session("r-exhausted", model="m-r", verdict="max_iter_exhausted", duration_ms=900),
        session("r-infra", model="m-r", verdict="infra_error", duration_ms=5000),
        session("<b>x</b>", model="<i>m</i>", verdict="max_iter_exhausted"),
    ]
    path = write_jsonl(tmp_path / "sessions.jsonl", rows)
    with Store(resolve(str(path), env={})) as st:
        data = build_report(st, resolve_week("2026-W46"))
    r = next(x for x in data["retry_cost"] if x["model"] == "m-r")
    assert (r["attempts_per_accepted"], r["ms_per_accepted"], r["recovery_rate"]) == (3.5, 3150, 0.5)
    md, html = render_report(data, "markdown"), render_report(data, "html")
    assert "| `m-r` | 4 | 2 | 2.00 | 3.50 | 3,150 ms | 66.7% of 3 | 50.0% (9%–91%, n=2) |" in md
    assert "What retries cost" in html and "<i>m</i>" not in html and "&lt;i&gt;m&lt;/i&gt;" in html
    classes = [(x["model"], x["error_class"]) for x in data["rejections"]]
    assert classes == sorted(classes) and ("m-r", "no_json") in classes and ("m-r", "roster") in classes
