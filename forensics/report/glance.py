"""The report at a glance: the headline a lead acts on, the alarm cards' open counts, a week in progress."""

from __future__ import annotations

from datetime import datetime

from ..output import counted, plural


def headline(models: list[dict], incidents: list[dict] | None, alarms: list[dict], empty: bool) -> dict:
    """One sentence for the top of the report, as parts: text, and model names (untrusted, escaped by the page).

    ``quiet`` is true when no model changed for real and nothing is open.
    """
    parts: list[tuple[str, str]] = []
    changed = False
    for verdict, words in (("down", "got worse"), ("up", "got better")):
        moved = [m for m in models if m["change"]["verdict"] == verdict]
        if not moved:
            continue
        changed = True
        if parts:
            parts.append(("text", "; "))
        parts.append(("text", f"{counted(len(moved), 'model')} {words}: "))
        for i, m in enumerate(moved):
            if i:
                parts.append(("text", ", "))
            parts.append(("name", m["model"] if m["model"] is not None else "(no model)"))
            parts.append(("text", f" first shot {m['change']['delta'] * 100:+.1f} pp"))
        parts.append(("text", f" ({plural(len(moved), 'real change')})"))
    if empty:
        change_words = "no calls this week"
    else:
        change_words = "no real change"
    open_count, incident_words = _incidents(incidents, alarms)
    quiet = not changed and open_count == 0
    if quiet and incident_words.startswith("0 open"):
        parts = [("text", f"All quiet: {incident_words}, {change_words}")]
    elif changed:
        parts.append(("text", f"; {incident_words}"))
    else:
        first = incident_words[0].upper() + incident_words[1:]
        parts = [("text", f"{first}; {change_words}")]
    return {"parts": parts, "text": "".join(t for _, t in parts), "quiet": quiet}


def _incidents(incidents: list[dict] | None, alarms: list[dict]) -> tuple[int, str]:
    """(how many are open, the words for the week's incidents); without the alarm's memory, its findings."""
    if incidents is None:
        found = sum(a["count"] for a in alarms)
        if not found:
            return 0, "0 open incidents"
        return found, f"{counted(found, 'alarm finding')} (no alarm memory says which are handled)"
    total = len(incidents)
    still = sum(1 for i in incidents if i["open"])
    if total == 0:
        return 0, "0 open incidents"
    noun = counted(total, "incident")
    if still == 0:
        acked = all(i["acknowledged_at"] is not None for i in incidents)
        return 0, f"{noun}, all {'acknowledged' if acked else 'acknowledged or resolved'}"
    return still, f"{noun}, {still} open"


def alarm_cards(alarms: list[dict], incidents: list[dict] | None) -> list[dict]:
    """Each alarm's rows this week and, with the alarm's memory, how many of its incidents are still open."""
    cards = []
    for a in alarms:
        still = None if incidents is None else sum(1 for i in incidents if i["alarm"] == a["name"] and i["open"])
        # Red means someone has to act: an open incident, or (no memory to ask) a finding.
        cards.append({**a, "open": still, "alert": bool(still) if incidents is not None else a["count"] > 0})
    return cards


def partial_week(start: datetime, end: datetime, now: datetime) -> dict | None:
    """A week still in progress: how much of it the data can cover so far (None once it is over)."""
    if now >= end:
        return None
    return {"seconds": max(0.0, (now - start).total_seconds()), "begun": now >= start}
