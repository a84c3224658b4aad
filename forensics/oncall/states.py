"""The alarm's states: each run's rows reconciled with the memory (new, firing, reminded, resolved),
and acknowledgements. The memory's file itself is memory.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..errors import ForensicsError, ParameterError
from ..output import escape, iso_utc, plain, plural
from .conditions import keyed_identity, reopen, settle
from .memory import ROW_MEMORY, Memory, identity, legacy_identity, who
from .problems import older, reconcile_notices, reconcile_problems
from .silences import cover


class MemoryBusy(ForensicsError):
    """The alarm's memory stayed locked by another run (or an `ack`) past the wait: this run could not evaluate."""


@dataclass
class Reconciled:
    """One run's violations against the memory: each row's state, reminders, resolutions, events."""

    items: list[dict] = field(default_factory=list)
    reminders: list[dict] = field(default_factory=list)
    resolved: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    recovered: list[dict] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)  # identities found gone before acknowledged, this run
    notices: list[str] = field(default_factory=list)  # the notices to say this run
    expired_silences: list[dict] = field(default_factory=list)  # silences ended, with what they covered and still fires
    # Saves the memory once what it records has been said (see `remember`); without one, nothing to save.
    commit: Callable[..., None] = lambda said=True: None


def reconcile(
    state: dict,
    found: list[dict],
    *,
    now: datetime,
    repeat: timedelta,
    gone: Callable[[dict[str, dict]], set[str]] | None = None,
    remind: set[str] = frozenset({"critical"}),
    alarms: set[str] | None = None,
    silences: list[dict] | None = None,
) -> Reconciled:
    """Give each violating row its state and change the memory in place.

    ``found`` holds this run's violating rows (each with alarm, severity and the row keys).
    An incident tracked but not found this run (its row left the window) stays as it was
    and is still reported, unless ``gone`` (given those incidents) says its row is no
    longer in the logs: then it is resolved, once. A condition alarm's incident (`keyed_by`) not
    found while its alarm ran has cleared: resolved (see conditions.py). ``silences`` (None: they
    could not be read) cover the firing incidents they match (see silences.py).
    """
    incidents: dict[str, dict] = state.setdefault("incidents", {})
    out = Reconciled()
    at = iso_utc(now)
    fresh: set[str] = set()
    seen: set[str] = set()
    out.events += reopen(state, found, now=now, repeat=repeat)
    for item in found:
        key = item["identity"] = keyed_identity(item) or identity(item["alarm"], item, item.get("row"))
        old = None if item.get("keyed_by") else legacy_identity(item["alarm"], item, item.get("row"))
        if key not in incidents and old in incidents and old not in seen:
            incidents[key] = incidents.pop(old)  # a memory of version 2: the same incident, by its new name
        inc = incidents.get(key)
        if inc is None:
            inc = incidents[key] = {
                "alarm": item["alarm"],
                "severity": item["severity"],
                "session_id": plain(item.get("session_id")),
                "first_seen": at,
                "last_notified": at,
                "state": "firing",
                **({"keyed_by": list(item["keyed_by"])} if item.get("keyed_by") else {}),
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
    for key in seen:
        incidents[key].pop("gone_at", None)  # (a row met again is not gone)
    # An alarm not run (a query removed, or a run by hand without cron's --queries-dir) and a row
    # gone from the logs resolve an incident once acknowledged (or a warning). A critical one not
    # acknowledged stays firing until it is: its row may still be there, outside any later window.
    unrun = {k for k, i in unseen.items() if alarms is not None and i.get("alarm") not in alarms}
    dropped = {k for k in unrun if not (incidents[k]["state"] == "firing" and incidents[k]["severity"] == "critical")}
    cleared = {k for k, i in unseen.items() if i.get("keyed_by") and alarms is not None and i["alarm"] in alarms}
    dropped |= cleared
    vanished = (gone(unseen) if gone is not None and unseen else set()) - unrun - cleared
    for key in sorted(vanished):
        inc = incidents[key]
        if inc["state"] == "firing" and inc["severity"] == "critical":
            if "gone_at" not in inc:
                inc["gone_at"] = at
                out.gone.append(key)
                out.events.append(_event(at, "gone", inc, key))
        else:
            dropped.add(key)
    popped: dict[str, dict] = {}
    for key in sorted(dropped):
        inc = popped[key] = incidents.pop(key)
        out.resolved.append(
            {
                "identity": key,
                **{
                    k: inc.get(k)
                    for k in (
                        "alarm",
                        "severity",
                        "session_id",
                        "first_seen",
                        "state",
                        "acknowledged_at",
                        "acknowledged_by",
                    )
                },
                **_remembered_row(inc),
                **({"keyed_by": inc["keyed_by"]} if inc.get("keyed_by") else {}),
            }
        )
        out.events.append(_event(at, "resolved", inc, key))
    out.resolved = settle(state, out.resolved, popped, out.events, now=now, repeat=repeat)
    for key, inc in incidents.items():
        if key not in seen:  # still open, its row outside this run's window
            out.items.append(
                {
                    "alarm": inc["alarm"],
                    "severity": inc["severity"],
                    "session_id": inc.get("session_id"),
                    **_remembered_row(inc),
                    "identity": key,
                    "state": inc["state"],
                    "in_window": False,
                    **({"alarm_not_run": True} if key in unrun else {}),
                }
            )

    covered: dict[str, str] = {}
    if silences is not None:
        covered, out.expired_silences = cover(incidents, silences, now=now)
        for e in out.events:
            if e.get("event") == "new" and e.get("identity") in covered:
                e["silenced_by"] = covered[e["identity"]]  # (the report says so of the incident)
        out.events += [
            {
                "at": at,
                "event": "silence-ended",
                "silence": e["silence"],
                "still_firing": e["still_firing"],
                "by": who(),
            }
            for e in out.expired_silences
        ]
    # One reminder per alarm whose open rows were last notified longer ago than --repeat
    # (severities in ``remind``: a warning is said once, unless warnings fail the run; a
    # condition back quietly is said once a --repeat after its resolution); none while silenced.
    due: dict[str, list[str]] = {}
    for key, inc in incidents.items():
        if (
            key not in fresh
            and key not in covered
            and inc["state"] == "firing"
            and (inc["severity"] in remind or inc.get("reopened"))
            and older(inc.get("last_notified"), now - repeat)
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
            incidents[k].pop("reopened", None)
    for item in out.items:
        item.update(_public(incidents[item["identity"]]))
        if item["identity"] in covered and item["state"] in ("new", "firing"):
            # Not said, not counted against the exit code: listed with its silence (--verbose, JSON).
            item.update(state="silenced", silenced_by=covered[item["identity"]])
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
    identities: list[str] = (),
) -> list[dict]:
    """Acknowledge the open incidents of these sessions or ``identities`` (or all, with ``every``); the incidents changed.

    A session id or an identity that matches no open incident is an error and nothing is
    acknowledged: an on-call engineer's typo must not pass for an acknowledgement.
    """
    if every == bool(session_ids or identities):
        raise ParameterError("name the sessions (or --identity) to acknowledge, or pass --all (not both)")
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
            # (an identity names the incident of an id no shell can pass, as `alarm` printed it)
            chosen = [k for k, i in open_.items() if i.get("session_id") in set(session_ids) or k in set(identities)]
            missing = sorted(set(session_ids) - {open_[k].get("session_id") for k in chosen})
            unknown = sorted(set(identities) - set(chosen))
            if missing or unknown:
                where = f" of alarm {alarm}" if alarm else ""
                named = ([f"{plural(len(missing), 'session')} {', '.join(map(repr, missing))}"] if missing else []) + (
                    [f"{plural(len(unknown), 'identity')} {', '.join(map(repr, unknown))}"] if unknown else []
                )
                raise ParameterError(
                    f"no open incident{where} for {' and '.join(named)}: "
                    "nothing acknowledged (forensics alarm --verbose lists them)"
                )
        at = iso_utc(now)
        events = []
        for k in chosen:
            inc = incidents[k]
            inc.update(state="acknowledged", acknowledged_at=at, acknowledged_by=by, note=note)
            events.append(_event(at, "acknowledged", inc, k, by=by, note=note))
        if chosen:
            # The events first: a change the state holds is always in the log the report reads.
            memory.log(events)
            memory.save(state)
        return [
            {
                "identity": k,
                **_public(incidents[k]),
                "alarm": incidents[k]["alarm"],
                "session_id": incidents[k].get("session_id"),
            }
            for k in chosen
        ]


def _remembered_row(inc: dict) -> dict:
    """What the memory keeps of an incident's row (ROW_MEMORY), and nothing else: a row read back
    from the state never stands for the incident's alarm, severity, session or identity."""
    row = inc.get("row") or {}
    return {k: row.get(k) for k in ROW_MEMORY}


def _public(inc: dict) -> dict:
    """What a violation's JSON says of its memory."""
    out = {"first_seen": inc.get("first_seen"), "last_notified": inc.get("last_notified")}
    if inc.get("gone_at"):
        out["gone_at"] = inc["gone_at"]  # its row left the logs before it was acknowledged
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


def remember(
    memory: Memory | None,
    found: list[dict],
    *,
    now: datetime,
    repeat,
    gone,
    batch,
    outcome,
    remind,
    problems: list[tuple[str, str]] = (),
    whole: bool = True,
    alarms: set[str] | None = None,
    wait: float = -1,
    logs: list[str] | None = None,
    notices: list[str] = (),
    saved: Callable[[], object] | None = None,
    silences: list[dict] | None = None,
) -> Reconciled:
    """Reconcile this run's rows and problems with the memory; without one, all are new.

    Nothing is written yet: the result's `commit` saves the memory, and is called only once
    what it records as said has been said (a kill before then repeats a notification, never
    loses one). The memory's lock is held from here until `commit` (an `ack` meanwhile waits);
    it is waited for ``wait`` seconds (-1: for ever), then `MemoryBusy`. ``saved`` runs once the
    memory is saved (the store's retention may then drop what it has evaluated).
    """
    from filelock import Timeout

    def afresh() -> Reconciled:
        out = reconcile({"incidents": {}}, found, now=now, repeat=repeat, remind=remind)
        out.problems, out.recovered, _ = reconcile_problems({}, list(problems), now=now, repeat=repeat, whole=False)
        out.notices = list(notices)
        return out

    if memory is None:
        return afresh()
    lock = memory.lock()
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        # Another run holds it while it says what it found (its stdout may be a pipe nobody
        # reads): waiting for ever would stack every later cron run behind it, saying nothing.
        raise MemoryBusy(
            f"the alarm's memory {escape(str(memory.state_path))} is held by another forensics alarm or ack "
            f"(lock {escape(str(lock.lock_file))}); gave up after {wait:g}s"
        ) from None
    except OSError as exc:  # (a link planted at the lock's name is refused, never followed)
        outcome.paging.stderr_lines.append(
            f"warning: cannot lock the alarm's memory {escape(str(memory.state_path))} "
            f"({escape(exc.strerror or str(exc))}): this run is not recorded, and the next notifies its rows again"
        )
        return afresh()
    try:
        state = memory.load()
        result = reconcile(
            state, found, now=now, repeat=repeat, gone=gone, remind=remind, alarms=alarms, silences=silences
        )
        result.problems, result.recovered, events = reconcile_problems(
            state, list(problems), now=now, repeat=repeat, whole=whole
        )
        result.events += events
        result.notices = reconcile_notices(state, list(notices), now=now, repeat=repeat)
    except BaseException:
        lock.release()
        raise
    if batch is not None:  # (the store's last batch, when the store was made, the alarm queries run)
        through = state.get("through", {}) if state.get("store") == batch[1] else {}
        state["batch"], state["store"] = batch[:2]
        state["through"] = {**through, **{a: {"batch": batch[0], "at": iso_utc(now)} for a in batch[2]}}
    if logs is not None:  # (without a store: the live logs this memory has evaluated whole)
        state["logs"] = sorted(set(state.get("logs") or []) | set(logs))
    state["at"] = iso_utc(now)

    def commit(said: bool = True) -> None:
        try:
            if said:
                # The events first: a change the state holds is always in the log the report reads,
                # and a failed append leaves the state as it was (the next run says its rows again).
                memory.log(result.events)
                memory.save(state)
                if saved is not None:
                    saved()
        except OSError as exc:
            # The verdict stood and was said; the next run looks again at what this one saw.
            outcome.paging.stderr_lines.append(
                f"warning: cannot record this alarm in {escape(str(memory.state_path))} "
                f"({escape(exc.strerror or str(exc))}): the next run notifies its rows again"
            )
        finally:
            lock.release()

    result.commit = commit
    return result
