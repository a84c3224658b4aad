"""The alarm's memory: which violations were notified, acknowledged or resolved, and when.

A violation's identity is its alarm's name and the row's own content (the columns every
alarm row is reported with, less its file and line), so it survives rotation, compression
and a store rebuilt from the same logs. The state is one JSON file replaced atomically;
every change of state is also appended to an events log beside it, which the weekly
report reads.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ForensicsError
from ..output import plain
from ..paths import append_lines, write_atomic

STATE_NAME = "alarm-state.json"
EVENTS_NAME = "alarm-events.jsonl"
STATE_VERSION = 3

# The columns that make a violation the same one on every run: an alarm row's content
# without its provenance (a file's name and line change with every rotation).
IDENTITY_KEYS = ("session_id", "timestamp", "model", "kind", "daemon")
# ... and the columns of its call that tell two calls of one session apart when the first are
# the same or missing (no valid timestamp): the raw time, the provider, the verdict, how many
# iterations of how many, and the duration to the millisecond.
IDENTITY_COLUMNS = ("timestamp_raw", "provider", "final_verdict", "iterations", "max_iterations", "duration_ms")
# What the memory keeps of a row, to report it while the row is outside the window.
ROW_MEMORY = ("timestamp", "model", "kind", "daemon", "source_file", "line")


def identity(alarm: str, row: dict, rest: dict | None = None) -> str:
    """The violation's identity: its alarm and the row's content, never path:line.

    ``row["id"]`` holds its call's identity columns (IDENTITY_COLUMNS), read back from its
    file and line; ``rest`` holds the alarm row's other columns: they are its content when it
    names no call to read back (a user's alarm that aggregates: a day and a count, or a
    session, a provider and a count).
    """
    values = [alarm] + [plain(row.get(k)) for k in IDENTITY_KEYS]
    if rest and (all(v is None for v in values[1:]) or not row.get("id")):
        values.append(sorted((str(k), plain(v)) for k, v in rest.items()))
    if row.get("id"):
        values.append([[k, plain(row["id"].get(k))] for k in IDENTITY_COLUMNS])
    return _digest(values)


def legacy_identity(alarm: str, row: dict, rest: dict | None = None) -> str:
    """The identity an earlier memory knew the row by: without its call's columns, and with its other
    columns only when it had none of IDENTITY_KEYS (two rows of one session were then one incident)."""
    values = [alarm] + [plain(row.get(k)) for k in IDENTITY_KEYS]
    if rest and all(v is None for v in values[1:]):
        values.append(sorted((str(k), plain(v)) for k, v in rest.items()))
    return _digest(values)


def _digest(values: list) -> str:
    return hashlib.sha256(json.dumps(values, ensure_ascii=False, default=str).encode()).hexdigest()[:24]


def who() -> str:
    """The person (or cron user) behind a change: user@host."""
    # (imported here: most cron runs change nothing, and every run imports this module)
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no user name in a container without /etc/passwd
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass
class Memory:
    """Where an alarm's memory lives: the state file and its events log."""

    state_path: Path
    events_path: Path

    @classmethod
    def of_store(cls, root: str | os.PathLike) -> Memory:
        """The memory kept in a store's folder."""
        root = Path(root)
        return cls(root / STATE_NAME, root / EVENTS_NAME)

    @classmethod
    def of_file(cls, path: str | os.PathLike) -> Memory:
        """The memory in a state file of the user's choosing (`--state FILE`), its events beside it."""
        path = Path(path)
        stem = path.name[:-5] if path.name.endswith(".json") else path.name
        return cls(path, path.with_name(f"{stem}.events.jsonl"))

    def lock(self):
        """A lock held while the state is read, changed and written (the alarm and `ack` share it)."""
        from filelock import FileLock

        return FileLock(str(self.state_path) + ".lock")

    def is_new(self) -> bool:
        """True when no state was ever saved here: nothing was evaluated against this memory yet."""
        return not os.path.lexists(self.state_path)

    def load(self) -> dict:
        """The state: {"batch": int | None, "store": its created_at, "incidents": {identity: incident}}; empty when none."""
        if self.state_path.is_symlink():
            # Saved by a rename over its name, the state would replace the link, not follow it:
            # reading through it would make the alarm's memory whatever the link points at.
            raise ForensicsError(
                f"the alarm state {self.state_path} is a symbolic link, which forensics neither reads "
                "nor writes through; put the state file itself there"
            )
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {
                "batch": None,
                "store": None,
                "incidents": {},
                "problems": {},
                "logs": None,
                "notices": {},
                "through": {},
            }
        except (OSError, ValueError) as exc:
            raise ForensicsError(
                f"the alarm state {self.state_path} cannot be read ({exc}); move it "
                "aside to start afresh (every open violation is then new again)"
            ) from exc
        if not isinstance(data, dict):
            raise ForensicsError(f"the alarm state {self.state_path} is not a JSON object; move it aside")
        # The old format held only the batch; any other shape is damage, named rather than
        # reset (a reset loses every acknowledgement) or left to crash the alarm.
        incidents = data.get("incidents", {})
        wrong = (
            "its incidents are not an object"
            if not isinstance(incidents, dict)
            else next((f"incident {k!r} is not one" for k, i in incidents.items() if not whole(i)), None)
        )
        if wrong:
            raise ForensicsError(
                f"the alarm state {self.state_path} is damaged ({wrong}); move it aside to "
                "start afresh (every open violation is then new again)"
            )
        problems = data.get("problems", {})
        wrong = (
            "its problems are not an object"
            if not isinstance(problems, dict)
            else next((f"problem {k!r} is not one" for k, p in problems.items() if not said(p)), None)
        )
        if wrong:
            raise ForensicsError(
                f"the alarm state {self.state_path} is damaged ({wrong}); move it aside to "
                "start afresh (every open violation is then new again)"
            )
        logs = data.get("logs")
        return {
            "batch": data.get("batch"),
            "store": data.get("store"),
            "incidents": incidents,
            "problems": problems,
            # (the live logs evaluated with it, where there is no store; not a list of text: unknown)
            "logs": logs if isinstance(logs, list) and all(isinstance(x, str) for x in logs) else None,
            # (when each notice was last said; of another shape: none said yet)
            "notices": data.get("notices") if isinstance(data.get("notices"), dict) else {},
            # (conditions resolved lately, so that one back within --repeat is not new: conditions.py)
            "settled": {
                k: e
                for k, e in (data.get("settled") if isinstance(data.get("settled"), dict) else {}).items()
                if isinstance(e, dict) and isinstance(e.get("resolved_at"), str)
            },
            # (each alarm query's last batch; an entry of another shape is not one)
            "through": {
                k: e
                for k, e in (data.get("through") if isinstance(data.get("through"), dict) else {}).items()
                if isinstance(e, dict) and type(e.get("batch")) is int and isinstance(e.get("at"), str)
            },
        }

    def save(self, state: dict) -> None:
        """Replace the state file atomically (a reader sees the old state or the new, never half)."""
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"version": STATE_VERSION, **state}, ensure_ascii=False, indent=1)
        write_atomic(self.state_path, body.encode("utf-8"))

    def log(self, events: Iterable[dict]) -> None:
        """Append state changes to the events log, one JSON line each, in one write."""
        lines = "".join(json.dumps(plain(e), ensure_ascii=False) + "\n" for e in events)
        if not lines:
            return
        self.events_path.parent.mkdir(parents=True, exist_ok=True)
        append_lines(self.events_path, lines, sync=True)  # written under the memory's lock

    def events(self) -> list[dict]:
        """Every logged state change, oldest first (a torn last line is skipped)."""
        try:
            text = self.events_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        out = []
        # Lines end at \n only: a U+2028 or U+0085 in a session id or a note is text, not a line's end.
        for line in text.split("\n"):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                out.append(event)
        return out


