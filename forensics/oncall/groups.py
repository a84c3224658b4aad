"""A storm grouped: rows of one kind of event by alarm, model and daemon (or the keys asked), each group
counted, and the first rows of each shown, at most so many in all."""

from __future__ import annotations

from dataclasses import dataclass, field

# The keys a storm is grouped by unless forensics.toml's `group_by` says otherwise.
GROUP_BY = ("alarm", "model", "daemon")
# The keys a group may be made by: the labels every alarm row has.
GROUP_KEYS = ("alarm", "severity", "model", "kind", "daemon", "session_id")
_ORDER = {"critical": 0, "warn": 1}


@dataclass
class Group:
    """Rows of one event sharing the grouping keys' values: how many, and those shown."""

    labels: dict
    count: int
    shown: list[dict] = field(default_factory=list)

    def head(self, event: str) -> str:
        """'312 new · ungrounded_accepted · model=qwen3.5:latest · daemon=gateway' (values not yet escaped)."""
        parts = [f"{self.count} {event}"]
        for key, value in self.labels.items():
            parts.append(str(value) if key == "alarm" else f"{key}={value}")
        return " · ".join(parts)


def group(rows: list[dict], keys=GROUP_BY, max_rows: int = 20) -> list[Group]:
    """The rows grouped by ``keys`` (critical first, then by size), with at most ``max_rows`` rows shown in all.

    The rows shown are shared out a row at a time, group by group, so a storm of one model cannot
    hide the one row of another.
    """
    keys = tuple(keys) or GROUP_BY
    by: dict[tuple, Group] = {}
    members: dict[tuple, list[dict]] = {}
    for row in rows:
        k = tuple(row.get(x) for x in keys)
        if k not in by:
            by[k] = Group({x: row.get(x) for x in keys}, 0)
            members[k] = []
        by[k].count += 1
        members[k].append(row)
    order = sorted(
        by,
        key=lambda k: (_ORDER.get(members[k][0].get("severity"), 2), -by[k].count, [str(v) for v in k]),
    )
    budget, depth = max(0, max_rows), 0
    while budget > 0:
        took = False
        for k in order:
            if depth < len(members[k]) and budget > 0:
                by[k].shown.append(members[k][depth])
                budget -= 1
                took = True
        if not took:
            break
        depth += 1
    return [by[k] for k in order]
