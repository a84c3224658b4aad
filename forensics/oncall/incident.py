"""`forensics incident SESSION_ID`: everything about one coordinator session, for the person holding the pager."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from ..errors import ForensicsError, ParameterError
from ..output import escape, plain
from .memory import identity, legacy_identity

INCIDENT_FORMATS = ("markdown", "html", "json")

_CALLS = """select *
from sessions
where session_id = $session_id
order by "timestamp" nulls last, source_file, line"""

_REPLAYS = """select *
from replay_runs
where session_id = $session_id
order by "timestamp" nulls last, source_file, line"""

# The same model's calls just before the session's first call and just after its last:
# one bad call, or a streak?
_AROUND = """with mine as (
    select
        min("timestamp") as first_at,
        max("timestamp") as last_at
    from sessions
    where session_id = $session_id
        and model is not distinct from $model
),
around as (
    select
        s.session_id,
        s."timestamp",
        s.final_verdict,
        s.grounded_in_roster,
        s.iterations,
        s.daemon,
        s.source_file,
        s.line,
        case when s."timestamp" < m.first_at then 'before' else 'after' end as side,
        row_number() over (
            partition by s."timestamp" < m.first_at
            order by abs(epoch(s."timestamp") - epoch(case when s."timestamp" < m.first_at
                                                           then m.first_at else m.last_at end))
        ) as distance
    from sessions as s, mine as m
    where s.model is not distinct from $model
        and s.session_id is distinct from $session_id
        and (s."timestamp" < m.first_at or s."timestamp" > m.last_at)
)
select
    side,
    session_id,
    "timestamp",
    final_verdict,
    grounded_in_roster,
    iterations,
    daemon,
    source_file,
    line
from around
where distance <= $n
order by "timestamp", source_file, line"""


def session_of(store, memory, key: str) -> str:
    """The session id of the incident the alarm printed by this identity (for an id no shell passes).

    The memory knows it; else (an alarm run without one, or one that could not record its run)
    it is the alarm row of the logs read whose identity it is.
    """
    if memory is not None:
        inc = memory.load()["incidents"].get(key)
        if inc is not None and inc.get("session_id") is not None:
            return inc["session_id"]
    for q, row in _alarm_rows(store):
        if row.get("session_id") is not None and key in (
            identity(q.name, row, _rest(row)),
            legacy_identity(q.name, row, _rest(row)),
        ):
            return row["session_id"]
    where = f" nor in {escape(str(memory.state_path))}" if memory is not None else ""
    raise ParameterError(f"no alarm row of the logs read has the identity {escape(repr(key))}{where}")


def _alarm_rows(store, session_id: str | None = None):
    """(alarm, row) for each row of every alarm query that names a session, with its call's identity columns."""
    from .window import alarm_rows

    for q in store.catalog.alarms():
        # A user's alarm may aggregate and name no session: it has no verdict on one.
        if "session_id" not in store.execute(f"select *\nfrom (\n{q.sql}\n)\nlimit 0", q.bind({})).columns:
            continue
        for r in alarm_rows(store, q, session_id):
            r["id"] = {k[4:]: r.pop(k) for k in [k for k in r if k.startswith("_id_")]}
            yield q, r


def _rest(row: dict) -> dict:
    """An alarm row's columns beyond those every alarm row is reported with (as the alarm keeps them)."""
    from .verdict import ROW_KEYS

    return {k: v for k, v in row.items() if k not in ROW_KEYS and k != "id"}


