"""The alarm's history: the incidents of a week, read back from the events log, with how long each
went unacknowledged, and the silences in force (the weekly report's incidents section)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def history(events: list[dict], start: datetime, end: datetime, now: datetime | None = None) -> list[dict]:
    """The incidents first seen before ``end`` and not closed before ``start``, with how long each went unacknowledged."""
    now = now or datetime.now(UTC)
    records: list[dict] = []
    current: dict[str, dict] = {}
    for e in events:
        key, kind, at = e.get("identity"), e.get("event"), _when(e.get("at"))
        if not key or at is None:
            continue
        if kind == "new" and key in current:
            continue  # said again by a run that could not save its state: the same incident
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
                "silenced_by": e.get("silenced_by"),  # new while a silence covered it
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


def silence_history(events: list[dict], start: datetime, end: datetime) -> list[dict]:
    """The silences in force at some time of [start, end): who added each, why, its matchers, when it
    ended (at its time, or expired by hand) and how many rows it covered still fired then."""
    out: dict[str, dict] = {}
    for e in events:
        kind, at = e.get("event"), _when(e.get("at"))
        sid = e.get("id") if kind == "silence-added" else e.get("silence")
        if not isinstance(sid, str) or at is None:
            continue
        if kind == "silence-added":
            out[sid] = {
                "id": sid,
                "matchers": [str(m) for m in e.get("matchers") or []],
                "starts_at": at,
                "ends_at": _when(e.get("ends_at")) or at,
                "by": e.get("by"),
                "comment": e.get("comment"),
                "expired_by": None,
                "still_firing": None,
            }
        elif sid in out and kind == "silence-expired":
            out[sid].update(ends_at=min(at, out[sid]["ends_at"]), expired_by=e.get("by"))
        elif sid in out and kind == "silence-ended":
            out[sid]["still_firing"] = e.get("still_firing")
    kept = [s for s in out.values() if s["starts_at"] < end and s["ends_at"] >= start]
    return sorted(kept, key=lambda s: (s["starts_at"], s["id"]))


def _when(stamp: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None
