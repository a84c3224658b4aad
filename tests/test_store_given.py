"""The store holds what it was given (issue 23, class 6): named files whatever their rotation, sources
in any order, a named file it does not hold said, no typo re-pointing or making a store, a file
known by what was read of it (not by its first 4 KiB and its inode), no decision on the clock, and
its answer equal to a cold read of the same files for every built-in query.

Run through the command line as cron runs it, and through the Python API where it is natural.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import forensics
from forensics.store.ingest import ingest

from .conftest import mostly_slow, session, write_jsonl

ROWS = "select session_id, source_file, line from sessions order by all"


def rows(n, start=0, tag="s", **kw):
    """n session rows of varied lengths (so that an offset of one file lands mid-line in another)."""
    return [
        session(f"{tag}-{i}", ts=f"2026-11-{10 + i % 5:02d}T10:{i % 60:02d}:00Z", prompt="p" * (i % 13), **kw)
        for i in range(start, start + n)
    ]


def lines(items) -> bytes:
    return b"".join((json.dumps(r) + "\n").encode() for r in items)


def append(path, items):
    with open(path, "ab") as fh:
        fh.write(lines(items))


def stored(st, sql=ROWS, **sources):
    with forensics.connect(store=str(st), **sources) as s:
        return s.execute(sql).rows


def cold(files, sql=ROWS):
    with forensics.connect(sessions=[str(f) for f in files]) as s:
        s.check()
        return s.execute(sql).rows


def manifest(st) -> dict:
    return json.loads((Path(st) / "manifest.json").read_text())


def rewrite_manifest(st, change) -> None:
    m = manifest(st)
    change(m)
    (Path(st) / "manifest.json").write_text(json.dumps(m))


@pytest.fixture
def rotated(tmp_path):
    """A live log with a renamed and a compressed generation beside it, all older than any store."""
    d = tmp_path / "logs"
    write_jsonl(d / "sessions.jsonl", rows(6, 20))
    write_jsonl(d / "sessions.jsonl.1", rows(7, 10))
    (d / "sessions.jsonl.2.gz").write_bytes(gzip.compress(lines(rows(8, 0))))
    return d


# --- a file named is ingested, whenever it was rotated; the order of -s never matters -------------------------


def test_an_explicit_rotated_gz_is_ingested_whenever_it_was_rotated(cli, rotated, tmp_path):
    live, gz, st = rotated / "sessions.jsonl", rotated / "sessions.jsonl.2.gz", tmp_path / "store"
    assert cli("ingest", "--store", st, "-s", live)[0] == 0
    assert len(stored(st)) == 6  # the generations from before the store are history: not read
    code, out, err = cli("ingest", "--store", st, "-s", live, "-s", gz)
    assert code == 0 and "sessions.jsonl.2.gz: 8 rows" in out, out + err
    assert stored(st) == cold([live, gz])
    # Named first, before the store holds anything of its live file, it is read as well.
    st2 = tmp_path / "store2"
    ingest(st2, [str(gz), str(live)])
    assert stored(st2) == cold([live, gz])


@pytest.mark.default_keeps(2)
@pytest.mark.parametrize(
    "order",
    [["file", "folder"], ["folder", "file"], ["gz", "file"], ["file", "gz"]],
    ids=lambda o: "-s " + " -s ".join(o),
)
def test_the_order_of_the_sources_never_changes_what_is_ingested(cli, rotated, tmp_path, order):
    spec = {"file": rotated / "sessions.jsonl", "folder": rotated, "gz": rotated / "sessions.jsonl.2.gz"}
    st, ref = tmp_path / "store", tmp_path / "reference"
    args = [a for name in order for a in ("-s", spec[name])]
    assert cli("ingest", "--store", st, *args)[0] == 0
    assert cli("ingest", "--store", ref, *reversed_pairs(args))[0] == 0
    assert stored(st) == stored(ref)
    named = [rotated / "sessions.jsonl", rotated / "sessions.jsonl.2.gz"]
    if "folder" in order:
        named.append(rotated / "sessions.jsonl.1")
    assert stored(st) == cold(named)


def reversed_pairs(args):
    pairs = [args[i : i + 2] for i in range(0, len(args), 2)]
    return [a for pair in reversed(pairs) for a in pair]


# --- a named file the store does not hold is said ------------------------------------------------------------


@pytest.mark.slow
def test_a_named_file_the_store_does_not_hold_is_said_on_stderr_and_by_doctor(cli, rotated, tmp_path):
    live, gz, st = rotated / "sessions.jsonl", rotated / "sessions.jsonl.2.gz", tmp_path / "store"
    ingest(st, [str(live)])
    code, out, err = cli("run", "first_shot_success_rate", "--store", st, "-s", live, "-s", gz, "-f", "json")
    assert code == 0 and "sessions.jsonl.2.gz (sessions) is not in the store" in err, err
    assert json.loads(out) == json.loads(cli("run", "first_shot_success_rate", "-s", live, "-s", gz, "-f", "json")[1])
    code, out, err = cli("doctor", "--store", st, "-s", live, "-s", gz)
    assert code == 1 and "NOT HELD" in out and "sessions.jsonl.2.gz" in out, out
    code, out, _ = cli("doctor", "--store", st, "-s", live, "-s", gz, "--format", "json")
    assert [Path(e["file"]).name for e in json.loads(out)["ingest"]["not_held"]] == ["sessions.jsonl.2.gz"]
    # Its own sources and nothing more: nothing to say, healthy as to the store.
    code, out, err = cli("doctor", "--store", st, "--format", "json")
    assert json.loads(out)["ingest"]["not_held"] == [] and "not in the store" not in err
    # A named file that cannot be read now is said by the ingest, kept pending, and by doctor.
    cut = rotated / "sessions.jsonl.3.gz"
    whole = gzip.compress(lines(rows(300, 100)))
    cut.write_bytes(whole[: len(whole) // 2])  # a gzip still being written
    code, out, err = cli("ingest", "--store", st, "-s", live, "-s", cut)
    assert code == 0 and "sessions.jsonl.3.gz: not read now, retried next run" in err, err
    assert [Path(p["path"]).name for p in manifest(st)["pending"]] == ["sessions.jsonl.3.gz"]
    code, out, err = cli("doctor", "--store", st)
    assert code == 1 and "sessions.jsonl.3.gz" in out + err


# --- a file is known by what was read of it ---------------------------------------------------------------------


def test_a_new_file_that_begins_like_a_deleted_one_is_read_from_its_first_byte(cli, tmp_path):
    log, st = tmp_path / "logs" / "sessions.jsonl", tmp_path / "store"
    common = rows(30, 0, tag="same")  # far more than 4,096 bytes in common
    assert len(lines(common)) > 3 * 4096
    write_jsonl(log, common + rows(10, 30, tag="old"))
    assert cli("ingest", "--store", st, "-s", log)[0] == 0
    log.unlink()
    write_jsonl(log, common + rows(25, 100, tag="new"))  # other rows past the old offset: mid-line there
    code, out, err = cli("ingest", "--store", st)
    assert code == 0 and "unreadable" in out and ", 0 unreadable lines" in out, out + err
    mine = "select session_id, line from sessions where source_file = $f order by all"
    with forensics.connect(store=str(st)) as s:
        got = s.execute(mine, {"f": str(log)}).rows
    with forensics.connect(sessions=[str(log)]) as s:
        assert got == s.execute(mine, {"f": str(log)}).rows
    assert len(got) == 55  # its first rows are not lost, none is read from the middle of a line


def test_a_file_rewritten_in_place_with_the_same_size_and_mtime_is_read(cli, tmp_path):
    log, st = tmp_path / "logs" / "sessions.jsonl", tmp_path / "store"
    write_jsonl(log, rows(20, tag="a"))
    assert cli("ingest", "--store", st, "-s", log)[0] == 0
    before = os.stat(log)
    # The same inode, size and mtime, other rows: what a reused inode looks like, made sure of.
    data = log.read_bytes()
    with open(log, "r+b") as fh:
        fh.write(data.replace(b'"a-', b'"b-'))
    os.utime(log, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(log)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    # The reading commands see it first (the store plus the tail), then the ingest reads it.
    assert stored(st, "select count(*) from sessions where session_id like 'b-%'") == [(20,)]
    code, out, _ = cli("ingest", "--store", st)
    assert code == 0 and "rewritten" in out and "20 rows" in out, out
    assert stored(st, "select count(*) from sessions where session_id like 'b-%'") == [(20,)]
    assert cli("ingest", "--store", st)[1].endswith("from 0 of 1 file\n")  # then unchanged, and not re-read


def test_a_file_that_only_grew_is_unchanged_then_grown_and_never_re_read(tmp_path):
    log, st = tmp_path / "sessions.jsonl", tmp_path / "store"
    write_jsonl(log, rows(40))
    ingest(st, [str(log)])
    assert ingest(st).bytes == 0
    append(log, rows(3, 40))
    report = ingest(st)
    assert [f.action for f in report.files] == ["grown"] and report.rows["sessions"] == 3
    assert stored(st) == cold([log])


def test_a_compressed_file_that_begins_like_a_known_one_but_differs_is_its_own(tmp_path):
    d, st = tmp_path / "logs", tmp_path / "store"
    common = rows(30, 0, tag="same")
    write_jsonl(d / "sessions.jsonl", common + rows(5, 30, tag="live"))
    ingest(st, [str(d)])
    # A compressed file with the same first bytes but other rows at the live file's offset.
    (d / "sessions.jsonl-20261201.gz").write_bytes(gzip.compress(lines(common + rows(9, 50, tag="other"))))
    ingest(st)
    assert stored(st) == cold([d / "sessions.jsonl", d / "sessions.jsonl-20261201.gz"])


# --- nothing depends on the clock -------------------------------------------------------------------------------


def _rotate(d: Path, new_rows) -> None:
    """logrotate's create with delaycompress: .1 compressed into .2.gz, the live log renamed .1, a new one."""
    one = d / "sessions.jsonl.1"
    if one.exists():
        (d / "sessions.jsonl.2.gz").write_bytes(gzip.compress(one.read_bytes()))
        one.unlink()
    os.rename(d / "sessions.jsonl", one)
    write_jsonl(d / "sessions.jsonl", new_rows)


