"""`--engine spark` as a person runs it: it says how fresh its answer is, and leaves no `spark-warehouse/`
in the working directory. Spark starts in the installed script, as from a shell (`-m spark`), on each
Spark server in turn (a local Apache Spark, Sail through its Connect URL)."""

from __future__ import annotations

import re

import pytest

from .conftest import script_path, session, write_jsonl

pytestmark = pytest.mark.spark


def test_spark_says_how_fresh_its_answer_is_and_leaves_no_warehouse_in_the_cwd(run_script, tmp_path, spark_server):
    import subprocess

    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", [session(f"a-{i}") for i in range(6)])
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    assert run_script("ingest", "--store", store, "-s", log, cwd=work).returncode == 0
    with open(log, "a") as fh:  # written after the ingest: Spark does not see them yet
        fh.write("".join(__import__("json").dumps(session(f"late-{i}")) + "\n" for i in range(3)))
    # (a local Spark's start-up takes minutes with both cores busy: a generous deadline, not a wait)
    run = subprocess.run(
        [
            script_path(),
            "run",
            "first_shot_success_rate",
            "--engine",
            "spark",
            "--store",
            str(store),
            *spark_server.flags,
        ],
        capture_output=True,
        cwd=work,
        timeout=900,
    )
    err = run.stderr.decode()
    assert run.returncode == 0, err
    assert re.search(
        r"^note: Spark answers as of ingest batch 1, \d+ (s|min) ago: 3 rows not yet ingested", err, re.M
    ), err
    assert list(work.iterdir()) == []  # no spark-warehouse/, no metastore_db/


def test_the_alarm_on_spark_is_silent_when_clean_and_says_how_fresh_when_it_fires(run_script, tmp_path, spark_server):
    """As cron runs it: a clean run prints nothing at all (cron mails any output); a run that fires
    says, after its summary, what Spark's answer is as of."""
    import json
    import subprocess

    from .conftest import _clean, _ts

    log = write_jsonl(tmp_path / "logs" / "sessions.jsonl", _clean())
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    # (the memory made on DuckDB, whose first run says it is new: the Spark runs below are its later runs)
    assert run_script("alarm", "--store", store, "-s", log, cwd=work).returncode == 0

    def spark_alarm():
        # (a local Spark's start-up takes minutes with both cores busy: a generous deadline, not a wait)
        run = subprocess.run(
            [script_path(), "alarm", "--engine", "spark", "--store", str(store), "-s", str(log), *spark_server.flags],
            capture_output=True,
            cwd=work,
            timeout=900,
        )
        return run.returncode, run.stdout.decode(), run.stderr.decode()

    assert spark_alarm() == (0, "", "")
    with open(log, "a") as fh:
        fh.write(json.dumps(session("BAD-1", grounded=False, ts=_ts(1))) + "\n")
    code, out, err = spark_alarm()
    lines = out.splitlines()
    assert code == 1 and lines[0].startswith("ALARM: 1 new critical, 0 firing") and err == "", (out, err)
    # the new row was ingested by this run, before Spark read the store (each run's ingest is a batch)
    assert re.fullmatch(
        r"note: Spark answers as of ingest batch 3, \d+ (s|min) ago: every line the sources hold is ingested",
        lines[1],
    ), out
    assert any(x.startswith("NEW      CRITICAL ungrounded_accepted") for x in lines)
