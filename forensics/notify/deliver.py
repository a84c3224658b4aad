"""`forensics alarm` with its receivers: the run's news queued in the ledger before the memory records it as
said, then sent; a receiver that fails is said on stderr and sent the same again next run. A failing
receiver never changes the exit code; stdout keeps cron's text."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..errors import ForensicsError, UsageError
from ..oncall import alarm as oncall_alarm
from ..oncall.options import AlarmOptions
from ..oncall.outcome import EXIT_USAGE, AlarmOutcome
from ..output import counted, escape, iso_utc
from . import alertmanager, command, webhook
from .document import context, document, subject, text
from .events import changes
from .ledger import Ledger, entry, ledger_path
from .settings import Settings, load_settings


@dataclass
class Delivered:
    """What delivery has to say: lines for stderr (failures), and under --dry-run what each receiver would get."""

    lines: list[str] = field(default_factory=list)
    preview: list[str] = field(default_factory=list)
    sent: int = 0


def messages(receiver, outcome, settings: Settings, *, now: datetime, max_rows: int, test: bool = False) -> list[dict]:
    """This run's messages for one receiver: a webhook's one document, a command's one message per event."""
    news = changes(outcome, receiver.severity)
    kinds = news.kinds()
    if not kinds or receiver.kind == "alertmanager":
        return []
    at, keys, folder = iso_utc(now), settings.group_by, settings.templates_dir
    if receiver.kind == "webhook":
        ctx = context(news, outcome, now=now, keys=keys, max_rows=max_rows, test=test)
        return [{"id": uuid.uuid4().hex, "at": at, "event": ",".join(kinds), "document": document(ctx, folder)}]
    out = []
    for event in kinds:
        ctx = context(news.only(event), outcome, now=now, keys=keys, max_rows=max_rows, test=test)
        out.append(
            {
                "id": uuid.uuid4().hex,
                "at": at,
                "event": event,
                "subject": subject(ctx, folder),
                "text": text(ctx, folder),
                "exit_code": outcome.exit_code,
            }
        )
    return out


def _send(receiver, message) -> object:
    return (webhook if receiver.kind == "webhook" else command).send(receiver, message)


def queue(ledger: Ledger, settings: Settings, outcome, *, now: datetime, max_rows: int) -> None:
    """Put this run's messages in the ledger (saved before the memory records the run as said)."""
    with ledger.locked():
        state = ledger.load()
        for r in settings.receivers:
            e = entry(state, r)
            if r.kind == "alertmanager":
                alertmanager.update(e["open"], outcome, r, now)
            else:
                e["pending"] += messages(r, outcome, settings, now=now, max_rows=max_rows)
        ledger.save(state)


def send_queued(ledger: Ledger, settings: Settings, *, now: datetime) -> Delivered:
    """Send every receiver what the ledger holds for it, oldest first; what one takes is dropped at once."""
    out = Delivered()
    with ledger.sending() as alone:
        if not alone:
            out.lines.append(
                "note: another forensics alarm is delivering to the receivers; what this run queued goes with the next"
            )
            return out
        for r in settings.receivers:
            with ledger.locked():
                e = entry(ledger.load(), r)
            if r.kind == "alertmanager":
                alerts = alertmanager.payload(e["open"], r, now)
                if not alerts:
                    continue
                answer = alertmanager.send(r, alerts)
                ended = {k: a["endsAt"] for k, a in e["open"].items() if a.get("endsAt")}
                _record(ledger, r, answer, now, ended=ended if answer.ok else {})
                kept = "its alerts are sent again next run"
            else:
                answer, left = None, len(e["pending"])
                for m in e["pending"]:
                    answer = _send(r, m)
                    # (saved at once: a kill after this answer sends only this message again)
                    _record(ledger, r, answer, now, taken=m["id"] if answer.ok or answer.refused else None)
                    if answer.refused:
                        # Kept, it would be refused at every run and hold every later message behind it.
                        left -= 1
                        out.lines.append(
                            f"warning: notify {escape(r.name)} ({r.kind}): refused {escape(m['event'])} of "
                            f"{escape(m['at'])}: {answer.said()}; that message is dropped (a 4xx is not retried)"
                        )
                        answer = None
                        continue
                    if not answer.ok:
                        break
                    out.sent += 1
                    left -= 1
                kept = (
                    f"{counted(left, 'message')} kept, sent again next run"
                    if ledger.path is not None
                    else "not kept: an alarm without a memory (--store or --state) does not retry"
                )
            if answer is not None and not answer.ok:
                out.lines.append(f"warning: notify {escape(r.name)} ({r.kind}): {answer.said()}; {kept}")
    return out


def _record(ledger: Ledger, receiver, answer, now: datetime, *, taken: str | None = None, ended=None) -> None:
    """The ledger after one answer: the message taken dropped, or the ended alerts sent forgotten."""
    with ledger.locked():
        state = ledger.load()
        e = entry(state, receiver)
        if taken is not None:
            e["pending"] = [m for m in e["pending"] if m["id"] != taken]
        for key, end in (ended or {}).items():
            if e["open"].get(key, {}).get("endsAt") == end:  # (ended, and sent as ended: forgotten)
                e["open"].pop(key)
        e["last"] = {"at": iso_utc(now), "ok": answer.ok, "how": answer.how}
        ledger.save(state)


