"""Output formats on a golden example; `pytest --update-golden` rewrites the golden files."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from forensics.errors import ForensicsError
from forensics.output import FORMATS, render

COLUMNS = ["model", "sessions", "rate", "when", "day", "detail", "note"]
ROWS = [
    (
        "qwen3.5:latest",
        8,
        0.75,
        datetime(2026, 11, 15, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
        date(2026, 11, 16),
        '{"fills":[{"candidate_id":"W-1"}]}',
        'has, comma "and" quote',
    ),
    ("<script>alert(1)</script>", 0, None, None, None, None, "1e5"),
    ("llama3.1:8b", 12345, Decimal("0.5"), datetime(2026, 1, 1, tzinfo=UTC), date(2026, 1, 1), "[]", "naïve ⭐"),
]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_formats_golden(fmt, golden):
    golden(f"output.{fmt}", render(fmt, COLUMNS, ROWS, json_columns=["detail"]))


def test_json_types():
    data = json.loads(render("json", COLUMNS, ROWS, json_columns=["detail"]))
    assert data[0]["sessions"] == 8 and data[0]["rate"] == 0.75
    assert data[0]["when"] == "2026-11-16T04:30:00Z"  # ISO 8601 in UTC
    assert data[0]["detail"] == {"fills": [{"candidate_id": "W-1"}]}
    assert data[1]["rate"] is None and data[2]["rate"] == 0.5
    lines = render("jsonl", COLUMNS, ROWS).splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["note"] == "naïve ⭐"


def test_unknown_format_lists_choices():
    with pytest.raises(ForensicsError, match="try one of: table, markdown, csv, json, jsonl"):
        render("xml", COLUMNS, ROWS)


def test_empty_table_says_so():
    assert render("table", COLUMNS, []) == "(no rows)\n"
    assert json.loads(render("json", COLUMNS, [])) == []
