"""What keeps a run from evaluating (its problems) and what the read met (its notices): each said when
new, reminded or said again once per --repeat, and a problem said once when it recovers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..output import iso_utc
from .memory import who


def reconcile_problems(
    state: dict, problems: list[tuple[str, str]], *, now: datetime, repeat: timedelta, whole: bool
) -> tuple[list[dict], list[dict], list[dict]]:
    """Give each problem of this run its state, as a violation's: new once, then firing, reminded per --repeat.

    With ``whole`` (the evaluation ran), a problem remembered but not met this run has
    recovered, said once; a run that stopped early knows only its own failure, so it
    recovers nothing. Returns (this run's problems, the recovered, events).
    """
    known: dict[str, dict] = state.setdefault("problems", {})
    at = iso_utc(now)
    current, recovered, events = [], [], []
    for key, text in problems:
        p = known.get(key)
        if p is None:
            p = known[key] = {"since": at, "last_notified": at}
            said = "new"
            events.append({"at": at, "event": "problem", "problem": key, "text": text, "by": who()})
        elif older(p.get("last_notified"), now - repeat):
            p["last_notified"] = at
            said = "reminded"
        else:
            said = "firing"
        p["text"] = text
        current.append({"problem": key, "text": text, "state": said, "since": p["since"]})
    met = {key for key, _ in problems}
    for key in sorted(set(known) - met) if whole else []:
        p = known.pop(key)
        recovered.append({"problem": key, "text": p.get("text"), "since": p.get("since"), "until": at})
        events.append({"at": at, "event": "recovered", "problem": key, "by": who()})
    return current, recovered, events


def reconcile_notices(state: dict, notices: list[str], *, now: datetime, repeat: timedelta) -> list[str]:
    """The notices to say this run: those not said within --repeat; the memory keeps when each was said.

    A notice is known by its text, so one that changes (a count, a line) is new; one no longer
    met is forgotten, and said again if it comes back.
    """
    import hashlib

    known = state.get("notices")
    known = known if isinstance(known, dict) else {}
    kept, say = {}, []
    for text in notices:
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]
        at = known.get(key)
        if at is None or older(at, now - repeat):
            at = iso_utc(now)
            say.append(text)
        kept[key] = at
    state["notices"] = kept
    return say


def older(stamp: Any, than: datetime) -> bool:
    """Whether a remembered time is at or before ``than`` (a time that cannot be read is)."""
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) <= than
    except ValueError:
        return True
