"""What changed in one alarm run, by kind of event (new, reminder, resolved, problem, recovered,
silence-expired), routed by severity: what every receiver is sent is made from it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

EVENTS = ("new", "reminder", "resolved", "problem", "recovered", "silence-expired")
# A row's keys a receiver is sent (the label-like ones first); the rest of a row stays in `--format json`.
ROW_KEYS = (
    "alarm",
    "severity",
    "session_id",
    "model",
    "kind",
    "daemon",
    "timestamp",
    "source_file",
    "line",
    "state",
    "first_seen",
    "identity",
    "incident",
)


@dataclass
class Changes:
    """One run's news for one receiver: the rows of each event, the problems and recoveries."""

    new: list[dict] = field(default_factory=list)
    reminder: list[dict] = field(default_factory=list)  # the firing rows reminded of
    resolved: list[dict] = field(default_factory=list)  # resolved, or gone before acknowledged
    problem: list[dict] = field(default_factory=list)  # could not evaluate: new, or reminded
    recovered: list[dict] = field(default_factory=list)
    silence_expired: list[dict] = field(default_factory=list)
    reminders: list[dict] = field(default_factory=list)  # one per alarm reminded: its count and since when

    def kinds(self) -> list[str]:
        """The events this run has, in EVENTS' order."""
        return [e for e in EVENTS if getattr(self, e.replace("-", "_"))]

    def rows(self, event: str) -> list[dict]:
        """The rows (or problems) of one event."""
        return getattr(self, event.replace("-", "_"))

    def only(self, event: str) -> Changes:
        """The same run, with only one event's news (a command is run once per event)."""
        kept = Changes(**{f.name: [] for f in fields(self)})
        setattr(kept, event.replace("-", "_"), self.rows(event))
        if event == "reminder":
            kept.reminders = self.reminders
        return kept


def row(item: dict) -> dict:
    """What a receiver is sent of a violating row (JSON-ready)."""
    from ..output import plain

    return {k: plain(item.get(k)) for k in ROW_KEYS}


def changes(outcome, severities=("critical", "warn")) -> Changes:
    """The run's news of these severities; what could not be evaluated goes to every receiver."""
    rec = outcome.recalled
    rows = outcome.violations + outcome.warnings
    routed = [v for v in rows if v.get("severity") in severities]
    gone = set(rec.gone)
    reminded = {r["alarm"]: r for r in rec.reminders if r.get("severity") in severities}
    expired = {k for e in rec.expired_silences for k in e["identities"]}
    out = Changes(
        new=[row(v) for v in routed if v["state"] == "new"],
        reminder=[row(v) for v in routed if v["state"] == "firing" and v["alarm"] in reminded],
        resolved=[row(v) for v in rec.resolved if v.get("severity") in severities]
        + [row(v) for v in routed if v.get("identity") in gone],
        problem=[dict(p) for p in rec.problems if p.get("state") in ("new", "reminded")],
        recovered=[dict(r) for r in rec.recovered],
        # (the rows a silence covered that fire again now that it ended)
        silence_expired=[row(v) for v in routed if v.get("identity") in expired],
        reminders=list(reminded.values()),
    )
    for r in out.resolved:
        r["state"] = "resolved"
    return out


def firing(outcome, severities=("critical", "warn")) -> list[dict]:
    """Every row firing now (new or firing, not acknowledged), of these severities."""
    return [
        row(v)
        for v in outcome.violations + outcome.warnings
        if v["state"] in ("new", "firing") and v.get("severity") in severities
    ]
