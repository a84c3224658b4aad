"""Real rotations for the store's tests: Debian's logrotate, the project's writer in other processes.

Three parts, none of which knows about the store:

- :class:`Logrotate` writes a logrotate config for one mode (``create``, ``copytruncate``,
  ``delaycompress``, ``compress``, ``compress-dateext``) into a folder of its own and forces a
  rotation with its own state file, the way cron's ``logrotate`` would do it, only now.
- :class:`Writers` starts N processes that append realistic rows (forensics.sample's, each with
  a session id of its own, stamped with the time they are written) through :class:`forensics.writer.SessionLogger` and
  :class:`~forensics.writer.ReplayLogger` while the test rotates and ingests, and returns the
  ledger of what each one wrote.
- Reading what is on disk (plain and ``.gz``) and comparing a store with a cold read: every
  named query, rows compared as sorted lists.

``tests/test_rotation_harness.py`` proves the harness alone: logrotate really rotates, the
writers really append, and nothing is lost by the harness itself.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from forensics.output import counted

ROOT = Path(__file__).resolve().parent.parent


def _find_logrotate() -> str | None:
    found = shutil.which("logrotate")
    if found:
        return found
    for candidate in ("/usr/sbin/logrotate", "/sbin/logrotate"):  # sbin is often off a user's PATH
        if os.access(candidate, os.X_OK):
            return candidate
    return None


LOGROTATE = _find_logrotate()

# CI sets FORENSICS_REQUIRE_LOGROTATE=1 (.ci/run installs it): there a missing logrotate fails
# the scenarios instead of skipping them, so a green CI run always means they ran.
_REQUIRED = os.environ.get("FORENSICS_REQUIRE_LOGROTATE") == "1"
_MISSING = (
    "logrotate is not installed (apt-get install logrotate; .ci/run does it): this real-rotation scenario DID NOT RUN"
)


def needs_logrotate(fn):
    """Skip (loudly, naming why) when logrotate is absent; fail instead under CI's requirement."""
    if LOGROTATE is not None:
        return fn
    if _REQUIRED:

        @functools.wraps(fn)  # keeps its signature (fixtures) and marks (parametrize)
        def failing(*args, **kwargs):
            pytest.fail("FORENSICS_REQUIRE_LOGROTATE=1 but " + _MISSING)

        return failing
    return pytest.mark.skip(reason="SKIPPED: " + _MISSING)(fn)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: this checkout first on the path, no FORENSICS_* of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORENSICS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra)
    return env


# --- logrotate ------------------------------------------------------------------------------

# The directives of each mode, as an operator would write them in /etc/logrotate.d/.
MODES: dict[str, list[str]] = {
    # rename the log to name.1 (name.2, ...), create a new empty one
    "create": ["create"],
    # copy the log to name.1, then truncate it in place (same inode)
    "copytruncate": ["copytruncate"],
    # rename to name.1, which stays plain until the next rotation compresses it to name.2.gz
    "delaycompress": ["create", "compress", "delaycompress"],
    # rename to name.1, compress it to name.1.gz at once
    "compress": ["create", "compress"],
    # rename to name-YYYYMMDD-EPOCH, compress at once. The default dateformat (-%Y%m%d) names one
    # rotation a day and refuses ("destination ... already exists, skipping rotation") the next
    # one; %s (seconds since 1970) is logrotate's own idiom for more, one per second at most.
    "compress-dateext": ["create", "compress", "dateext", "dateformat -%Y%m%d-%s"],
    # the same, named to the second in one run of digits (name-YYYYMMDDHHMMSS.gz)
    "compress-dateext-hms": ["create", "compress", "dateext", "dateformat -%Y%m%d%H%M%S"],
}


_RECREATED = re.compile(r"error: destination .* already exists, renaming to .*\.backup")
# gzip compressing a generation a lagging writer still appends to (`compress` without
# `delaycompress`): logrotate reports gzip's note as an error and still exits 0.
_GREW_WHILE_ZIPPED = re.compile(
    r"error: Compressing program wrote following message to stderr when compressing log|file size changed while zipping"
)

# logrotate names a dated rotation by glibc's time(), which reads the kernel's coarse clock: that
# clock turns to the next second up to a scheduler tick (4 ms at HZ=250) after time.time() does,
# so "time.time() is in a new second" does not mean logrotate's name will be new.
_COARSE_CLOCK = getattr(time, "CLOCK_REALTIME_COARSE", 5 if sys.platform.startswith("linux") else None)
# Past a second's boundary on time.time() too, by more than any tick: where the coarse clock cannot
# be read, this alone keeps logrotate out of the second it named by last.
_TICK_MARGIN = 0.05


