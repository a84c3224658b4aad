"""The messages one run's news makes: the webhook's versioned JSON document (docs/SESSION_LOG.md gives
its schema) and the mail-like text and subject, all from the same grouped sections."""

from __future__ import annotations

import socket
from datetime import datetime

from ..oncall.commands import program
from ..oncall.groups import group
from ..output import iso_utc
from .events import EVENTS, Changes
from .templates import render

VERSION = 1
# The document's keys, each with the JSON type it always has (docs/SESSION_LOG.md says what each means).
SCHEMA = {
    "version": int,
    "source": str,
    "test": bool,
    "at": str,
    "host": str,
    "subject": str,
    "text": str,
    "status": str,
    "exit_code": int,
    "events": list,
    "counts": dict,
    "groups": list,
    "rows_omitted": int,
    "groups_omitted": int,
    "reminders": list,
    "problems": list,
    "recovered": list,
    "descriptions": dict,
    "freshness": dict,
}
GROUP_SCHEMA = {"event": str, "labels": dict, "count": int, "head": str, "rows": list}
_WORDS = {"silence-expired": "firing again (silence expired)", "reminder": "reminded"}
_ROWS = ("new", "reminder", "resolved", "silence-expired")
# Groups listed per event at most (by size): a storm grouped by session must not make a document of megabytes.
MAX_GROUPS = 100


def sections(news: Changes, keys, max_rows: int) -> list[dict]:
    """Each event's rows grouped by ``keys``; ``max_rows`` rows shown in all, the first rows of each group."""
    out, budget = [], max_rows
    for event in _ROWS:
        rows = news.rows(event)
        if not rows:
            continue
        groups = group(rows, keys, budget)
        for g in groups[MAX_GROUPS:]:
            g.shown = []  # (a group not listed shows no row)
        shown = sum(len(g.shown) for g in groups)
        budget -= shown
        out.append(
            {
                "event": event,
                "count": len(rows),
                "omitted": len(rows) - shown,
                "groups_omitted": max(0, len(groups) - MAX_GROUPS),
                "groups": [
                    {
                        "event": event,
                        "labels": g.labels,
                        "count": g.count,
                        "head": g.head(_WORDS.get(event, event)),
                        "rows": g.shown,
                    }
                    for g in groups[:MAX_GROUPS]
                ],
            }
        )
    return out


def context(news: Changes, outcome, *, now: datetime, keys, max_rows: int, test: bool = False) -> dict:
    """What the templates and the document are made from."""
    parts = sections(news, keys, max_rows)
    counts = {e: len(news.rows(e)) for e in EVENTS}
    alarms = sorted({r["alarm"] for e in _ROWS for r in news.rows(e)} | {r["alarm"] for r in news.reminders})
    return {
        "host": socket.gethostname(),
        "at": iso_utc(now),
        "test": test,
        "status": outcome.status,
        "exit_code": outcome.exit_code,
        "events": news.kinds(),
        "counts": counts,
        "sections": parts,
        "reminders": news.reminders,
        "problems": news.problem,
        "recovered": news.recovered,
        "descriptions": {a: outcome.paging.descriptions[a] for a in alarms if outcome.paging.descriptions.get(a)},
        "alarms": alarms,
        "program": program(),
        # (on --engine spark: how fresh the store Spark read is, as the alarm's JSON says it)
        "freshness": outcome.freshness,
        "freshness_line": outcome.paging.freshness,
    }


def subject(ctx: dict, folder=None) -> str:
    """The one-line subject: what happened (counts by event), where, which alarms."""
    said = [f"{n} {_WORDS.get(e, e)}" for e, n in ctx["counts"].items() if n]
    lines = render("subject.txt.j2", {**ctx, "counts": said or ["nothing new"]}, folder).splitlines()
    return lines[0] if lines else ""  # (a user's template may say nothing)


def text(ctx: dict, folder=None, *, slack: bool = False) -> str:
    """The mail-like text: subject, each alarm's description once, the grouped rows, reminders, problems."""
    return render("message.txt.j2", {**ctx, "subject": subject(ctx, folder)}, folder, slack=slack)


def document(ctx: dict, folder=None) -> dict:
    """The webhook's JSON document (version 1): JSON-encoded as it is, never formatted into text."""
    return {
        "version": VERSION,
        "source": "forensics",
        "test": ctx["test"],
        "at": ctx["at"],
        "host": ctx["host"],
        "subject": subject(ctx, folder),
        "text": text(ctx, folder, slack=True),
        "status": ctx["status"],
        "exit_code": ctx["exit_code"],
        "events": ctx["events"],
        "counts": ctx["counts"],
        "groups": [g for s in ctx["sections"] for g in s["groups"]],
        "rows_omitted": sum(s["omitted"] for s in ctx["sections"]),
        "groups_omitted": sum(s["groups_omitted"] for s in ctx["sections"]),
        "reminders": ctx["reminders"],
        "problems": ctx["problems"],
        "recovered": ctx["recovered"],
        "descriptions": ctx["descriptions"],
        "freshness": ctx["freshness"] or {},  # (a key keeps its type: empty on DuckDB)
    }
