"""Alertmanager (`alertmanager+http://HOST:PORT`): one alert per violation on its `/api/v2/alerts`, labelled
as the silences' matchers are, re-sent every run while it fires, and sent once more with `endsAt` when it
is resolved or acknowledged.

Alertmanager resolves an alert whose `endsAt` has passed; a firing alert is sent with `endsAt` a
receiver's `hold` ahead (as Prometheus sends its own), so it stands between two runs and resolves by
itself if the alarm stops running.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

from ..output import iso_utc
from .answer import Answer
from .events import firing
from .http import post_json

LABELS = ("alarm", "severity", "model", "kind", "daemon", "session_id")


def alert(row: dict, description: str | None = None) -> dict:
    """A violating row as an alert: its labels (alertname is the alarm), its summary and incident command."""
    labels = {"alertname": str(row["alarm"])}
    labels.update({k: str(row[k]) for k in LABELS if row.get(k) not in (None, "")})
    # (two calls of one session by the same model are two violations: the identity keeps them apart)
    if row.get("identity"):
        labels["identity"] = str(row["identity"])
    annotations = {
        "summary": f"{row['alarm']} ({row['severity']}): session {row.get('session_id')} "
        f"model {row.get('model')} daemon {row.get('daemon')}",
    }
    if description:
        annotations["description"] = description
    if row.get("incident"):
        annotations["incident"] = row["incident"]
    return {"labels": labels, "annotations": annotations, "startsAt": row.get("first_seen") or None}


def problem_alert(problem: dict) -> dict:
    """A run that could not evaluate, as an alert of its own (critical: nothing was checked)."""
    return {
        "labels": {
            "alertname": "forensics_cannot_evaluate",
            "severity": "critical",
            "problem": str(problem["problem"])[:200],
        },
        "annotations": {"summary": f"forensics alarm could not evaluate: {problem.get('text', '')}"},
        "startsAt": problem.get("since"),
    }


def update(open_: dict, outcome, receiver, now: datetime) -> None:
    """The receiver's open alerts, as of this run: firing ones added, those no longer firing given their end.

    Only a run that evaluated ends anything: one that stopped early knows nothing of its rows.
    """
    at = iso_utc(now)
    current = {}
    for row in firing(outcome, receiver.severity):
        key = row.get("identity") or f"{row['alarm']}:{row.get('session_id')}"
        current[key] = alert(row, outcome.paging.descriptions.get(row["alarm"]))
    for p in outcome.recalled.problems:
        current[f"problem:{p['problem']}"] = problem_alert(p)
    if outcome.paging.freshness:  # (on --engine spark: the answer is as of the store's last ingest)
        for a in current.values():
            a["annotations"]["freshness"] = outcome.paging.freshness
    for key, a in current.items():
        a.setdefault("startsAt", at)
        a["startsAt"] = a["startsAt"] or at
        open_[key] = a
    if outcome.checked or outcome.recalled.recovered:
        for key, a in open_.items():
            if key not in current and not a.get("endsAt"):
                a["endsAt"] = at


def payload(open_: dict, receiver, now: datetime) -> list[dict]:
    """The alerts to send: every firing one with its end a hold ahead, every ended one with its end."""
    ahead = iso_utc(now + timedelta(seconds=receiver.hold))
    return [{**a, "endsAt": _not_before(a.get("endsAt") or ahead, a.get("startsAt"))} for a in open_.values()]


def _not_before(end: str, start: str | None) -> str:
    """An end no earlier than its start: Alertmanager answers 400 to the whole batch for one that is, and a
    clock stepped back (an NTP correction) between a row's first run and its end made that so for good."""
    try:
        return start if start and _instant(end) < _instant(start) else end
    except ValueError:
        return end


def _instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def endpoint(url: str) -> str:
    """`alertmanager+http://HOST:PORT/prefix` to `http://HOST:PORT/prefix/api/v2/alerts`."""
    parts = urlsplit(url.removeprefix("alertmanager+"))
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/api/v2/alerts", "", ""))


def send(receiver, alerts: list[dict]) -> Answer:
    """POST the alerts (an empty list is nothing to send, and taken)."""
    if not alerts:
        return Answer(True, "nothing to send")
    return post_json(endpoint(receiver.url), alerts, timeout=receiver.timeout)