def whole(inc: Any) -> bool:
    """Whether a remembered incident has what the alarm reads of it."""
    return (
        isinstance(inc, dict)
        and inc.get("state") in ("firing", "acknowledged")
        and all(isinstance(inc.get(k), str) for k in ("alarm", "severity", "first_seen", "last_notified"))
        and isinstance(inc.get("row", {}), dict)
    )


def said(problem: Any) -> bool:
    """Whether a remembered problem has what the alarm reads of it (since when, last said when, its text)."""
    return (
        isinstance(problem, dict)
        and all(isinstance(problem.get(k), str) for k in ("since", "last_notified"))
        and isinstance(problem.get("text", ""), str)
    )


# An alarm query this memory ran once but runs no more (removed on purpose) holds the store's
# retention back this long at most; one left out of a run by hand is back with the next cron run.
UNRUN_HOLDS_S = 7 * 86400


def behind(state: dict, alarms: set[str], *, now) -> tuple[list[int], list[int]]:
    """The batches this memory evaluated alarm queries through: of those run now, and of those not run lately.

    A run without one of cron's alarm queries (by hand, without its --queries-dir) advances the
    memory's batch past rows that query never evaluated: the next run with it evaluates from its own.
    """
    from datetime import datetime, timedelta

    run, unrun = [], []
    for name, e in state.get("through", {}).items():
        try:
            recent = datetime.fromisoformat(e["at"].replace("Z", "+00:00")) > now - timedelta(seconds=UNRUN_HOLDS_S)
        except ValueError:
            recent = False
        if name in alarms:
            run.append(e["batch"])
        elif recent:
            unrun.append(e["batch"])
    return run, unrun