@pytest.mark.parametrize("clock", ["ahead", "behind"])
def test_a_generation_rotated_away_between_two_runs_is_read_whatever_the_clock(cli, tmp_path, clock):
    d, st = tmp_path / "logs", tmp_path / "store"
    write_jsonl(d / "sessions.jsonl.3", rows(2, 900, tag="history"))  # from before the store: not read
    write_jsonl(d / "sessions.jsonl", rows(4, 0, tag="g1"))
    assert cli("ingest", "--store", st, "-s", d / "sessions.jsonl")[0] == 0
    # The store was made while the clock was a year ahead (or behind): its own time says nothing.
    made = datetime.now(UTC) + timedelta(days=365 if clock == "ahead" else -365)
    rewrite_manifest(st, lambda m: m.update(created_at=made.strftime("%Y-%m-%dT%H:%M:%SZ")))
    append(d / "sessions.jsonl", rows(2, 4, tag="g1"))
    _rotate(d, rows(3, 0, tag="g2"))
    _rotate(d, rows(1, 0, tag="g3"))  # g2 made and rotated away between two runs
    assert cli("ingest", "--store", st)[0] == 0
    got = stored(st, "select session_id from sessions order by all")
    assert {r[0].split("-")[0] for r in got} == {"g1", "g2", "g3"}
    assert len(got) == 10
    # Nor are the history's later names read: it was history when the store began following the log.
    os.rename(d / "sessions.jsonl.3", d / "sessions.jsonl.4")
    assert ingest(st).rows["sessions"] == 0