def logrotate_time() -> float:
    """Now, on the clock logrotate reads (glibc's time()), or time.time() less a tick's margin."""
    if _COARSE_CLOCK is not None:
        try:
            return time.clock_gettime(_COARSE_CLOCK)
        except OSError:
            pass
    return time.time() - _TICK_MARGIN


def wait_for_a_day_with_room(seconds: float = 60) -> None:
    """Return once logrotate's local date (what -%Y%m%d names by) stays the same for this long."""
    while time.localtime(logrotate_time())[:3] != time.localtime(time.time() + seconds)[:3]:
        time.sleep(0.2)


class RotationFailed(AssertionError):
    """logrotate did not do what it was told (its stderr says why)."""


class Logrotate:
    """One logrotate config and state file for some logs; :meth:`rotate` forces a rotation now."""

    def __init__(
        self,
        logs: Iterable[str | os.PathLike],
        mode: str,
        workdir: str | os.PathLike,
        *,
        rotate: int = 50,
        extra: Iterable[str] = (),
    ):
        if LOGROTATE is None:
            raise RotationFailed(_MISSING)
        if mode not in MODES:
            raise ValueError(f"unknown logrotate mode {mode!r} (one of {', '.join(MODES)})")
        self.logs = [Path(p).resolve() for p in logs]
        self.mode = mode
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / f"logrotate-{mode}.conf"
        self.state = workdir / f"logrotate-{mode}.state"
        self.rotations = 0
        self.backups: list[str] = []  # logrotate's "already exists, renaming to ....backup" notes
        self.raced: list[str] = []  # gzip's "file size changed while zipping" notes (compress modes)
        self._last_second = 0
        # missingok/ifempty: a forced rotation always rotates, also an empty or absent log.
        # nomail: nothing is mailed. Tests run as root in a private 0700 folder, where logrotate
        # needs no `su` (it wants one only for a world- or group-writable parent directory).
        body = [f"rotate {rotate}", "missingok", "ifempty", "nomail", *MODES[mode], *extra]
        paths = " ".join(f'"{p}"' for p in self.logs)
        self.config.write_text(paths + " {\n" + "".join(f"    {d}\n" for d in body) + "}\n")
        os.chmod(self.config, 0o644)  # logrotate ignores a config others may write

    @property
    def _compresses_now(self) -> bool:
        """gzip runs on the generation just renamed, which a lagging writer may still append to."""
        return "compress" in MODES[self.mode] and "delaycompress" not in MODES[self.mode]

    @property
    def dated(self) -> bool:
        return "dateext" in MODES[self.mode]

    @property
    def dateformat(self) -> str:
        return next((d.split(None, 1)[1] for d in MODES[self.mode] if d.startswith("dateformat ")), "-%Y%m%d")

    def rotate(self) -> subprocess.CompletedProcess:
        """Force one rotation of every log; raise RotationFailed unless logrotate did it cleanly."""
        if self.dated:
            # These dateformats name by the second: wait until logrotate's own clock has left the
            # second it named the last rotation by, and our clock is a margin past that boundary.
            while int(logrotate_time()) <= self._last_second or time.time() < self._last_second + 1 + _TICK_MARGIN:
                time.sleep(0.01)
        before = {p: _ident(p) for p in self.logs}
        names_before = {p: _names_beside(p) for p in self.logs}
        started = time.time()
        done = subprocess.run(
            [LOGROTATE, "--force", "--state", str(self.state), str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if self.dated:
            self._last_second = self._second_named(names_before, started, time.time())
        errors = []
        for line in done.stderr.splitlines():
            if _RECREATED.search(line):
                # A writer reopened (O_CREAT) the log between logrotate's rename and its create:
                # logrotate moves the writer's new file to NAME-DATE.backup and creates its own.
                # A real race of `create` under live writers; the rows there are logrotate's loss
                # (no reader looks at .backup), and the test is told so through `backups`.
                self.backups.append(line)
            elif _GREW_WHILE_ZIPPED.search(line) and self._compresses_now and done.returncode == 0:
                # A writer that checked the log's name just before the rename appended to the
                # generation being compressed: the rows it appended after gzip's read are
                # logrotate's loss, the reason `delaycompress` exists (these modes are lossy).
                self.raced.append(line)
            elif "error" in line.lower():
                errors.append(line)
        if done.returncode != 0 or errors:
            raise RotationFailed(f"logrotate ({self.mode}) exited {done.returncode}: {done.stderr.strip()}")
        for p in self.logs:
            if before[p] is None:
                continue
            now = _ident(p)
            if self.mode == "copytruncate":
                # Same inode; it was truncated (writers may have appended a little since).
                if now is None or now[0] != before[p][0]:
                    raise RotationFailed(f"copytruncate replaced {p} instead of truncating it")
            elif now is not None and now[0] == before[p][0]:
                raise RotationFailed(f"logrotate ({self.mode}) left {p} where it was")
        self.rotations += 1
        return done

    def _second_named(self, names_before: dict, started: float, ended: float) -> int:
        """The epoch second logrotate named this rotation by, read back from the names it wrote."""
        stamps = {time.strftime(self.dateformat, time.localtime(t)): t for t in range(int(started) - 2, int(ended) + 2)}
        used = [
            t
            for p in self.logs
            for name in _names_beside(p) - names_before[p]
            for stamp, t in stamps.items()
            if name[len(p.name) :].startswith(stamp)
        ]
        # No dated name written (no log to rotate): the latest second it can have used.
        return max(used, default=int(ended))


def _names_beside(path: Path) -> set[str]:
    if not path.parent.is_dir():
        return set()
    return {q.name for q in path.parent.iterdir() if q.name.startswith(path.name)}


def _ident(path: Path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size


# --- writers in other processes ------------------------------------------------------------

# One writer process: appends template rows, each with a session id of its own, one write(2)
# per row (the writer's guarantee), until the stop file appears or max_rows are written.
_WRITER = r"""
import json, os, sys, time
from forensics.write.loggers import ReplayLogger, SessionLogger
cfg = json.loads(sys.argv[1])
def load(p):
    with open(p, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]
sessions = load(cfg["session_templates"])
replays = load(cfg["replay_templates"]) if cfg["replay_runs"] else []
slog = SessionLogger(cfg["sessions"])
rlog = ReplayLogger(cfg["replay_runs"]) if cfg["replay_runs"] else None
with open(cfg["ready"], "w"):
    pass
n = r = failed = 0
pause, every, tag = cfg["pause"], cfg["replay_every"], cfg["tag"]
while n < cfg["max_rows"] and not os.path.exists(cfg["stop"]):
    row = dict(sessions[n % len(sessions)])
    sid = "%s-%06d" % (tag, n)
    row["session_id"] = sid
    if cfg["now"]:  # a live daemon: the writer stamps the row with the time it is written
        row.pop("timestamp", None)
    failed += not slog.append(row)
    n += 1
    if rlog is not None and n % every == 0:
        rep = dict(replays[r % len(replays)])
        rep["session_id"] = sid
        if cfg["now"]:
            rep.pop("timestamp", None)
        failed += not rlog.append(rep)
        r += 1
    if pause:
        time.sleep(pause)
slog.close()
if rlog is not None:
    rlog.close()
print(json.dumps({"tag": tag, "sessions": n, "replay_runs": r, "failed": failed,
                  "errors": slog.errors + (rlog.errors if rlog is not None else 0)}))
"""


def make_templates(out: str | os.PathLike, sessions: int = 300, seed: int = 5) -> tuple[Path, Path]:
    """Realistic rows to append (forensics.sample's): (sessions template, replay template)."""
    from forensics.sample.logs import generate

    res = generate(Path(out), sessions=sessions, seed=seed, force=True)
    return res.sessions_path, res.replay_runs_path


@dataclass
class Ledger:
    """What the writers say they wrote."""

    per_writer: list[dict]
    replay_every: int

    @property
    def session_ids(self) -> Counter:
        return Counter(f"{w['tag']}-{i:06d}" for w in self.per_writer for i in range(w["sessions"]))

    @property
    def replay_ids(self) -> Counter:
        out: Counter = Counter()
        for w in self.per_writer:
            ids = [f"{w['tag']}-{i:06d}" for i in range(w["sessions"]) if (i + 1) % self.replay_every == 0]
            out.update(ids[: w["replay_runs"]])
        return out

    @property
    def sessions(self) -> int:
        return sum(w["sessions"] for w in self.per_writer)

    @property
    def replay_runs(self) -> int:
        return sum(w["replay_runs"] for w in self.per_writer)


class Writers:
    """N writer processes appending to ``sessions`` (and ``replay_runs``); a context manager."""

    def __init__(
        self,
        sessions: str | os.PathLike,
        replay_runs: str | os.PathLike | None = None,
        *,
        templates: tuple[Path, Path],
        workdir: str | os.PathLike,
        n: int = 2,
        pause: float = 0.001,
        max_rows: int = 10**7,
        tag: str = "w",
        replay_every: int = 3,
        now: bool = True,
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stop_file = self.workdir / f"{tag}.stop"
        self.replay_every = replay_every
        self._configs = [
            {
                "sessions": str(sessions),
                "replay_runs": str(replay_runs) if replay_runs else None,
                "session_templates": str(templates[0]),
                "replay_templates": str(templates[1]),
                "ready": str(self.workdir / f"{tag}{k}.ready"),
                "stop": str(self.stop_file),
                "pause": pause,
                "max_rows": max_rows,
                "tag": f"{tag}{k}",
                "replay_every": replay_every,
                "now": now,
            }
            for k in range(n)
        ]
        self._procs: list[subprocess.Popen] = []
        self._seen: dict[tuple[str, str], int] = {}  # (file, writer) -> newest row number seen there
        self.ledger: Ledger | None = None

    def start(self, timeout: float = 60) -> Writers:
        self.stop_file.unlink(missing_ok=True)
        for cfg in self._configs:
            Path(cfg["ready"]).unlink(missing_ok=True)
            self._procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", _WRITER, json.dumps(cfg)],
                    env=child_env(),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        deadline = time.monotonic() + timeout
        while not all(Path(c["ready"]).exists() for c in self._configs):
            for p, cfg in zip(self._procs, self._configs):
                if p.poll() is not None and not Path(cfg["ready"]).exists():
                    out, err = p.communicate()
                    self.kill()
                    raise AssertionError(f"a writer exited before it was ready ({p.returncode}): {err}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("the writers were not ready in time")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 60) -> Ledger:
        """Tell the writers to stop, wait for them; their ledger (every one must exit cleanly)."""
        self.stop_file.touch()
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> Ledger:
        """Wait for the writers to finish (max_rows, or the stop file); their ledger."""
        results = []
        for p in self._procs:
            try:
                out, err = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("a writer did not stop in time") from None
            if p.returncode != 0:
                raise AssertionError(f"a writer failed ({p.returncode}): {err}")
            results.append(json.loads(out.strip().splitlines()[-1]))
        self._procs = []
        for w in results:
            assert w["failed"] == 0 and w["errors"] == 0, f"the writer could not append cleanly: {w}"
        self.ledger = Ledger(results, self.replay_every)
        return self.ledger

    def moved_on(self, *paths: str | os.PathLike, timeout: float = 60) -> None:
        """Wait until every writer has appended to each live file in paths since a rotation.

        A writer checks the name before each append; one paused between that check and its
        write still writes into the generation just rotated away. Once each writer's row is in
        the new file, its writes to the old one have all returned, so that generation no longer
        changes (and a copy of it is the whole of it).
        """
        deadline = time.monotonic() + timeout
        for path in paths:
            while True:
                try:
                    text = Path(path).read_bytes()
                except FileNotFoundError:
                    text = b""
                # a writer that has exited (max_rows) has no write in flight either
                if all(
                    f'"{cfg["tag"]}-'.encode() in text or proc.poll() is not None
                    for cfg, proc in zip(self._configs, self._procs)
                ):
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"the writers did not append to {path} after the rotation")
                time.sleep(0.01)

    def appended(self, *paths: str | os.PathLike, rows: int = 1, timeout: float = 60) -> None:
        """Wait until every writer has got ``rows`` rows further, as each live file in paths shows.

        A writer numbers its rows (its tag, then 000000, 000001, ...), so its newest number in a
        file is how far it has got. Counted from its newest row in the file now or seen there by
        an earlier wait, whichever is later: after a rotation, its row in the new generation is
        one written after the rotation. A writer that has exited (max_rows) is not waited for.
        """
        deadline = time.monotonic() + timeout
        for path in paths:
            base = {tag: max(self._seen.get((str(path), tag), -1), n) for tag, n in self._newest(path).items()}
            while True:
                newest = self._newest(path)
                for tag, n in newest.items():
                    self._seen[(str(path), tag)] = max(self._seen.get((str(path), tag), -1), n)
                behind = [
                    cfg["tag"]
                    for cfg, proc in zip(self._configs, self._procs)
                    if newest[cfg["tag"]] < base[cfg["tag"]] + rows and proc.poll() is None
                ]
                if not behind:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"writers {behind} did not append {counted(rows, 'row')} to {path} "
                        f"within {timeout:.0f}s (newest rows {newest}, from {base})"
                    )
                time.sleep(0.02)

    def _newest(self, path: str | os.PathLike) -> dict[str, int]:
        """Each writer's newest row number among the complete lines of the file at path; -1 for none."""
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            data = b""
        data = data[: data.rfind(b"\n") + 1]  # a row still being written is not there yet
        tags = [cfg["tag"] for cfg in self._configs]
        out = dict.fromkeys(tags, -1)
        pattern = rb'"session_id":\s*"(' + b"|".join(re.escape(t.encode()) for t in tags) + rb')-(\d+)"'
        for tag, n in re.findall(pattern, data):
            out[tag.decode()] = max(out[tag.decode()], int(n))
        return out

    def kill(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self._procs = []

    def __enter__(self) -> Writers:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self._procs:
            if exc[0] is None:
                self.stop()
            else:
                self.kill()


# --- what is on disk -------------------------------------------------------------------------


def log_files(folder: str | os.PathLike, name: str, *, backups: bool = False) -> list[Path]:
    """A log and every file logrotate made of it in folder (name, name.1, name.2.gz, name-DATE.gz).

    Without ``backups``, logrotate's NAME-DATE.backup (see Logrotate.rotate) is left out, as a
    reader of the log's rotations leaves it out.
    """
    folder = Path(folder)
    return sorted(
        p.resolve()
        for p in folder.iterdir()
        if p.is_file()
        and (p.name == name or p.name.startswith(name + ".") or p.name.startswith(name + "-"))
        and (backups or not p.name.endswith(".backup"))
    )


def read_bytes(path: str | os.PathLike) -> bytes:
    path = Path(path)
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            return fh.read()
    return path.read_bytes()


def complete_lines(paths: Iterable[str | os.PathLike]) -> list[bytes]:
    """Every complete (newline-ended) line of these files, in order; a torn last line is left out."""
    out = []
    for p in paths:
        data = read_bytes(p)
        out.extend(data.split(b"\n")[:-1])
    return out


def ids_on_disk(paths: Iterable[str | os.PathLike]) -> Counter:
    """The session_id of every complete, parseable line (a multiset)."""
    out: Counter = Counter()
    for line in complete_lines(paths):
        try:
            out[json.loads(line).get("session_id")] += 1
        except (ValueError, AttributeError):
            out[("unreadable",)] += 1
    return out


def keep_before_rotation(folder: str | os.PathLike, keep: str | os.PathLike, tag: str) -> dict:
    """Copy every file of folder into keep (named tag-NAME), to find what a rotation deletes.

    Returns {kept copy: (inode, first bytes)}. A copy, not a hard link: logrotate refuses to
    rotate a log with more than one link. Only sound for modes that never compress (an inode
    that a compression consumed lives on in the .gz) and once nobody appends to the files
    that will be deleted (``Writers.moved_on`` after each rotation).
    """
    keep = Path(keep)
    keep.mkdir(parents=True, exist_ok=True)
    out = {}
    for p in Path(folder).iterdir():
        if p.is_file():
            target = keep / f"{tag}-{p.name}"
            shutil.copyfile(p, target)
            out[target] = (p.stat().st_ino, _head(target))
    return out


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(4096)


def rotated_away(kept: dict, folder: str | os.PathLike) -> list[Path]:
    """The kept copies of files no longer in folder (logrotate deleted them); the other copies removed.

    A file is the same one when its inode and its first bytes are: a file system reuses the
    inode of a deleted file at once (logrotate deletes name.1, then creates name).
    """
    alive = {(p.stat().st_ino, _head(p)) for p in Path(folder).iterdir() if p.is_file()}
    alive_inodes = {ino for ino, _ in alive}
    gone = []
    for path, (ino, head) in kept.items():
        # the live log keeps its inode and grows: same inode and a head that starts the same
        same = ino in alive_inodes and any(
            i == ino and (h.startswith(head) or head.startswith(h)) and h for i, h in alive
        )
        if same or (ino in alive_inodes and not head):
            path.unlink()
        else:
            gone.append(path)
    return sorted(gone)


# --- comparing a store with a cold read -------------------------------------------------------


def canonical(value: Any) -> Any:
    """A value two reads of the same data agree on: floats to 10 significant digits (a sum in
    another order differs in the last bits), containers recursively, in a sortable form."""
    if isinstance(value, float):
        if math.isnan(value):
            return ("nan",)
        return float(f"{value:.10g}")
    if isinstance(value, dict):
        return tuple(sorted((str(k), canonical(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(canonical(v) for v in value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def sorted_rows(result, mask: Iterable[str] = ()) -> list:
    """A Result's rows as a sorted list, columns named in mask blanked."""
    blank = {i for i, c in enumerate(result.columns) if c in set(mask)}
    rows = [tuple(None if i in blank else canonical(v) for i, v in enumerate(row)) for row in result.rows]
    return sorted(rows, key=repr)


# Required parameters we know how to give (every other one is filled by its type, or skipped).
def pick_session_id(store) -> str | None:
    """A session with replays and the most attempts (so session_attempts and session_replays show rows)."""
    rows = store.execute(
        "select s.session_id from sessions s join replay_runs r using (session_id) "
        "where s.session_id is not null order by s.iterations desc, s.session_id limit 1"
    ).rows
    if not rows:
        rows = store.execute("select min(session_id) from sessions").rows
    return rows[0][0] if rows else None


SKIPPED_QUERIES: dict[str, str] = {}  # name -> why, filled by named_results for the report


def named_results(
    store, *, session_id: str | None, mask: Iterable[str] = (), extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every named query of the store's catalog with default parameters, rows sorted.

    A required parameter is given: session_id the chosen session, any other by its type.
    ``extra`` adds parameters to every query that declares them (e.g. since).
    """
    out: dict[str, Any] = {}
    for name, q in sorted(store.catalog.queries.items()):
        params: dict[str, Any] = {}
        skip = None
        for p in q.params.values():
            if extra and p.name in extra:
                params[p.name] = extra[p.name]
            elif not p.required:
                continue
            elif p.name == "session_id":
                if session_id is None:
                    skip = "no session_id to give"
                params[p.name] = session_id
            elif p.type == "int":
                params[p.name] = 3
            elif p.type == "float":
                params[p.name] = 0.5
            elif p.type == "bool":
                params[p.name] = True
            elif p.type == "timestamp":
                params[p.name] = "2026-01-01T00:00:00Z"
            else:
                skip = f"required parameter {p.name} ({p.type}): no sensible value known"
        if skip:
            SKIPPED_QUERIES[name] = skip
            continue
        try:
            out[name] = sorted_rows(store.query(name, params), mask)
        except Exception as exc:  # the comparison says which side failed and how
            out[name] = ("error", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
    return out


ROWS_SQL = {
    "sessions": "select * from sessions",
    "replay_runs": "select * from replay_runs",
    "attempts": "select * from attempts",
}
IDENTITY_SQL = {
    "sessions": "select source_file, line, session_id from sessions",
    "replay_runs": "select source_file, line, session_id from replay_runs",
}


def view_rows(store, *, full: bool = True, mask: Iterable[str] = ()) -> dict[str, list]:
    """Every row of the views (full) or their identity (file, line, session id), sorted."""
    out = {}
    for view, sql in (ROWS_SQL if full else IDENTITY_SQL).items():
        try:
            out[view] = sorted_rows(store.execute(sql), mask)
        except Exception as exc:
            out[view] = ("error", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
    return out


def diff_summary(a: dict, b: dict, labels=("store", "cold")) -> str:
    """Which keys differ, with counts and a few rows on each side only."""
    lines = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if x == y:
            continue
        if isinstance(x, list) and isinstance(y, list):
            cx, cy = Counter(map(repr, x)), Counter(map(repr, y))
            only_x, only_y = list((cx - cy).elements()), list((cy - cx).elements())
            lines.append(
                f"{key}: {labels[0]} {len(x)} rows, {labels[1]} {len(y)} rows; "
                f"only in {labels[0]} {len(only_x)}, only in {labels[1]} {len(only_y)}"
            )
            for r in only_x[:2]:
                lines.append(f"    {labels[0]} only: {r[:300]}")
            for r in only_y[:2]:
                lines.append(f"    {labels[1]} only: {r[:300]}")
        else:
            lines.append(f"{key}: {labels[0]} {str(x)[:300]} / {labels[1]} {str(y)[:300]}")
    return "\n".join(lines)