def build_incident(store, session_id: str, *, memory=None, around: int = 5, now: datetime | None = None) -> dict:
    """One session's calls, attempts, replay runs, alarm verdicts and its model's neighbouring calls."""
    params = {"session_id": session_id}
    calls = store.execute(_CALLS, params).records()
    replays = store.execute(_REPLAYS, params).records()
    remembered = memory is not None and any(
        i.get("session_id") == session_id for i in memory.load()["incidents"].values()
    )
    if not calls and not replays and not remembered:
        # (a row gone from the logs, retention or logrotate, is still shown from the alarm's memory)
        raise ForensicsError(f"no call and no replay run has session_id {escape(repr(session_id))} in the logs read")
    attempts: dict[tuple, list[dict]] = {}
    for a in store.query("session_attempts", params).records():
        attempts.setdefault((a["source_file"], a["line"]), []).append(
            {k: a[k] for k in ("iteration", "position", "verdict_kind", "error", "span_id")}
        )
    for c in calls:
        c["attempts_in_order"] = attempts.get((c["source_file"], c["line"]), [])
        if isinstance(c.get("artifact"), str):
            c["artifact"] = json.loads(c["artifact"])
    neighbours = {}
    for model in dict.fromkeys(c.get("model") for c in calls):
        neighbours[model] = store.execute(_AROUND, {**params, "model": model, "n": around}).records()
    return plain(
        {
            "session_id": session_id,
            "generated_at": now or datetime.now(UTC),
            "calls": calls,
            "replay_runs": replays,
            "alarms": _alarm_verdicts(store, session_id, memory),
            "around": [{"model": m, "calls": rows} for m, rows in neighbours.items()],
            "around_n": around,
        }
    )


def _alarm_verdicts(store, session_id: str, memory) -> list[dict]:
    """Each alarm query's rows for this session, with what the alarm's memory says of them."""
    remembered = {}
    if memory is not None:
        remembered = {k: i for k, i in memory.load()["incidents"].items() if i.get("session_id") == session_id}
    out = []
    for q, r in _alarm_rows(store, session_id):
        key = identity(q.name, r, _rest(r))
        key = key if key in remembered else legacy_identity(q.name, r, _rest(r))
        inc = remembered.pop(key, None)
        out.append(
            {
                "alarm": q.name,
                "severity": q.severity,
                "source_file": r.get("source_file"),
                "line": r.get("line"),
                "timestamp": r.get("timestamp"),
                "state": (inc or {}).get("state", "not notified" if memory is not None else "no memory"),
                **{
                    k: (inc or {}).get(k)
                    for k in ("first_seen", "last_notified", "acknowledged_at", "acknowledged_by", "note")
                },
            }
        )
    for inc in remembered.values():  # remembered, but its row no longer violates (or is gone)
        out.append(
            {
                "alarm": inc.get("alarm"),
                "severity": inc.get("severity"),
                **{k: (inc.get("row") or {}).get(k) for k in ("source_file", "line", "timestamp")},
                "state": f"{inc.get('state')} (no longer found)",
                **{
                    k: inc.get(k) for k in ("first_seen", "last_notified", "acknowledged_at", "acknowledged_by", "note")
                },
            }
        )
    return out


def render_incident(data: dict, fmt: str = "markdown") -> str:
    """The incident as markdown, standalone HTML or one JSON object."""
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2)
    name = {"markdown": "incident.md.j2", "html": "incident.html.j2"}.get(fmt)
    if name is None:
        raise ForensicsError(f"unknown incident format {fmt!r}; try one of: {', '.join(INCIDENT_FORMATS)}")
    from ..pages import environment

    env = environment()
    env.filters.update(
        block=_block, pretty=_pretty, evidence=_evidence, esc=lambda v: escape(str(v)) if v is not None else ""
    )
    return env.get_template(name).render(**data)


def _pretty(value: Any) -> str:
    """A structure as indented JSON (for an artifact or a retrieval)."""
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, indent=2) if not isinstance(value, str) else value


def _evidence(value: Any) -> str:
    """Untrusted text for a page's <pre>: its lines and indentation kept, every other control character shown escaped."""
    return "\n".join("\t".join(escape(part) for part in line.split("\t")) for line in _pretty(value).split("\n"))


def _block(value: Any, lang: str = "") -> str:
    """Untrusted text as a markdown code block whose fence no run of backticks in it can close."""
    text = "\n".join(escape(line) for line in _pretty(value).split("\n"))
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"
