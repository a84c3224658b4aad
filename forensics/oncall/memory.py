"""The alarm's memory: which violations were notified, acknowledged or resolved, and when.

A violation's identity is its alarm's name and the row's own content (the columns every
alarm row is reported with, less its file and line), so it survives rotation, compression
and a store rebuilt from the same logs. The state is one JSON file replaced atomically;
every change of state is also appended to an events log beside it, which the weekly
report reads.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import ForensicsError, ParameterError
from ..output import iso_utc, plain
from ..paths import append_lines

STATE_NAME = "alarm-state.json"
EVENTS_NAME = "alarm-events.jsonl"
STATE_VERSION = 2

# The columns that make a violation the same one on every run: an alarm row's content
# without its provenance (a file's name and line change with every rotation).
IDENTITY_KEYS = ("session_id", "timestamp", "model", "kind", "daemon")
# What the memory keeps of a row, to report it while the row is outside the window.
ROW_MEMORY = ("timestamp", "model", "kind", "daemon", "source_file", "line")


def identity(alarm: str, row: dict, rest: dict | None = None) -> str:
    """The violation's identity: its alarm and the row's content, never path:line.

    ``rest`` holds the alarm row's other columns: they are its content when it has none
    of the identity columns (a user's alarm that aggregates: a day and a count, say).
    """
    values = [alarm] + [plain(row.get(k)) for k in IDENTITY_KEYS]
    if rest and all(v is None for v in values[1:]):
        values.append(sorted((str(k), plain(v)) for k, v in rest.items()))
    return hashlib.sha256(json.dumps(values, ensure_ascii=False, default=str).encode()).hexdigest()[:24]


def who() -> str:
    """The person (or cron user) behind a change: user@host."""
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

    def load(self) -> dict:
        """The state: {"batch": int | None, "store": its created_at, "incidents": {identity: incident}}; empty when none."""
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"batch": None, "store": None, "incidents": {}}
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
            else next((f"incident {k!r} is not one" for k, i in incidents.items() if not _whole(i)), None)
        )
        if wrong:
            raise ForensicsError(
                f"the alarm state {self.state_path} is damaged ({wrong}); move it aside to "
                "start afresh (every open violation is then new again)"
            )
        return {"batch": data.get("batch"), "store": data.get("store"), "incidents": incidents}

    def save(self, state: dict) -> None:
        """Replace the state file atomically (a reader sees the old state or the new, never half)."""
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        body = json.dumps({"version": STATE_VERSION, **state}, ensure_ascii=False, indent=1)
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.state_path)
        finally:
            tmp.unlink(missing_ok=True)  # a full disk leaves no half-written copy behind

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
        for line in text.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                out.append(event)
        return out


@dataclass
class Reconciled:
    """One run's violations against the memory: each row's state, reminders, resolutions, events."""

    items: list[dict] = field(default_factory=list)
    reminders: list[dict] = field(default_factory=list)
    resolved: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)


def reconcile(
    state: dict,
    found: list[dict],
    *,
    now: datetime,
    repeat: timedelta,
    gone: Callable[[dict[str, dict]], set[str]] | None = None,
    remind: set[str] = frozenset({"critical"}),
) -> Reconciled:
    """Give each violating row its state and change the memory in place.

    ``found`` holds this run's violating rows (each with alarm, severity and the row keys).
    An incident tracked but not found this run (its row left the window) stays as it was
    and is still reported, unless ``gone`` (given those incidents) says its row is no
    longer in the logs: then it is resolved, once.
    """
    incidents: dict[str, dict] = state.setdefault("incidents", {})
    out = Reconciled()
    at = iso_utc(now)
    fresh: set[str] = set()
    seen: set[str] = set()
    for item in found:
        key = item["identity"] = identity(item["alarm"], item, item.get("row"))
        inc = incidents.get(key)
        if inc is None:
            inc = incidents[key] = {
                "alarm": item["alarm"],
                "severity": item["severity"],
                "session_id": plain(item.get("session_id")),
                "first_seen": at,
                "last_notified": at,
                "state": "firing",
            }
            out.events.append(_event(at, "new", inc, key))
            fresh.add(key)
        # a duplicated line is the same incident, new (or not) once
        item["state"] = "new" if key in fresh else inc["state"]
        inc["severity"] = item["severity"]
        inc["row"] = {k: plain(item.get(k)) for k in ROW_MEMORY}
        seen.add(key)
        out.items.append(item)

    unseen = {k: i for k, i in incidents.items() if k not in seen}
    for key in sorted(gone(unseen) if gone is not None and unseen else set()):
        inc = incidents.pop(key)
        out.resolved.append(
            {
                "identity": key,
                **{k: inc.get(k) for k in ("alarm", "severity", "session_id", "first_seen", "state")},
                **(inc.get("row") or {}),
            }
        )
        out.events.append(_event(at, "resolved", inc, key))
    for key, inc in incidents.items():
        if key not in seen:  # still open, its row outside this run's window
            out.items.append(
                {
                    "alarm": inc["alarm"],
                    "severity": inc["severity"],
                    "session_id": inc.get("session_id"),
                    **(inc.get("row") or {}),
                    "identity": key,
                    "state": inc["state"],
                    "in_window": False,
                }
            )

    # One reminder per alarm whose open rows were last notified longer ago than --repeat
    # (severities in ``remind``: a warning is said once, unless warnings fail the run).
    due: dict[str, list[str]] = {}
    for key, inc in incidents.items():
        if (
            key not in fresh
            and inc["state"] == "firing"
            and inc["severity"] in remind
            and _older(inc.get("last_notified"), now - repeat)
        ):
            due.setdefault(inc["alarm"], []).append(key)
    for alarm, keys in sorted(due.items()):
        out.reminders.append(
            {
                "alarm": alarm,
                "severity": incidents[keys[0]]["severity"],
                "firing": len(keys),
                "first_seen": min(incidents[k]["first_seen"] for k in keys),
            }
        )
        out.events.append({"at": at, "event": "reminded", "alarm": alarm, "count": len(keys), "by": who()})
        for k in keys:
            incidents[k]["last_notified"] = at
    for item in out.items:
        item.update(_public(incidents[item["identity"]]))
    return out


def acknowledge(
    memory: Memory,
    session_ids: list[str],
    *,
    alarm: str | None = None,
    every: bool = False,
    note: str | None = None,
    by: str | None = None,
    now: datetime | None = None,
) -> list[dict]:
    """Acknowledge the open incidents of these sessions (or all, with ``every``); the incidents changed.

    A session id that matches no open incident is an error and nothing is acknowledged: an
    on-call engineer's typo must not pass for an acknowledgement.
    """
    if every == bool(session_ids):
        raise ParameterError("name the sessions to acknowledge, or pass --all (not both)")
    if not memory.state_path.exists():
        # A mistyped --store or --state must not pass for "nothing left to acknowledge".
        raise ParameterError(
            f"no alarm memory at {memory.state_path}: nothing acknowledged "
            "(give the --store or --state the alarm runs with)"
        )
    now = now or datetime.now(UTC)
    by = by or who()
    with memory.lock():
        state = memory.load()
        incidents = state["incidents"]
        open_ = {
            k: i
            for k, i in incidents.items()
            if i.get("state") == "firing" and (alarm is None or i.get("alarm") == alarm)
        }
        if every:
            chosen = list(open_)
        else:
            chosen = [k for k, i in open_.items() if i.get("session_id") in set(session_ids)]
            missing = sorted(set(session_ids) - {open_[k].get("session_id") for k in chosen})
            if missing:
                where = f" of alarm {alarm}" if alarm else ""
                raise ParameterError(
                    f"no open incident{where} for session(s) {', '.join(map(repr, missing))}: "
                    "nothing acknowledged (forensics alarm --verbose lists them)"
                )
        at = iso_utc(now)
        events = []
        for k in chosen:
            inc = incidents[k]
            inc.update(state="acknowledged", acknowledged_at=at, acknowledged_by=by, note=note)
            events.append(_event(at, "acknowledged", inc, k, by=by, note=note))
        if chosen:
            memory.save(state)
            memory.log(events)
        return [
            {
                "identity": k,
                **_public(incidents[k]),
                "alarm": incidents[k]["alarm"],
                "session_id": incidents[k].get("session_id"),
            }
            for k in chosen
        ]


def _whole(inc: Any) -> bool:
    """Whether a remembered incident has what the alarm reads of it."""
    return (
        isinstance(inc, dict)
        and inc.get("state") in ("firing", "acknowledged")
        and all(isinstance(inc.get(k), str) for k in ("alarm", "severity", "first_seen", "last_notified"))
        and isinstance(inc.get("row", {}), dict)
    )


def _public(inc: dict) -> dict:
    """What a violation's JSON says of its memory."""
    out = {"first_seen": inc.get("first_seen"), "last_notified": inc.get("last_notified")}
    if inc.get("state") == "acknowledged":
        out.update(
            acknowledged_at=inc.get("acknowledged_at"), acknowledged_by=inc.get("acknowledged_by"), note=inc.get("note")
        )
    return out


def _event(at: str, event: str, inc: dict, key: str, *, by: str | None = None, note: str | None = None) -> dict:
    out = {
        "at": at,
        "event": event,
        "alarm": inc.get("alarm"),
        "severity": inc.get("severity"),
        "identity": key,
        "session_id": inc.get("session_id"),
        "by": by or who(),
    }
    if event == "resolved":
        out["first_seen"] = inc.get("first_seen")
    if note:
        out["note"] = note
    return out


def _older(stamp: Any, than: datetime) -> bool:
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) <= than
    except ValueError:
        return True


