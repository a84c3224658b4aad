"""A busy week for the rendered report: long model names, one real drop, three acknowledged incidents.

Shared by the headline's tests, the Chromium checks and `docs/screenshots/render.py`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from .conftest import replay, session, write_jsonl

NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)  # the Monday after 2026-W46
MODELS = {
    # model: (first-shot out of 40 last week, this week)
    "mistral-small:24b-instruct-2501-q4_K_M": (34, 20),
    "qwen3.5:latest": (30, 31),
    "llama3.3:70b-instruct-q8_0": (24, 26),
    "gemma3:27b": (12, 9),
}


def sessions() -> list[dict]:
    """40 calls a model a week in W45 and W46, first shots as in MODELS, a few exhausted and infra errors."""
    rows = []
    for m, (before, now) in MODELS.items():
        for week, (first, day) in enumerate(((before, 3), (now, 10))):
            for i in range(40):
                ts = f"2026-11-{day + i % 5:02d}T{8 + i % 9:02d}:{i:02d}:1{i % 10}.{i:03d}Z"
                sid = f"sess-{m[:6].replace(':', '')}-w{week}-{i:03d}-7f3a9c2e"
                if i < first:
                    # two accepted fills whose roster check did not run: the warn alarm's incidents
                    unchecked = m.startswith("qwen") and week == 1 and i in (12, 13)
                    rows.append(
                        session(sid, model=m, ts=ts, duration_ms=900 + 37 * i, grounded=None if unchecked else True)
                    )
                elif i < 37:
                    rows.append(session(sid, model=m, ts=ts, attempts=["validation_failed", "accepted"]))
                elif i < 39:
                    rows.append(session(sid, model=m, ts=ts, verdict="max_iter_exhausted", duration_ms=4000))
                else:
                    rows.append(session(sid, model=m, ts=ts, verdict="infra_error", duration_ms=30000))
    rows.append(session("sess-ungrounded-0001-7f3a9c2e", model="gemma3:27b", ts="2026-11-11T10:00:00Z", grounded=False))
    return rows


INCIDENTS = [
    (
        "ungrounded_accepted",
        "critical",
        "sess-ungrounded-0001-7f3a9c2e",
        "2026-11-11T10:02:13.412Z",
        "2026-11-11T10:31:40.9Z",
    ),
    (
        "unverified_accepted_fill",
        "warn",
        "sess-qwen3.-w1-012-7f3a9c2e",
        "2026-11-12T03:15:00.5Z",
        "2026-11-12T08:01:02Z",
    ),
    (
        "unverified_accepted_fill",
        "warn",
        "sess-qwen3.-w1-013-7f3a9c2e",
        "2026-11-12T03:15:00.5Z",
        "2026-11-12T08:01:02Z",
    ),
]


def write(folder: Path, *, incidents: bool = True, acknowledged: bool = True) -> tuple[Path, Path, Path]:
    """The logs and the alarm's memory (its events log, as `alarm --state` keeps it): (sessions, replays, state)."""
    s = write_jsonl(folder / "sessions.jsonl", sessions())
    r = write_jsonl(
        folder / "replay_runs.jsonl", [replay(f"sess-qwen3.-w1-{i:03d}-7f3a9c2e", i % 7) for i in range(20)]
    )
    state = folder / "alarm-state.json"
    events = folder / "alarm-state.events.jsonl"
    lines = []
    for k, (alarm, severity, sid, seen, acked) in enumerate(INCIDENTS if incidents else []):
        common = {"identity": f"id-{k}", "alarm": alarm, "severity": severity, "session_id": sid}
        lines.append({**common, "event": "new", "at": seen})
        if acknowledged or k:  # unacknowledged: the first incident stays open
            lines.append(
                {**common, "event": "acknowledged", "at": acked, "by": "oncall.jane-doe", "note": "known flake"}
            )
    events.write_text("".join(json.dumps(e) + "\n" for e in lines))
    return s, r, state