def test_a_store_made_before_history_was_kept_still_reads_a_generation_rotated_away(tmp_path):
    d, st = tmp_path / "logs", tmp_path / "store"
    write_jsonl(d / "sessions.jsonl", rows(4, 0, tag="g1"))
    ingest(st, [str(d / "sessions.jsonl")])
    rewrite_manifest(st, lambda m: m.pop("declined"))  # what an older forensics wrote
    _rotate(d, rows(3, 0, tag="g2"))
    _rotate(d, rows(1, 0, tag="g3"))
    assert ingest(st).rows["sessions"] == 4
    assert isinstance(manifest(st)["declined"], dict)  # kept from now on


def test_doctor_ages_bytes_waiting_by_the_last_ingest_when_their_mtime_is_ahead_of_the_clock(cli, tmp_path):
    from forensics.doctor.store import ingest_health

    log, st = tmp_path / "sessions.jsonl", tmp_path / "store"
    write_jsonl(log, rows(5))
    ingest(st, [str(log)])
    append(log, rows(2, 5))
    ahead = datetime.now(UTC) + timedelta(days=2)
    os.utime(log, (ahead.timestamp(), ahead.timestamp()))
    with forensics.connect(store=st) as s:
        now = datetime.now(UTC)
        assert ingest_health(s.lake, now=now, grace=timedelta(minutes=10))["healthy"]  # the ingest just ran
        h = ingest_health(s.lake, now=now + timedelta(hours=1), grace=timedelta(minutes=10))
    assert [Path(e["file"]).name for e in h["not_ingested"]] == ["sessions.jsonl"] and not h["healthy"]
    assert h["not_ingested"][0]["age_s"] >= 3600
    # Through the command line: the last ingest an hour ago, the file's time two days ahead.
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rewrite_manifest(st, lambda m: [b.update(at=hour_ago) for b in m["batches"]])
    code, out, _ = cli("doctor", "--store", st)
    assert code == 1 and "NOT INGESTED" in out and "ahead of this machine's clock" in out, out