def history(events: list[dict], start: datetime, end: datetime, now: datetime | None = None) -> list[dict]:
    """The incidents first seen before ``end`` and not closed before ``start``, with how long each went unacknowledged."""
    now = now or datetime.now(UTC)
    records: list[dict] = []
    current: dict[str, dict] = {}
    for e in events:
        key, kind, at = e.get("identity"), e.get("event"), _when(e.get("at"))
        if not key or at is None:
            continue
        if kind == "new":  # a row seen again after its resolution is a new incident
            current[key] = {
                "alarm": e.get("alarm"),
                "severity": e.get("severity"),
                "session_id": e.get("session_id"),
                "first_seen": at,
                "acknowledged_at": None,
                "acknowledged_by": None,
                "note": None,
                "resolved_at": None,
            }
            records.append(current[key])
        elif key in current and kind == "acknowledged" and current[key]["acknowledged_at"] is None:
            current[key].update(acknowledged_at=at, acknowledged_by=e.get("by"), note=e.get("note"))
        elif key in current and kind == "resolved":
            current.pop(key)["resolved_at"] = at
    out = []
    for r in records:
        closed = min([t for t in (r["acknowledged_at"], r["resolved_at"]) if t is not None], default=None)
        if r["first_seen"] >= end or (closed is not None and closed < start):
            continue
        until = r["acknowledged_at"] or r["resolved_at"] or min(end, now)
        out.append(
            {
                **r,
                "unacknowledged_s": max(0.0, (until - r["first_seen"]).total_seconds()),
                "open": r["acknowledged_at"] is None and r["resolved_at"] is None,
            }
        )
    return sorted(out, key=lambda r: (r["first_seen"], r["alarm"] or "", str(r["session_id"])))


def _when(stamp: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None
