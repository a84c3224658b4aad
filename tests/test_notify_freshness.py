"""A Spark alarm's news says how fresh its answer is wherever it goes: the webhook's document and
text, a command's message, Alertmanager's annotations; a DuckDB alarm's says nothing of it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from forensics.notify import alertmanager
from forensics.notify.deliver import messages, planted
from forensics.notify.settings import Settings, receiver

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
FRESH = {"batch": 28, "at": "2026-11-20T11:56:00Z", "age_s": 240, "pending_rows": 12}
# (as `spark.engine.freshness_line` words it: tests/test_spark.py holds that; this file needs no Spark)
LINE = "note: Spark answers as of ingest batch 28, 4 min ago: 12 rows not yet ingested (forensics ingest, or --ingest)"


def _outcome(spark: bool):
    outcome = planted("critical", NOW)
    if spark:
        outcome.freshness = dict(FRESH)
        outcome.paging.freshness = LINE
    return outcome


@pytest.mark.parametrize("spark", [True, False], ids=["spark", "duckdb"])
def test_every_receiver_carries_the_spark_freshness_note(spark):
    line = LINE
    webhook = receiver("https://hooks.example.com/x")
    command = receiver("exec:cat")
    am = receiver("alertmanager+http://127.0.0.1:9093")
    settings = Settings(receivers=[webhook, command, am])

    (hook,) = messages(webhook, _outcome(spark), settings, now=NOW, max_rows=20)
    doc = hook["document"]
    assert doc["freshness"] == (FRESH if spark else {})
    assert (line in doc["text"]) is spark
    assert doc["text"].rstrip().endswith(line) is spark

    (msg,) = messages(command, _outcome(spark), settings, now=NOW, max_rows=20)
    assert (line in msg["text"]) is spark

    open_: dict = {}
    alertmanager.update(open_, _outcome(spark), am, NOW)
    (alert,) = alertmanager.payload(open_, am, NOW)
    assert alert["annotations"].get("freshness") == (line if spark else None)
