"""Condition alarms (a rate over a window, a streak: `-- identity:` in their header): each row known by
its alarm and the columns declared, resolved once its condition clears, and never flapping: a
condition back within --repeat of its resolution fires again quietly, its next word a --repeat
after the last."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..output import iso_utc, plain
from .memory import IDENTITY_KEYS, identity, who
from .problems import older


def keyed_identity(item: dict) -> str | None:
    """A condition alarm's row's identity: its alarm and its declared columns only (None for a row alarm's)."""
    keys = item.get("keyed_by")
    if not keys:
        return None
    row = item.get("row") or {}
    basis = {k: plain(item[k] if k in item else row.get(k)) for k in keys}
    rest = {k: v for k, v in basis.items() if k not in IDENTITY_KEYS}
    return identity(item["alarm"], {k: v for k, v in basis.items() if k in IDENTITY_KEYS}, rest or None)


def reopen(state: dict, found: list[dict], *, now: datetime, repeat: timedelta) -> list[dict]:
    """Conditions met again within --repeat of their resolution: their incidents back, firing, not new.

    Their `last_notified` is when the resolution was said, so they are reminded (said) a --repeat
    after it if they still fire. Returns the events (a quiet `new`: the report counts it).
    """
    settled: dict = state.setdefault("settled", {})
    incidents: dict = state.setdefault("incidents", {})
    for key in [k for k, s in settled.items() if older(s.get("resolved_at"), now - repeat)]:
        del settled[key]
    at, events = iso_utc(now), []
    for item in found:
        key = keyed_identity(item)
        if key is None or key in incidents or key not in settled:
            continue
        s = settled.pop(key)
        incidents[key] = {
            "alarm": item["alarm"],
            "severity": item["severity"],
            "session_id": plain(item.get("session_id")),
            "first_seen": s.get("first_seen") or at,
            "last_notified": s["resolved_at"],
            "state": "firing",
            "keyed_by": list(item["keyed_by"]),
            "reopened": True,
        }
        events.append(
            {
                "at": at,
                "event": "new",
                "alarm": item["alarm"],
                "severity": item["severity"],
                "identity": key,
                "session_id": plain(item.get("session_id")),
                "by": who(),
                "quiet": True,  # back within --repeat of its resolution: not said again
            }
        )
    return events


def settle(
    state: dict, resolved: list[dict], popped: dict[str, dict], events: list[dict], *, now: datetime, repeat
) -> list[dict]:
    """The resolutions to say: a condition's is said unless it came back quietly and clears again within
    --repeat of the last word said of it. Each condition resolved is remembered a --repeat long."""
    settled: dict = state.setdefault("settled", {})
    at, said = iso_utc(now), []
    for r in resolved:
        inc = popped.get(r["identity"], {})
        if not inc.get("keyed_by"):
            said.append(r)
            continue
        quiet = inc.get("reopened") and not older(inc.get("last_notified"), now - repeat)
        settled[r["identity"]] = {
            "resolved_at": inc["last_notified"] if quiet else at,
            "first_seen": inc.get("first_seen"),
        }
        if quiet:
            for e in events:
                if e.get("identity") == r["identity"] and e.get("event") == "resolved" and e.get("at") == at:
                    e["quiet"] = True
        else:
            said.append(r)
    return said