def preview(ledger: Ledger, settings: Settings, outcome, *, now: datetime, max_rows: int) -> list[str]:
    """What each receiver would be sent this run (what it still holds, then this run's), as text."""
    lines = []
    if not settings.receivers:
        return ["no receivers ([[notify]] in forensics.toml, or --notify URL): nothing would be sent"]
    state = ledger.load()
    for r in settings.receivers:
        e = entry(state, r)
        if r.kind == "alertmanager":
            alertmanager.update(e["open"], outcome, r, now)
            alerts = alertmanager.payload(e["open"], r, now)
            lines.append(f"== {escape(r.name)} (alertmanager): {counted(len(alerts), 'alert')}")
            if alerts:
                lines.append(json.dumps(alerts, ensure_ascii=True, indent=1))
            continue
        queued = e["pending"] + messages(r, outcome, settings, now=now, max_rows=max_rows)
        lines.append(f"== {escape(r.name)} ({r.kind}): {counted(len(queued), 'message')}")
        for m in queued:
            if r.kind == "webhook":
                lines.append(json.dumps(m["document"], ensure_ascii=True, indent=1))
            else:
                lines.append(
                    f"-- FORENSICS_EVENT={m['event']} FORENSICS_EXIT={m['exit_code']} "
                    f"FORENSICS_SUBJECT={escape(m['subject'])}"
                )
                lines.append(m["text"])
    return lines


def alarm(
    opts: AlarmOptions,
    *,
    notify: list[str] | None = None,
    dry_run: bool = False,
    max_rows: int = 20,
    say: Callable[[AlarmOutcome], None] | None = None,
) -> tuple[AlarmOutcome, Delivered]:
    """Evaluate the alarm (as `oncall.alarm.evaluate`) and deliver its news to every receiver.

    ``say`` prints cron's text; under ``dry_run`` nothing is said, sent or recorded, and the
    returned preview holds what each receiver would be sent.
    """
    out = Delivered()
    try:
        settings = load_settings(opts.sources.config, notify)
    except UsageError as exc:
        outcome = AlarmOutcome(status="error", exit_code=EXIT_USAGE, reason=str(exc))
        if say is not None:
            say(outcome)
        return outcome, out
    recorded = {"ok": not dry_run}
    ledgers: list[Ledger] = []
    when: list[datetime] = []

    def said(outcome: AlarmOutcome) -> None:
        # (the time the alarm ran at: set on its options by the time it says what it found)
        now = opts.checks.now or datetime.now(UTC)
        when.append(now)
        outcome.paging.group_by = settings.group_by
        path = outcome.paging.memory_path
        ledger = Ledger(ledger_path(path) if path else None, wait=opts.lock.wait)
        ledgers.append(ledger)
        if dry_run:
            try:
                out.preview = preview(ledger, settings, outcome, now=now, max_rows=max_rows)
            except ForensicsError as exc:
                out.preview = [f"error: {exc}"]
            return
        if say is not None:
            say(outcome)
        if not settings.receivers:
            return
        try:
            queue(ledger, settings, outcome, now=now, max_rows=max_rows)
        except (ForensicsError, OSError) as exc:
            # Said on stdout but not queued: the memory does not record the run, so the next says it again.
            recorded["ok"] = False
            out.lines.append(
                f"warning: cannot queue this run's news for the receivers ({escape(getattr(exc, 'strerror', None) or str(exc))}); "
                "this run is not recorded, and the next says it again"
            )

    # (looked up on its module at each run: a test's clock or a wrapper set there applies)
    outcome = oncall_alarm.evaluate(opts, say=said, record=lambda: recorded["ok"])
    if settings.receivers and not dry_run and recorded["ok"] and ledgers:
        try:
            sent = send_queued(ledgers[-1], settings, now=when[-1])
        except (ForensicsError, OSError) as exc:
            sent = Delivered(
                lines=[
                    f"warning: the receivers were not sent this run's news ({escape(str(exc))}); the next run sends it"
                ]
            )
        out.lines += sent.lines
        out.sent = sent.sent
    return outcome, out


def notify_test(config=None, notify: list[str] | None = None, *, now: datetime | None = None) -> list[tuple]:
    """Send a planted incident through every receiver; (receiver, Answer) for each, in order."""
    settings = load_settings(config, notify)
    if not settings.receivers:
        raise UsageError("--notify-test: no receivers ([[notify]] in forensics.toml, or --notify URL)")
    now = now or datetime.now(UTC)
    results = []
    for r in settings.receivers:
        outcome = planted(r.severity[0], now)
        if r.kind == "alertmanager":
            open_: dict = {}
            alertmanager.update(open_, outcome, r, now)
            # (a test alert stands five minutes, then resolves by itself)
            answer = alertmanager.send(
                r, alertmanager.payload(open_, type(r)(r.url, r.severity, r.timeout, 300.0), now)
            )
        else:
            msgs = messages(r, outcome, settings, now=now, max_rows=20, test=True)
            answer = _send(r, msgs[0])
        results.append((r, answer))
    return results


TEST_ALARM = "notify_test"


def planted(severity: str, now: datetime) -> AlarmOutcome:
    """A made-up outcome with one new violation, for --notify-test."""
    outcome = AlarmOutcome(status="violations", exit_code=1)
    stamp = iso_utc(now)
    outcome.paging.descriptions = {TEST_ALARM: "a planted incident: forensics alarm --notify-test checks each receiver"}
    item = {
        "alarm": TEST_ALARM,
        "severity": severity,
        "session_id": "forensics-notify-test",
        "timestamp": stamp,
        "model": "notify-test",
        "kind": "test",
        "daemon": "forensics",
        "state": "new",
        "first_seen": stamp,
        "identity": f"notify-test-{uuid.uuid4().hex[:12]}",
        "incident": None,
    }
    (outcome.violations if severity == "critical" else outcome.warnings).append(item)
    return outcome
