"""The rotation harness alone (no store): logrotate really rotates, the writers really append,
and nothing is lost by the harness itself (only where logrotate's own mode loses rows)."""

from __future__ import annotations

import re

import pytest

from .rotation import (
    Logrotate,
    RotationFailed,
    Writers,
    ids_on_disk,
    keep_before_rotation,
    log_files,
    make_templates,
    needs_logrotate,
    rotated_away,
    wait_for_a_day_with_room,
)

ROTATIONS = 3

# What each mode leaves after ROTATIONS rotations, besides the live log.
EXPECTED_NAMES = {
    "create": [r"\.1", r"\.2", r"\.3"],
    "copytruncate": [r"\.1", r"\.2", r"\.3"],
    "delaycompress": [r"\.1", r"\.2\.gz", r"\.3\.gz"],
    "compress": [r"\.1\.gz", r"\.2\.gz", r"\.3\.gz"],
    "compress-dateext": [r"-\d{8}-\d{10}\.gz"] * 3,
    "compress-dateext-hms": [r"-\d{14}\.gz"] * 3,
}
# Modes where logrotate itself may lose a row written at the wrong moment: copytruncate (rows
# between the copy and the truncation; a documented caveat) and compress without delaycompress
# (a writer that had not yet reopened when gzip had read the renamed file).
LOSSY = {"copytruncate", "compress", "compress-dateext", "compress-dateext-hms"}


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    return make_templates(tmp_path_factory.mktemp("templates"), sessions=200)


@pytest.mark.default_keeps(3)
@needs_logrotate
@pytest.mark.parametrize("mode", list(EXPECTED_NAMES))
def test_logrotate_rotates_while_the_writers_append(tmp_path, templates, mode):
    logs = tmp_path / "logs"
    logs.mkdir()
    s, r = logs / "sessions.jsonl", logs / "replay_runs.jsonl"
    rot = Logrotate([s, r], mode, tmp_path / "lr")
    with Writers(s, r, templates=templates, workdir=tmp_path / "w", n=2) as writers:
        # Rows from every writer in each generation before it is rotated (the last before they
        # stop): 4 x 50 rows, at least 200 sessions and 66 replay runs a writer, so the ledger's
        # bounds below hold however slowly the writers run.
        for _ in range(ROTATIONS):
            writers.appended(s, r, rows=50)
            rot.rotate()
        writers.appended(s, r, rows=50)
        ledger = writers.stop()
    assert rot.rotations == ROTATIONS
    for name in ("sessions.jsonl", "replay_runs.jsonl"):
        files = log_files(logs, name)
        rotated = sorted(p.name[len(name) :] for p in files if p.name != name)
        assert len(rotated) == ROTATIONS, (mode, [p.name for p in files])
        for suffix, pattern in zip(rotated, sorted(EXPECTED_NAMES[mode])):
            assert re.fullmatch(pattern, suffix), (mode, suffix, pattern)
        # every generation got rows: the writers appended across every rotation
        assert all(len(ids_on_disk([p])) > 0 for p in files), (mode, [p.name for p in files])

    # Rows in logrotate's .backup (a writer re-created the log before logrotate did) are on disk too.
    on_disk = ids_on_disk(log_files(logs, "sessions.jsonl", backups=True))
    replay_on_disk = ids_on_disk(log_files(logs, "replay_runs.jsonl", backups=True))
    assert ledger.sessions > 300 and ledger.replay_runs > 100
    assert max(on_disk.values()) == 1  # the harness never duplicates
    if mode in LOSSY:
        # logrotate may lose a row here (and copytruncate may copy a half-written one), never invent one
        assert set(on_disk) - {("unreadable",)} <= set(ledger.session_ids)
        assert set(replay_on_disk) - {("unreadable",)} <= set(ledger.replay_ids)
    else:
        assert on_disk == ledger.session_ids
        assert replay_on_disk == ledger.replay_ids


@needs_logrotate
def test_dateext_without_seconds_refuses_a_second_rotation_the_same_day(tmp_path):
    """Why the dateext mode names by the second: logrotate's default -%Y%m%d rotates once a day."""
    s = tmp_path / "logs" / "sessions.jsonl"
    s.parent.mkdir()
    s.write_text("{}\n")
    rot = Logrotate([s], "create", tmp_path / "lr", extra=["dateext"])
    wait_for_a_day_with_room()  # both rotations fall on one date of logrotate's
    rot.rotate()
    s.write_text("{}\n")
    with pytest.raises(RotationFailed, match="already exists"):
        rot.rotate()


@needs_logrotate
def test_what_a_rotation_deletes_is_kept_aside(tmp_path, templates):
    """rotate 1: each rotation deletes the generation before; kept aside, nothing is missing."""
    logs = tmp_path / "logs"
    logs.mkdir()
    s = logs / "sessions.jsonl"
    rot = Logrotate([s], "create", tmp_path / "lr", rotate=1)
    gone = []
    with Writers(s, None, templates=templates, workdir=tmp_path / "w", n=2) as writers:
        for k in range(ROTATIONS):
            # rows in every generation: rotated_away tells a deleted file from a live one by its first bytes
            writers.appended(s, rows=50)
            kept = keep_before_rotation(logs, tmp_path / "keep", f"r{k}")
            rot.rotate()
            writers.moved_on(s)
            gone += rotated_away(kept, logs)
        ledger = writers.stop()
    assert len(gone) == ROTATIONS - 1 and [p.name for p in log_files(logs, "sessions.jsonl")] == [
        "sessions.jsonl",
        "sessions.jsonl.1",
    ]
    assert ids_on_disk(log_files(logs, "sessions.jsonl") + gone) == ledger.session_ids


def test_writers_write_exactly_max_rows(tmp_path, templates):
    s = tmp_path / "sessions.jsonl"
    ledger = (
        Writers(
            s, tmp_path / "replay_runs.jsonl", templates=templates, workdir=tmp_path / "w", n=3, pause=0, max_rows=40
        )
        .start()
        .wait()
    )
    assert ledger.sessions == 120 and ledger.replay_runs == 39
    assert ids_on_disk([s]) == ledger.session_ids
    assert ids_on_disk([tmp_path / "replay_runs.jsonl"]) == ledger.replay_ids