def test_doctor_calls_a_file_every_ingest_skips_stuck_when_its_time_is_ahead_of_the_clock(tmp_path):
    from forensics.doctor.store import ingest_health

    d, st = tmp_path / "logs", tmp_path / "store"
    write_jsonl(d / "sessions.jsonl", rows(5))
    whole = gzip.compress(lines(rows(300, 100)))
    for i in range(3):  # still being written at every ingest, and never completes
        (d / "sessions.jsonl-20261130.gz").write_bytes(whole[: len(whole) // 2 + 64 * i])
        ingest(st, [str(d)])
    rewrite_manifest(st, lambda m: [p.update(since="2099-01-01T00:00:00Z") for p in m["pending"]])
    with forensics.connect(store=st) as s:
        h = ingest_health(s.lake, now=datetime.now(UTC))
    assert [Path(e["file"]).name for e in h["stuck"]] == ["sessions.jsonl-20261130.gz"]
    assert "3 ingests" in h["stuck"][0]["reason"]


# --- a reading command never re-points the store, nor makes one, on a typo --------------------------------------


def test_a_typo_in_a_one_off_alarm_does_not_switch_cron_off(cli, tmp_path):
    from .conftest import _clean, _ts

    log, st = tmp_path / "logs" / "sessions.jsonl", tmp_path / "store"
    write_jsonl(log, _clean())
    assert cli("ingest", "--store", st, "-s", log)[0] == 0
    sources = manifest(st)["sources"]
    code, out, err = cli("alarm", "--store", st, "-s", tmp_path / "logs" / "sesions.jsonl", "--since", "15m")
    assert code == 2 and "names no file now" in err and "left as it was" in err, out + err
    assert manifest(st)["sources"] == sources
    code, out, err = cli("run", "first_shot_success_rate", "--store", st, "--ingest", "-s", tmp_path / "nope")
    assert code == 2 and manifest(st)["sources"] == sources
    # cron's next run still follows the log, and sees what was written since.
    append(log, [session("BAD-1", grounded=False, ts=_ts(1))])
    code, out, err = cli("alarm", "--store", st, "--since", "15m")
    assert code == 1 and "BAD-1" in out, out + err
    # Naming the store's own source while it is rotated away for a moment is no typo.
    os.rename(log, str(log) + ".1")
    assert cli("alarm", "--store", st, "-s", log, "--since", "15m")[0] in (0, 1)
    assert manifest(st)["sources"] == sources


@pytest.mark.parametrize(
    "command",
    [
        ["alarm", "--since", "15m"],
        ["run", "first_shot_success_rate"],
        ["run", "first_shot_success_rate", "--ingest"],
        ["sql", "select 1"],
        ["doctor"],
        ["report"],
    ],
    ids=lambda c: " ".join(c),
)
def test_a_mistyped_store_for_a_reading_command_is_exit_2_and_makes_nothing(cli, tmp_path, command):
    typo = tmp_path / "var" / "lib" / "forensic"
    code, out, err = cli(*command, "--store", typo)
    assert code == 2 and str(typo) in out + err, (code, out, err)
    assert not typo.exists() and not typo.parent.exists()


def test_an_alarm_given_logs_still_makes_its_store(cli, tmp_path, logs):
    st = tmp_path / "store"
    assert cli("alarm", "--store", st, "-s", logs)[0] == 1
    assert manifest(st)["sources"]["sessions"] == [str(logs)]


# --- the store's answer equals a cold read of the same files, for every built-in query ------------------------


def _builtin_runs():
    from forensics.catalog import load_catalog

    yield from load_catalog([]).names()


@pytest.fixture(scope="module")
def grown_store(tmp_path_factory):
    """A store that followed a log through two rotations (one compressed), named a rotated file, and
    has a tail not ingested yet (a torn last line included), beside its cold-read equivalent."""
    from forensics.sample.logs import generate

    base = tmp_path_factory.mktemp("given")
    generate(base / "gen", sessions=600, seed=5)
    sess = (base / "gen" / "sessions.jsonl").read_bytes().splitlines(keepends=True)
    reps = (base / "gen" / "replay_runs.jsonl").read_bytes().splitlines(keepends=True)
    d, st = base / "logs", base / "store"
    d.mkdir()
    (d / "sessions.jsonl.5").write_bytes(b"".join(sess[:80]))  # history, named explicitly below
    day_ago = datetime.now(UTC).timestamp() - 86400
    os.utime(d / "sessions.jsonl.5", (day_ago, day_ago))  # rotated long before the store was made
    (d / "sessions.jsonl").write_bytes(b"".join(sess[80:200]))
    (d / "replay_runs.jsonl").write_bytes(b"".join(reps))
    ingest(st, [str(d / "sessions.jsonl")], [str(d / "replay_runs.jsonl")])
    with open(d / "sessions.jsonl", "ab") as fh:
        fh.write(b"".join(sess[200:260]))
    os.rename(d / "sessions.jsonl", d / "sessions.jsonl.1")
    (d / "sessions.jsonl").write_bytes(b"".join(sess[260:400]))
    ingest(st, [str(d / "sessions.jsonl"), str(d / "sessions.jsonl.5")], [str(d / "replay_runs.jsonl")])
    (d / "sessions.jsonl.2.gz").write_bytes(gzip.compress((d / "sessions.jsonl.1").read_bytes()))
    (d / "sessions.jsonl.1").unlink()
    os.rename(d / "sessions.jsonl", d / "sessions.jsonl.1")
    (d / "sessions.jsonl").write_bytes(b"".join(sess[400:]) + sess[-1][:40])  # not ingested, torn at its end
    ids = [json.loads(x)["session_id"] for x in (sess[90], sess[450])]
    yield d, st, ids
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize(
    "name", mostly_slow(_builtin_runs(), keep={"first_shot_success_rate", "session_attempts", "ungrounded_accepted"})
)
def test_the_store_answers_every_built_in_query_as_a_cold_read_of_the_same_files(cli, grown_store, name):
    d, st, ids = grown_store
    files = ["sessions.jsonl", "sessions.jsonl.1", "sessions.jsonl.2.gz", "sessions.jsonl.5"]
    cold_args = [a for f in files for a in ("-s", d / f)] + ["-r", d / "replay_runs.jsonl"]
    params = [["-p", f"session_id={i}"] for i in ids] if name in ("session_attempts", "session_replays") else [[]]
    for p in params:
        code_s, out_s, err_s = cli("run", name, "--store", st, "-f", "json", *p)
        code_c, out_c, err_c = cli("run", name, *cold_args, "-f", "json", *p)
        assert (code_s, json.loads(out_s)) == (code_c, json.loads(out_c)), (name, err_s, err_c)
    # the comparison proves something only if a query returns rows somewhere (the condition alarms
    # need a drop or a streak these clean sessions lack: tests/test_rate_alarms.py fires them)
    quiet = (
        "ungrounded_unknown_verdict",
        "three_consecutive_rejections",
        "orphans",
        "first_shot_drop",
        "failure_streak",
    )
    assert json.loads(out_s) or name in quiet


def test_a_gz_cut_short_for_good_is_read_as_a_cold_read_reads_it_and_finished_later_read_on(cli, tmp_path):
    import gzip

    from .conftest import _ts, session

    rows = [session(f"ok-{i}", ts=_ts(9)) for i in range(300)]
    rows += [session("BAD-GZ", grounded=False, ts=_ts(3))] + [session(f"late-{i}", ts=_ts(2)) for i in range(3000)]
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "sessions.jsonl").write_text("")
    whole = gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode())
    gz = logs / "sessions.jsonl.1.gz"
    gz.write_bytes(whole[: len(whole) * 2 // 3])  # a full disk while logrotate compressed
    st, named = tmp_path / "store", ("-s", logs / "sessions.jsonl", "-s", gz)

    def ids(*source) -> list[str]:
        code, out, err = cli("sql", "select session_id from sessions order by session_id", *source, "-f", "json")
        assert code == 0, err
        return [r["session_id"] for r in json.loads(out)]

    code, _, err = cli("ingest", "--store", st, *named)
    assert code == 0 and "retried next run" in err  # it may still be being written
    code, _, err = cli("ingest", "--store", st)
    assert code == 0 and "cut short for good" in err, err  # unchanged since: read as far as it goes
    cold = ids(*named)
    assert "BAD-GZ" in cold and ids("--store", st) == cold
    code, out, _ = cli("alarm", "--store", st, "--since", "1h")
    assert code == 1 and "session=BAD-GZ" in out
    gz.write_bytes(whole)  # it was only slow after all: finished, the rest is read once
    assert cli("ingest", "--store", st)[0] == 0
    assert ids("--store", st) == ids(*named) == sorted(r["session_id"] for r in rows)


def test_a_gz_that_was_still_being_written_is_read_whole_once_finished_with_nothing_said_lost(cli, tmp_path):
    import gzip

    from .conftest import _ts, session

    rows = [session(f"s-{i}", ts=_ts(5)) for i in range(2000)]
    whole = gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode())
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "sessions.jsonl").write_text("")
    gz = logs / "sessions.jsonl.1.gz"
    gz.write_bytes(whole[: len(whole) // 3])  # logrotate's gzip, still at work
    st = tmp_path / "store"
    code, _, err = cli("ingest", "--store", st, "-s", logs / "sessions.jsonl", "-s", gz)
    assert code == 0 and "retried next run" in err
    gz.write_bytes(whole)  # finished before the next run
    code, _, err = cli("ingest", "--store", st)
    assert code == 0 and "cut short" not in err, err
    code, out, _ = cli("sql", "select count(*) as n from sessions", "--store", st, "-f", "json")
    assert json.loads(out) == [{"n": 2000}]


@pytest.mark.slow  # (four loads and a fresh store for each: 3-4 s)
def test_one_connection_loads_window_after_window_with_the_answers_of_a_store_opened_for_each(grown_store):
    """The alarm's loads on one connection (its window, the condition alarms' days, a window no Parquet
    file holds, every row) each answer as the store opened afresh for that load alone: a load sets the
    files its views read and builds again only what changed, never leaving the last load's files behind."""
    _, st, _ = grown_store
    with forensics.connect(store=str(st)) as s:
        times = [
            r[0] for r in s.execute('select "timestamp" from sessions where "timestamp" is not null order by 1').rows
        ]
    loads = [
        {"since": times[len(times) // 2], "window_only": True, "after_batch": 1, "columns": {"model", "final_verdict"}},
        {"since": times[-1] + timedelta(days=400), "window_only": True, "after_batch": 2, "columns": {"model"}},
        {"since": times[0] + timedelta(days=1), "window_only": True, "replay": True},
        # (a load without replay rows after one with them: `replay_runs` reads the files again)
        {"since": times[len(times) // 2], "window_only": True, "columns": {"model"}},
    ]

    def answers(s, load):
        n = s.materialize(**load)
        got = [n] + [s.execute(f"select * from {v} order by all").rows for v in ("sessions", "replay_runs")]
        some = [r[0] for r in s.execute("select session_id from sessions order by 1 limit 3").rows]
        return got + [s.describe("_sessions_files"), s.sessions_present(["none", *some])]

    with forensics.connect(store=str(st)) as again:
        for load in loads:
            with forensics.connect(store=str(st)) as fresh:
                want = answers(fresh, load)
            assert answers(again, load) == want, load
    assert want[0] > 0 and want[2]  # (rows, and replay rows: the comparison saw some)
