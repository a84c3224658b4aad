"""The store: each byte parsed once, logs followed through rotation, the answer equal to a cold read."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from datetime import UTC, datetime, timedelta

import pytest

import forensics
from forensics.errors import ForensicsError
from forensics.store.ingest import ingest

from .conftest import replay, session, write_jsonl


def rows(n, start=0, **kw):
    return [
        session(f"s-{i}", ts=f"2026-11-{10 + i % 5:02d}T10:{i % 60:02d}:00Z", grounded=i % 7 != 3, **kw)
        for i in range(start, start + n)
    ]


def append(path, items, raw: bytes = b""):
    with open(path, "ab") as fh:
        for r in items:
            fh.write((json.dumps(r) + "\n").encode() if isinstance(r, dict) else r)
        fh.write(raw)


def answers(store):
    """Every named query that needs no parameter, as sorted rows."""
    out = {}
    for name, q in store.catalog.queries.items():
        if any(p.required for p in q.params.values()):
            continue
        res = store.query(name, {})
        out[name] = sorted(map(repr, res.rows))
    return out


def same_as_cold(store_dir, sessions, replay_runs=None):
    with (
        forensics.connect(store=store_dir) as a,
        forensics.connect(
            sessions=[str(p) for p in sessions], replay_runs=[str(p) for p in replay_runs or []] or None
        ) as b,
    ):
        b.check()
        got, want = answers(a), answers(b)
        assert want["verdict_breakdown"], "the comparison must be over rows"
        assert got == want
        n = a.execute("select count(*), count(distinct session_id) from sessions").rows[0]
        assert n == b.execute("select count(*), count(distinct session_id) from sessions").rows[0]
        return n


@pytest.mark.slow
def test_store_plus_live_tail_equals_a_cold_read_at_every_step(tmp_path):
    log, rlog, st = tmp_path / "sessions.jsonl", tmp_path / "replay_runs.jsonl", tmp_path / "store"
    write_jsonl(log, rows(40))
    write_jsonl(rlog, [replay(f"s-{i}", i % 4) for i in range(0, 40, 2)])
    first = ingest(st, [str(log)], [str(rlog)])
    assert first.rows == {"sessions": 40, "replay_runs": 20}
    assert same_as_cold(st, [log], [rlog]) == (40, 40)
    # New rows, a blank line, a bad line and a torn tail, not ingested yet: read live.
    append(log, rows(30, 40) + [b"\n", b"{not json\n"], raw=b'{"schema": "session.iterate.v1", "sess')
    assert same_as_cold(st, [log], [rlog]) == (70, 70)
    second = ingest(st)  # the store remembers its sources
    assert second.rows["sessions"] == 30 and second.unreadable == 1
    assert same_as_cold(st, [log], [rlog]) == (70, 70)
    # The torn line completed by the next write is read once, at its physical line.
    append(
        log,
        [],
        raw=b'ion_id": "late", "final_verdict": "accepted", "grounded_in_roster": false, '
        b'"kind": "fill", "timestamp": "2026-11-12T00:00:00Z"}\n',
    )
    third = ingest(st)
    assert third.rows["sessions"] == 1
    with forensics.connect(store=st) as s:
        assert s.execute("select line from sessions where session_id = 'late'").rows == [(73,)]
        assert s.scan.unreadable_lines == 1
    assert same_as_cold(st, [log], [rlog]) == (71, 71)
    assert ingest(st).bytes == 0


@pytest.mark.default_keeps(1)
def test_rotation_by_rename_finishes_the_old_file_and_never_rereads_it(tmp_path):
    log, st = tmp_path / "sessions.jsonl", tmp_path / "store"
    write_jsonl(log, rows(20))
    ingest(st, [str(log)])
    append(log, rows(5, 20))  # written after the ingest, before the rotation
    os.rename(log, tmp_path / "sessions.jsonl.1")  # logrotate `create`
    write_jsonl(log, rows(7, 100))
    report = ingest(st)
    actions = {os.path.basename(f.path): (f.action, f.rows) for f in report.files}
    assert actions["sessions.jsonl.1"] == ("renamed", 5)
    assert actions["sessions.jsonl"] == ("new", 7)
    assert same_as_cold(st, [tmp_path / "sessions.jsonl.1", log]) == (32, 32)
    # Compressed later (delaycompress): the copy is known, nothing is read again.
    with open(tmp_path / "sessions.jsonl.1", "rb") as src, gzip.open(tmp_path / "sessions.jsonl.2.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(tmp_path / "sessions.jsonl.1")
    again = ingest(st)
    assert again.rows["sessions"] == 0
    assert same_as_cold(st, [tmp_path / "sessions.jsonl.2.gz", log]) == (32, 32)
    with forensics.connect(store=st) as s:  # rows are named by the file's current name
        names = {r[0] for r in s.execute("select distinct source_file from sessions").rows}
        assert names == {str(tmp_path / "sessions.jsonl.2.gz"), str(log)}


def test_copytruncate_and_a_compressed_copy_with_a_remainder(tmp_path):
    log, st = tmp_path / "sessions.jsonl", tmp_path / "store"
    write_jsonl(log, rows(10))
    ingest(st, [str(log)])
    append(log, rows(4, 10))
    # copytruncate + compress: the copy goes straight to .1.gz, the original is emptied.
    with open(log, "rb") as src, gzip.open(tmp_path / "sessions.jsonl.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    with open(log, "r+b") as fh:
        fh.truncate(0)
    append(log, rows(3, 50))
    report = ingest(st)
    got = {os.path.basename(f.path): (f.action, f.rows) for f in report.files if f.rows}
    assert got == {"sessions.jsonl.1.gz": ("compressed_copy", 4), "sessions.jsonl": ("truncated", 3)}
    assert same_as_cold(st, [tmp_path / "sessions.jsonl.1.gz", log]) == (17, 17)


def test_a_gzip_still_being_written_is_named_and_retried(tmp_path):
    d, st = tmp_path / "logs", tmp_path / "store"
    d.mkdir()
    full = gzip.compress(b"".join((json.dumps(r) + "\n").encode() for r in rows(200)))
    (d / "sessions.jsonl-20261130.gz").write_bytes(full[: len(full) // 2])
    write_jsonl(d / "sessions.jsonl", rows(3, 500))
    report = ingest(st, [str(d)])
    retried = [f for f in report.files if f.action == "retry"]
    assert [os.path.basename(f.path) for f in retried] == ["sessions.jsonl-20261130.gz"]
    assert report.rows["sessions"] == 3 and report.warnings
    (d / "sessions.jsonl-20261130.gz").write_bytes(full)
    assert ingest(st).rows["sessions"] == 200
    assert same_as_cold(st, [d]) == (203, 203)


def test_truncated_and_rewritten_files_are_new_files(tmp_path):
    log, st = tmp_path / "sessions.jsonl", tmp_path / "store"
    write_jsonl(log, rows(10))
    ingest(st, [str(log)])
    write_jsonl(log, rows(2, 300))  # rewritten in place, shorter
    report = ingest(st)
    assert [(f.action, f.rows) for f in report.files] == [("truncated", 2)]
    with forensics.connect(store=st) as s:
        assert s.execute("select count(*) from sessions").rows == [(12,)]


def test_an_ingest_killed_before_its_commit_loses_and_duplicates_nothing(tmp_path, monkeypatch):
    import forensics.store.ingest as ing

    log, st = tmp_path / "sessions.jsonl", tmp_path / "store"
    write_jsonl(log, rows(10))
    ingest(st, [str(log)])
    append(log, rows(10, 10))

    def killed(*a, **k):
        raise KeyboardInterrupt  # as far as the store can tell, the process died here

    monkeypatch.setattr(ing, "commit", killed)
    with pytest.raises(KeyboardInterrupt):
        ingest(st)
    monkeypatch.undo()
    with forensics.connect(store=st) as s:  # the committed state, plus the tail
        assert s.execute("select count(*), count(distinct session_id) from sessions").rows == [(20, 20)]
    assert ingest(st).rows["sessions"] == 10
    assert same_as_cold(st, [log]) == (20, 20)
    parquet = list((st / "sessions").rglob("*.parquet"))
    listed = {f["path"] for f in json.loads((st / "manifest.json").read_text())["files"]}
    assert {p.relative_to(st).as_posix() for p in parquet} == {p for p in listed if p.startswith("sessions/")}


def test_the_store_is_plain_parquet_partitioned_by_utc_day(tmp_path):
    import duckdb

    log, st = tmp_path / "sessions.jsonl", tmp_path / "store"
    write_jsonl(log, [session("east", ts="2026-11-10T23:30:00-05:00"), session("bad-time", ts="yesterday")])
    ingest(st, [str(log)])
    got = duckdb.sql(
        f"select session_id, day, line, fingerprint is not null from read_parquet('{st}/sessions/*/*.parquet', "
        "hive_partitioning = true) order by line"
    ).fetchall()
    assert got == [("east", "2026-11-11", 1, True), ("bad-time", "unknown", 2, True)]


def test_one_ingest_at_a_time(tmp_path):
    from forensics.store.ingest import store_lock

    log, st = tmp_path / "sessions.jsonl", tmp_path / "store"
    write_jsonl(log, rows(3))
    ingest(st, [str(log)])
    held = store_lock(st, 1)
    try:
        with pytest.raises(ForensicsError, match="another ingest"):
            ingest(st, lock_wait=0)
    finally:
        held.release()


def test_a_folder_that_is_not_a_store_is_refused(tmp_path, cli):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    code, out, err = cli("run", "first_shot_success_rate", "--store", tmp_path / "junk")
    assert code == 1 and "not a forensics store" in err
    code, out, err = cli("ingest", "--store", tmp_path / "junk", "-s", tmp_path / "junk" / "notes.txt")
    assert code == 1 and "no manifest.json" in err
    assert (tmp_path / "junk" / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_alarm_on_a_store_sees_late_rows_and_counts_new_unreadable_lines(tmp_path, cli):
    now = datetime.now(UTC)

    def stamp(m):
        return (now - timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ")

    log, st = tmp_path / "sessions.jsonl", tmp_path / "store"
    write_jsonl(log, [session("old-bad-line", ts=stamp(2)), b"{broken"])
    code, out, err = cli("alarm", "--store", st, "-s", log, "--since", "15m", "--max-unreadable", "0")
    assert code == 3 and "1 new unreadable" in (out + err)
    code, out, err = cli("alarm", "--store", st, "--since", "15m")
    assert code == 0, out + err  # the bad line was counted once, when it arrived
    # A producer whose clock is 40 minutes slow writes an ungrounded accepted row now.
    append(log, [session("slow-clock", ts=stamp(40), grounded=False)])
    code, out, err = cli("alarm", "--store", st, "--since", "15m")
    assert code == 1 and "slow-clock" in out
    code, out, err = cli("alarm", "--store", st, "--since", "15m")
    # said once; still firing (exit 1) though its row is older than the window now
    assert (code, out) == (1, ""), out + err
    # A day-old row written now (a replayed backlog): its day's file is read for it alone.
    append(log, [session("day-late", ts=stamp(60 * 27), grounded=False)])
    code, out, err = cli("alarm", "--store", st, "--since", "15m")
    assert code == 1 and "day-late" in out and "slow-clock" not in out
    assert cli("ack", "--all", "--store", st)[0] == 0
    code, out, err = cli("alarm", "--store", st, "--since", "15m", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["checked"]["rows"] >= 1, out
    assert sorted((v["session_id"], v["state"]) for v in data["violations"]) == [
        ("day-late", "acknowledged"),
        ("slow-clock", "acknowledged"),
    ]


def test_a_first_ingest_killed_before_its_commit_is_redone(tmp_path, monkeypatch):
    import forensics.store.ingest as ing

    log, st = tmp_path / "sessions.jsonl", tmp_path / "store"
    write_jsonl(log, rows(12))

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ing, "commit", killed)
    with pytest.raises(KeyboardInterrupt):
        ingest(st, [str(log)])
    monkeypatch.undo()
    assert list((st / "sessions").rglob("*.parquet"))  # what the killed ingest left
    assert ingest(st, [str(log)]).rows["sessions"] == 12
    assert same_as_cold(st, [log]) == (12, 12)


def test_doctor_names_a_source_not_ingested_and_one_every_ingest_skips(tmp_path, cli):
    from forensics.doctor.store import ingest_health

    d, st = tmp_path / "logs", tmp_path / "store"
    d.mkdir()
    write_jsonl(d / "sessions.jsonl", rows(5))
    full = gzip.compress(b"".join((json.dumps(r) + "\n").encode() for r in rows(50, 100)))
    (d / "sessions.jsonl-20261130.gz").write_bytes(full[: len(full) // 2])  # never completes
    ingest(st, [str(d)])
    append(d / "sessions.jsonl", rows(2, 5))  # changed, not ingested yet
    later = datetime.now(UTC) + timedelta(hours=1)
    with forensics.connect(store=st) as s:
        assert ingest_health(s.lake, now=datetime.now(UTC))["healthy"]  # within the grace
        h = ingest_health(s.lake, grace=timedelta(minutes=15), now=later)
    assert [os.path.basename(e["file"]) for e in h["not_ingested"]] == ["sessions.jsonl"]
    assert [os.path.basename(e["file"]) for e in h["stuck"]] == ["sessions.jsonl-20261130.gz"]
    assert h["stuck"][0]["age_s"] >= 3600 and not h["healthy"]
    ingest(st)  # the newer file is ingested, the broken one is skipped again: still stuck
    with forensics.connect(store=st) as s:
        h = ingest_health(s.lake, grace=timedelta(minutes=15), now=later)
    assert not h["not_ingested"] and len(h["stuck"]) == 1
    code, out, _ = cli("doctor", "--store", st, "--grace", "0s")
    assert code == 2
    code, out, _ = cli("doctor", "--store", st, "--format", "json")
    assert code == 1 and json.loads(out)["ingest"]["grace_s"] == 600


def test_a_large_file_read_in_pieces_is_named_and_numbered_as_one(tmp_path, monkeypatch):
    import forensics.store.tails as tails

    monkeypatch.setattr(tails, "PIECE_BYTES", 2000)  # a handful of rows a piece
    log, st = tmp_path / "sessions.jsonl", tmp_path / "store"
    items = rows(30)
    items[7:7] = [b"\n", b"{not json\n"]
    items[20:20] = [b"   \n", '{"schema": "replay.run.v1", "session_id": "foreign"}']
    write_jsonl(log, items)
    report = ingest(st, [str(log)])
    assert [(f.path, f.rows, f.unreadable) for f in report.files] == [(str(log), 30, 2)]
    assert same_as_cold(st, [log]) == (30, 30)
    with forensics.connect(store=st) as s, forensics.connect(sessions=[str(log)]) as cold:
        cold.check()
        q = "select session_id, source_file, line from sessions order by line"
        assert s.execute(q).rows == cold.execute(q).rows
        assert [(ln, c) for _, ln, c in s.scan.files[0].bad_lines] == [
            (ln, c) for _, ln, c in cold.scan.files[0].bad_lines
        ]
    append(log, rows(3, 30))
    assert ingest(st).rows["sessions"] == 3
    assert same_as_cold(st, [log]) == (33, 33)


def test_blank_lines_alone_are_numbered_as_physical_lines(tmp_path, monkeypatch):
    """No line is refused, yet DuckDB numbers fewer rows than lines: the ingest checks, and places each row."""
    import forensics.store.tails as tails

    monkeypatch.setattr(tails, "PIECE_BYTES", 2000)
    log, st = tmp_path / "sessions.jsonl", tmp_path / "store"
    items = rows(30)
    items[5:5] = [b"\n"]
    items[22:22] = [b"   \n", b"\n"]
    write_jsonl(log, items)
    report = ingest(st, [str(log)])
    assert [(f.path, f.rows, f.unreadable) for f in report.files] == [(str(log), 30, 0)]
    with forensics.connect(store=st) as s:
        lines = dict(s.execute("select session_id, line from sessions").rows)
    assert lines["s-4"] == 5 and lines["s-5"] == 7 and lines["s-29"] == 33


def test_a_line_torn_while_a_file_is_read_in_place_is_read_again_from_a_copy(tmp_path, monkeypatch):
    """DuckDB reads a whole file in place to its end: a writer mid-line there must not fail the ingest."""
    import duckdb

    import forensics.store.batch as ingest_module

    log = write_jsonl(tmp_path / "s.jsonl", [session(f"s-{i}") for i in range(5)])
    real = ingest_module._write_streams
    seen = []

    def torn_on_first_read(root, lake, batch, tmp, written):
        seen.append([t.direct for t in lake.tails])
        if len(seen) == 1:
            with open(log, "ab") as fh:  # a writer's line, half written when DuckDB got there
                fh.write(b'{"schema": "session.iterate.v1", "session_id": "tor')
            raise duckdb.InvalidInputException("Malformed JSON: unexpected end of data")
        return real(root, lake, batch, tmp, written)

    monkeypatch.setattr(ingest_module, "_write_streams", torn_on_first_read)
    report = ingest(tmp_path / "st", sessions=str(log))
    assert seen == [[True], [False]] and report.rows["sessions"] == 5
    with forensics.connect(store=tmp_path / "st") as st:
        assert st.execute("select count(*) from sessions").rows == [(5,)]
    # a refusal with no file changed is not hidden
    monkeypatch.setattr(
        ingest_module, "_write_streams", lambda *a: (_ for _ in ()).throw(duckdb.InvalidInputException("broken"))
    )
    with open(log, "ab") as fh:
        fh.write(b'n"}\n')
    with pytest.raises(duckdb.InvalidInputException):
        ingest(tmp_path / "st")
