"""An independent reference: every named query and the report's figures, computed in plain Python.

Written from the definitions in docs/SESSION_LOG.md ("What the figures mean") and from the wire
format, never from the SQL, and without DuckDB. tests/test_measures.py holds forensics to it.
Each query function returns the rows the named query should return, as dicts with its columns.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

Z = 1.96
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")
VERDICTS = ("accepted", "max_iter_exhausted", "infra_error")


# -- reading -----------------------------------------------------------------------------------


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 text as a UTC instant, the fraction cut to microseconds; None if it is not one."""
    if not isinstance(value, str):
        return None
    m = _RFC3339.match(value)
    if not m:
        return None
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        instant = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC)
    except ValueError:
        return None
    if offset != "Z":
        shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
        instant = instant - shift if offset[0] == "+" else instant + shift
    return instant


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _integer(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    return value if ok else None


def _boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


@dataclass
class Attempt:
    """One attempt as logged, with its 1-based position in the list."""

    position: int
    iteration: int | None
    verdict_kind: str | None
    error: str | None
    span_id: str | None


@dataclass
class Call:
    """One session row: a call of the iterate loop."""

    source_file: str
    line: int
    raw: dict
    session_id: str | None
    timestamp: datetime | None
    model: str | None
    kind: str | None
    daemon: str | None
    provider: str | None
    final_verdict: str | None
    attempts: list[Attempt] | None
    artifact: Any
    grounded: bool | None
    grounded_raw: Any
    duration_ms: int | None


@dataclass
class Replay:
    """One replay run."""

    source_file: str
    line: int
    session_id: str | None
    timestamp: datetime | None
    task_id: str | None
    model: str | None
    status: str | None
    retrieval: dict | None
    latency_ms: int | None

    @property
    def hits(self) -> int | None:
        """How many hits retrieval returned; None when the run has no hit list."""
        hits = (self.retrieval or {}).get("hits")
        return len(hits) if isinstance(hits, list) else None


def _objects(path: str):
    """(physical line number, object) for every line that is a JSON object."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                value = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                continue
            if isinstance(value, dict):
                yield number, value


def read_calls(paths: list[str]) -> list[Call]:
    """Every readable session row of the files."""
    calls = []
    for path in paths:
        for number, row in _objects(path):
            attempts = row.get("attempts")
            if isinstance(attempts, list):
                attempts = [
                    Attempt(
                        i,
                        _integer(a.get("iteration")),
                        _text(a.get("verdict_kind")),
                        _text(a.get("error")),
                        _text(a.get("span_id")),
                    )
                    for i, a in enumerate((a if isinstance(a, dict) else {} for a in attempts), start=1)
                ]
            else:
                attempts = None
            calls.append(
                Call(
                    source_file=path,
                    line=number,
                    raw=row,
                    session_id=_text(row.get("session_id")),
                    timestamp=parse_timestamp(row.get("timestamp")),
                    model=_text(row.get("model")),
                    kind=_text(row.get("kind")),
                    daemon=_text(row.get("daemon")),
                    provider=_text(row.get("provider")),
                    final_verdict=_text(row.get("final_verdict")),
                    attempts=attempts,
                    artifact=row.get("artifact"),
                    grounded=_boolean(row.get("grounded_in_roster")),
                    grounded_raw=row.get("grounded_in_roster"),
                    duration_ms=_integer(row.get("duration_ms")),
                )
            )
    return calls


def read_replays(paths: list[str]) -> list[Replay]:
    """Every readable replay row of the files."""
    out = []
    for path in paths:
        for number, row in _objects(path):
            retrieval = row.get("retrieval")
            out.append(
                Replay(
                    path,
                    number,
                    _text(row.get("session_id")),
                    parse_timestamp(row.get("timestamp")),
                    _text(row.get("task_id")),
                    _text(row.get("model")),
                    _text(row.get("status")),
                    retrieval if isinstance(retrieval, dict) else None,
                    _integer(row.get("latency_ms")),
                )
            )
    return out


# -- the definitions ---------------------------------------------------------------------------


def in_order(call: Call) -> list[Attempt]:
    """The attempts by iteration (none last), then by position in the list."""
    return sorted(call.attempts or [], key=lambda a: (a.iteration is None, a.iteration or 0, a.position))


def reached_model(call: Call) -> bool:
    """Accepted or exhausted: the model was asked."""
    return call.final_verdict in ("accepted", "max_iter_exhausted")


def first_shot(call: Call) -> bool:
    """Accepted, and the first attempt in order is the accepted one, at iteration 0."""
    ordered = in_order(call)
    return (
        call.final_verdict == "accepted"
        and bool(ordered)
        and ordered[0].verdict_kind == "accepted"
        and ordered[0].iteration == 0
    )


def attempts_to_accept(call: Call) -> int | None:
    """The first accepted attempt's place in order (1 = first shot), on accepted calls."""
    if call.final_verdict != "accepted":
        return None
    for place, attempt in enumerate(in_order(call), start=1):
        if attempt.verdict_kind == "accepted":
            return place
    return None


def rejection_runs(call: Call) -> list[list[Attempt]]:
    """Runs of validation_failed attempts next to each other in order."""
    runs, current = [], []
    for attempt in in_order(call):
        if attempt.verdict_kind == "validation_failed":
            current.append(attempt)
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def fold(error: str | None) -> str:
    """Quoted values (either quote, the first to open) to '<v>', then staff ids to W-<n>, then lone numbers to <n>."""
    text = error or ""
    text = re.sub(r"""'[^']*'|"[^"]*\"""", "'<v>'", text)
    text = re.sub(r"W-[0-9]+", "W-<n>", text)
    return re.sub(r"\b[0-9]+\b", "<n>", text, flags=re.ASCII)


def wilson(k: int, n: int) -> tuple[float | None, float | None]:
    """The 95% Wilson score interval of k in n."""
    if n == 0:
        return None, None
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


def newcombe(k1: int, n1: int, k0: int, n0: int) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10) for k1/n1 - k0/n0."""
    p1, p0 = k1 / n1, k0 / n0
    l1, u1 = wilson(k1, n1)
    l0, u0 = wilson(k0, n0)
    return (p1 - p0 - math.hypot(p1 - l1, u0 - p0), p1 - p0 + math.hypot(u1 - p1, p0 - l0))


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default method)."""
    xs = sorted(values)
    if not xs:
        return None
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def iso_week(instant: datetime) -> str:
    """The ISO week of a UTC instant, as 2026-W46."""
    year, week, _ = instant.astimezone(UTC).date().isocalendar()
    return f"{year}-W{week:02d}"


def _monday(instant: datetime) -> date:
    day = instant.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


# -- selection and ordering, as the queries do them ---------------------------------------------


def in_window(ts: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    """A report query's window: a row with no time is outside any bound."""
    if since is not None and (ts is None or ts < since):
        return False
    return not (until is not None and (ts is None or ts >= until))


def in_alarm_window(ts, since, until) -> bool:
    """An alarm query's window: a row with no time is in every window."""
    return ts is None or in_window(ts, since, until)


def _pick(calls, since=None, until=None, model=None, kind=None):
    return [
        c
        for c in calls
        if in_window(c.timestamp, since, until)
        and (model is None or c.model == model)
        and (kind is None or c.kind == kind)
    ]


def nulls_last(value):
    """An ascending sort key that puts None last, as DuckDB does."""
    return (value is None, value if value is not None else 0)


def _model_order(model):
    return (model is None, model or "")


def _group(rows, key):
    groups = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    return groups


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


# -- the named queries ---------------------------------------------------------------------------


def first_shot_success_rate(calls, since=None, until=None, model=None, kind=None):
    """First shots out of the calls that reached the model, per model."""
    out = []
    for m, group in sorted(
        _group(_pick(calls, since, until, model, kind), lambda c: c.model).items(), key=lambda kv: _model_order(kv[0])
    ):
        n = sum(reached_model(c) for c in group)
        k = sum(first_shot(c) for c in group)
        low, high = wilson(k, n)
        infra = sum(c.final_verdict == "infra_error" for c in group)
        out.append(
            {
                "model": m,
                "reached_model": n,
                "first_shot": k,
                "rate": _rate(k, n),
                "ci_low": low,
                "ci_high": high,
                "infra_error": infra,
                "unknown_verdict": len(group) - n - infra,
            }
        )
    return out


def clean_first_shot(calls, since=None, until=None, model=None, kind=None):
    """First shots with a non-empty artifact."""
    rows = [
        c
        for c in _pick(calls, since, until, model, kind)
        if first_shot(c) and c.artifact is not None and c.artifact not in ({}, [], "")
    ]
    rows.sort(key=lambda c: (nulls_last(c.timestamp), nulls_last(c.session_id)))
    return [
        {
            "session_id": c.session_id,
            "timestamp": c.timestamp,
            "model": c.model,
            "kind": c.kind,
            "daemon": c.daemon,
            "artifact": c.artifact,
            "source_file": c.source_file,
            "line": c.line,
        }
        for c in rows
    ]


def attempts_to_accept_query(calls, since=None, until=None, model=None):
    """Accepted calls per model by attempts to accept."""
    accepted = [c for c in _pick(calls, since, until, model) if c.final_verdict == "accepted"]
    out = []
    for m, group in _group(accepted, lambda c: c.model).items():
        for n, same in _group(group, attempts_to_accept).items():
            out.append({"model": m, "attempts_to_accept": n, "calls": len(same), "share": len(same) / len(group)})
    out.sort(key=lambda r: (_model_order(r["model"]), nulls_last(r["attempts_to_accept"])))
    return out


def model_weekly_summary(calls, since=None, until=None, model=None):
    """Per UTC ISO week and model: volume, verdicts, first shots, attempts, durations."""
    timed = [c for c in _pick(calls, since, until, model) if c.timestamp is not None]
    out = []
    for (_week, m), group in sorted(
        _group(timed, lambda c: (_monday(c.timestamp), c.model)).items(),
        key=lambda kv: (kv[0][0], _model_order(kv[0][1])),
    ):
        reached = [c for c in group if reached_model(c)]
        k = sum(first_shot(c) for c in group)
        low, high = wilson(k, len(reached))
        places = [p for p in map(attempts_to_accept, group) if p is not None]
        every = [c.duration_ms for c in group if c.duration_ms is not None]
        asked = [c.duration_ms for c in reached if c.duration_ms is not None]
        out.append(
            {
                "week": iso_week(group[0].timestamp),
                "model": m,
                "calls": len(group),
                "reached_model": len(reached),
                "accepted": sum(c.final_verdict == "accepted" for c in group),
                "first_shot": k,
                "first_shot_rate": _rate(k, len(reached)),
                "ci_low": low,
                "ci_high": high,
                "max_iter_exhausted": sum(c.final_verdict == "max_iter_exhausted" for c in group),
                "infra_error": sum(c.final_verdict == "infra_error" for c in group),
                "mean_attempts_to_accept": sum(places) / len(places) if places else None,
                "p50_duration_ms": percentile(every, 0.5),
                "p95_duration_ms": percentile(every, 0.95),
                "p50_reached_model_ms": percentile(asked, 0.5),
                "p95_reached_model_ms": percentile(asked, 0.95),
            }
        )
    return out


def first_shot_drop(calls, baseline=None, recent=None, until=None, min_calls=30):
    """Models whose first-shot rate since ``recent`` is below the one from ``baseline`` to it (Newcombe's interval)."""
    from forensics.timewindow import parse_time

    baseline, recent = parse_time(baseline or "29d"), parse_time(recent or "24h")
    out = []
    picked = [c for c in calls if c.timestamp is not None and c.timestamp >= baseline]
    picked = [c for c in picked if until is None or c.timestamp < until]
    for m, group in sorted(_group(picked, lambda c: c.model).items(), key=lambda kv: _model_order(kv[0])):
        new = [c for c in group if c.timestamp >= recent]
        old = [c for c in group if c.timestamp < recent]
        n1, k1 = sum(map(reached_model, new)), sum(map(first_shot, new))
        n0, k0 = sum(map(reached_model, old)), sum(map(first_shot, old))
        if n1 < max(min_calls, 1) or n0 < max(min_calls, 1):
            continue
        low, high = newcombe(k1, n1, k0, n0)
        if high < 0:
            out.append(
                {
                    "model": m,
                    "recent_calls": n1,
                    "recent_rate": k1 / n1,
                    "baseline_calls": n0,
                    "baseline_rate": k0 / n0,
                    "change_low": low,
                    "change_high": high,
                }
            )
    return out


def failure_streak(rows, since=None, until=None, calls=5):
    """Models whose last ``calls`` calls (newest first by time) all ended max_iter_exhausted or infra_error."""
    n = max(calls, 1)
    placed = [c for c in rows if c.timestamp is not None and in_window(c.timestamp, since, until)]
    out = []
    for m, group in sorted(_group(placed, lambda c: c.model).items(), key=lambda kv: _model_order(kv[0])):
        group.sort(key=lambda c: (c.kind is None, c.kind or "", c.daemon is None, c.daemon or ""))
        group.sort(key=lambda c: (c.final_verdict is None, c.final_verdict or ""))
        group.sort(key=lambda c: (c.session_id is not None, c.session_id or ""), reverse=True)
        group.sort(key=lambda c: c.timestamp, reverse=True)
        last = group[:n]
        if len(last) < n or not all(c.final_verdict in ("max_iter_exhausted", "infra_error") for c in last):
            continue
        top = last[0]
        out.append(
            {
                "session_id": top.session_id,
                "timestamp": top.timestamp,
                "model": m,
                "kind": top.kind,
                "daemon": top.daemon,
                "calls": n,
                "max_iter_exhausted": sum(c.final_verdict == "max_iter_exhausted" for c in last),
                "infra_error": sum(c.final_verdict == "infra_error" for c in last),
                "streak_since": last[-1].timestamp,
            }
        )
    return out


def three_consecutive_rejections(calls, since=None, until=None, model=None, min_run=3):
    """Calls whose longest run of adjacent rejections is at least min_run."""
    out = []
    for c in _pick(calls, since, until, model):
        runs = rejection_runs(c)
        if not runs:
            continue
        longest = max(len(r) for r in runs)
        first_longest = next(r for r in runs if len(r) == longest)
        if longest >= min_run:
            out.append(
                {
                    "session_id": c.session_id,
                    "timestamp": c.timestamp,
                    "model": c.model,
                    "kind": c.kind,
                    "longest_run": longest,
                    "errors": " | ".join(a.error or "" for a in first_longest),
                    "final_verdict": c.final_verdict,
                    "source_file": c.source_file,
                    "line": c.line,
                }
            )
    out.sort(key=lambda r: (nulls_last(r["timestamp"]), nulls_last(r["session_id"])))
    return out


def top_rejection_errors(calls, since=None, until=None, model=None, top=5):
    """The most common folded rejection reasons per model."""
    rejected = []
    for c in _pick(calls, since, until, model):
        for a in c.attempts or []:
            if a.verdict_kind in ("validation_failed", "no_json"):
                reason = "(no JSON in the answer)" if a.verdict_kind == "no_json" else fold(a.error)
                rejected.append((c.model, (reason, error_class(a.verdict_kind, a.error)), c.session_id, a.error))
    out = []
    for m, group in _group(rejected, lambda r: r[0]).items():
        rows = []
        for (reason, cls), same in _group(group, lambda r: r[1]).items():
            errors = [r[3] for r in same if r[3] is not None]
            rows.append(
                {
                    "model": m,
                    "error_class": cls,
                    "reason": reason,
                    "rejections": len(same),
                    "sessions": len({r[2] for r in same if r[2] is not None}),
                    "example": min(errors) if errors else None,
                }
            )
        rows.sort(key=lambda r: (-r["rejections"], r["reason"], r["error_class"]))
        out += rows[:top]
    out.sort(key=lambda r: (_model_order(r["model"]), -r["rejections"], r["reason"], r["error_class"]))
    return out


def ungrounded_accepted(calls, since=None, until=None):
    """Accepted rows whose roster verdict is false."""
    rows = [
        c
        for c in calls
        if in_alarm_window(c.timestamp, since, until) and c.final_verdict == "accepted" and c.grounded is False
    ]
    rows.sort(key=lambda c: (nulls_last(c.timestamp), nulls_last(c.session_id)))
    return [
        {
            "session_id": c.session_id,
            "timestamp": c.timestamp,
            "model": c.model,
            "kind": c.kind,
            "daemon": c.daemon,
            "provider": c.provider,
            "source_file": c.source_file,
            "line": c.line,
        }
        for c in rows
    ]


def ungrounded_unknown_verdict(calls, since=None, until=None):
    """Rows with a false roster verdict and a final verdict the format does not know."""
    rows = [
        c
        for c in calls
        if in_alarm_window(c.timestamp, since, until)
        and c.grounded is False
        and c.final_verdict not in ("accepted", "max_iter_exhausted", "infra_error")
    ]
    rows.sort(key=lambda c: (nulls_last(c.timestamp), nulls_last(c.session_id)))
    return [
        {
            "session_id": c.session_id,
            "timestamp": c.timestamp,
            "model": c.model,
            "kind": c.kind,
            "daemon": c.daemon,
            "final_verdict": c.final_verdict,
            "source_file": c.source_file,
            "line": c.line,
        }
        for c in rows
    ]


def unverified_accepted_fill(calls, since=None, until=None):
    """Accepted fills without a boolean roster verdict."""
    rows = [
        c
        for c in calls
        if in_alarm_window(c.timestamp, since, until)
        and c.final_verdict == "accepted"
        and c.kind == "fill"
        and c.grounded is None
    ]
    rows.sort(key=lambda c: (nulls_last(c.timestamp), nulls_last(c.session_id)))
    return [
        {
            "session_id": c.session_id,
            "timestamp": c.timestamp,
            "model": c.model,
            "kind": c.kind,
            "daemon": c.daemon,
            "provider": c.provider,
            "grounded_in_roster_raw": c.grounded_raw,
            "source_file": c.source_file,
            "line": c.line,
        }
        for c in rows
    ]


_BUCKETS = ("no replay", "0", "1-2", "3-5", "6+")


def hits_bucket(hits: int | None) -> str:
    """The retrieval-depth bucket of a call's most hits."""
    if hits is None:
        return "no replay"
    if hits == 0:
        return "0"
    return "1-2" if hits <= 2 else "3-5" if hits <= 5 else "6+"


def retrieval_depth_vs_first_shot(calls, replays, since=None, until=None, model=None):
    """First-shot rate per model by the most hits of the session's replay runs."""
    picked = [c for c in _pick(calls, since, until, model) if reached_model(c) or c.final_verdict == "infra_error"]
    depth: dict[str, int] = {}
    for r in replays:
        if r.session_id is not None:
            depth[r.session_id] = max(depth.get(r.session_id, 0), r.hits or 0)
    out = []
    for (m, bucket), group in _group(picked, lambda c: (c.model, hits_bucket(depth.get(c.session_id)))).items():
        n = sum(reached_model(c) for c in group)
        k = sum(first_shot(c) for c in group)
        low, high = wilson(k, n)
        out.append(
            {
                "model": m,
                "hits_bucket": bucket,
                "reached_model": n,
                "first_shot": k,
                "rate": _rate(k, n),
                "ci_low": low,
                "ci_high": high,
                "infra_error": sum(c.final_verdict == "infra_error" for c in group),
            }
        )
    out.sort(key=lambda r: (_model_order(r["model"]), _BUCKETS.index(r["hits_bucket"])))
    return out


def verdict_breakdown(calls, since=None, until=None, model=None):
    """Calls per model and final verdict."""
    out = []
    for m, group in _group(_pick(calls, since, until, model), lambda c: c.model).items():
        for verdict, same in _group(group, lambda c: c.final_verdict).items():
            out.append({"model": m, "final_verdict": verdict, "calls": len(same), "share": len(same) / len(group)})
    out.sort(key=lambda r: (_model_order(r["model"]), -r["calls"], nulls_last(r["final_verdict"])))
    return out


def infra_error_rate(calls, since=None, until=None):
    """Infra errors per UTC day and provider."""
    timed = [c for c in _pick(calls, since, until) if c.timestamp is not None]
    out = []
    for (day, provider), group in _group(timed, lambda c: (c.timestamp.date(), c.provider)).items():
        infra = sum(c.final_verdict == "infra_error" for c in group)
        out.append(
            {"day": day, "provider": provider, "calls": len(group), "infra_errors": infra, "rate": infra / len(group)}
        )
    out.sort(key=lambda r: (r["day"], nulls_last(r["provider"])))
    return out


def orphans(calls, replays):
    """Session ids in one stream and not the other."""

    def ids(rows):
        seen = _group([r for r in rows if r.session_id is not None], lambda r: r.session_id)
        return {sid: (len(g), [r.timestamp for r in g if r.timestamp is not None]) for sid, g in seen.items()}

    sessions, runs = ids(calls), ids(replays)
    out = []
    for direction, mine, other in (
        ("session_without_replay", sessions, runs),
        ("replay_without_session", runs, sessions),
    ):
        for sid, (n, times) in mine.items():
            if sid not in other:
                out.append(
                    {
                        "direction": direction,
                        "session_id": sid,
                        "rows": n,
                        "first_seen": min(times) if times else None,
                        "last_seen": max(times) if times else None,
                    }
                )
    out.sort(key=lambda r: (r["direction"], nulls_last(r["first_seen"]), r["session_id"]))
    return out


def session_attempts(calls, session_id):
    """One session id's calls, each one's attempts in order."""
    rows = sorted(
        (c for c in calls if c.session_id == session_id), key=lambda c: (nulls_last(c.timestamp), c.source_file, c.line)
    )
    return [
        {
            "session_id": c.session_id,
            "timestamp": c.timestamp,
            "model": c.model,
            "kind": c.kind,
            "final_verdict": c.final_verdict,
            "iteration": a.iteration,
            "position": a.position,
            "verdict_kind": a.verdict_kind,
            "error": a.error,
            "span_id": a.span_id,
            "source_file": c.source_file,
            "line": c.line,
        }
        for c in rows
        for a in in_order(c)
    ]


def session_replays(replays, session_id):
    """One session id's replay runs."""
    rows = sorted(
        (r for r in replays if r.session_id == session_id),
        key=lambda r: (nulls_last(r.timestamp), r.source_file, r.line),
    )
    out = []
    for r in rows:
        hits = (r.retrieval or {}).get("hits")
        out.append(
            {
                "session_id": r.session_id,
                "timestamp": r.timestamp,
                "task_id": r.task_id,
                "model": r.model,
                "status": r.status,
                "hits": r.hits,
                "retrieval_query": (r.retrieval or {}).get("query"),
                "doc_ids": [h.get("doc_id") for h in hits] if isinstance(hits, list) else None,
                "latency_ms": r.latency_ms,
                "source_file": r.source_file,
                "line": r.line,
            }
        )
    return out


# -- the weekly report ---------------------------------------------------------------------------

MIN_SESSIONS = 30


@dataclass
class ReportFigures:
    """What the report should say about one week."""

    models: list[dict] = field(default_factory=list)
    alarms: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    rejections: list[dict] = field(default_factory=list)
    retry_cost: list[dict] = field(default_factory=list)
    depth: list[dict] = field(default_factory=list)
    trend: dict[Any, dict[str, float | None]] = field(default_factory=dict)
    rows: int = 0


def report(calls, replays, start: datetime, *, trend_weeks: int) -> ReportFigures:
    """The report's figures for the ISO week starting at ``start`` (a Monday, UTC)."""
    end = start + timedelta(days=7)
    trend_start = start - timedelta(weeks=trend_weeks - 1)
    weekly = model_weekly_summary(calls, trend_start, end)
    label, prev_label = iso_week(start), iso_week(start - timedelta(days=7))
    prev = {r["model"]: r for r in weekly if r["week"] == prev_label}
    models = []
    for r in (r for r in weekly if r["week"] == label):
        p = prev.get(r["model"])
        if p is None:
            change = "new"
        elif r["reached_model"] < MIN_SESSIONS or p["reached_model"] < MIN_SESSIONS:
            change = "too few sessions"
        else:
            low, high = newcombe(r["first_shot"], r["reached_model"], p["first_shot"], p["reached_model"])
            change = "up" if low > 0 else "down" if high < 0 else "no real change"
        models.append({**r, "too_few": r["reached_model"] < MIN_SESSIONS, "change": change})
    models.sort(key=lambda m: (m["too_few"], -(m["first_shot_rate"] or 0), _model_order(m["model"])))
    alarms = {}
    for name, query in (
        ("ungrounded_accepted", ungrounded_accepted),
        ("ungrounded_unknown_verdict", ungrounded_unknown_verdict),
        ("unverified_accepted_fill", unverified_accepted_fill),
    ):
        rows = query(calls, start, end)
        alarms[name] = (len(rows), sorted({r["session_id"] for r in rows if r["session_id"]}))
    trend = defaultdict(dict)
    for r in weekly:
        trend[r["model"]][r["week"]] = r["first_shot_rate"]
    return ReportFigures(
        models=models,
        alarms=alarms,
        # each model's top reasons, grouped by their error class
        rejections=sorted(
            top_rejection_errors(calls, start, end, top=3),
            key=lambda r: (_model_order(r["model"]), r["error_class"] or "", -r["rejections"], r["reason"]),
        ),
        retry_cost=retry_cost(calls, start, end),
        depth=retrieval_depth_vs_first_shot(calls, replays, start, end),
        trend=dict(trend),
        rows=len(calls),
    )


# -- error classes, prompt templates, retries (issue 25) ----------------------------------------

_CLASSES = {
    "schema": "schema",
    "completeness": "completeness",
    "consistency": "consistency",
    "policy": "policy",
    "phantom": "roster",
    "roster": "roster",
}
_TAGS = ("Schema", "Completeness", "Consistency", "Policy")


def _json_object(text: str | None) -> dict | None:
    """The text as a JSON object, or None (malformed JSON, any other JSON value, NaN)."""
    if text is None:
        return None

    def refuse(constant):
        raise ValueError(constant)

    try:
        value = json.loads(text, parse_constant=refuse)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def error_class(verdict_kind: str | None, error: str | None) -> str | None:
    """Why an attempt was not accepted: the verdict kind, then the validator's JSON variant
    (legacy `Kind` when a string, else the one tagged key with an object), else the leading word."""
    if verdict_kind == "accepted":
        return None
    if verdict_kind in ("no_json", "infra_error"):
        return {"no_json": "no_json", "infra_error": "infra"}[verdict_kind]
    if verdict_kind != "validation_failed":
        return "other"
    obj = _json_object(error)
    word = None
    if obj is not None:
        if isinstance(obj.get("Kind"), str):
            word = obj["Kind"]
        elif len(obj) == 1 and next(iter(obj)) in _TAGS and isinstance(next(iter(obj.values())), dict):
            word = next(iter(obj))
    elif error is not None:
        m = re.match(r"[ \t\n\r]*([A-Za-z]+)", error)
        word = m.group(1) if m else None
    return _CLASSES.get((word or "").lower(), "other")


_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?)?"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def prompt_template(prompt: str | None) -> str | None:
    """Dates, UUIDs, hex ids, then fold(): the words, a word repeated beside itself once; the md5's
    first 8 hex digits of the words and the first eight words. None for a prompt with no words."""
    if prompt is None:
        return None
    text = re.sub(_DATE, "<date>", prompt)
    text = re.sub(_UUID + r"|\b[0-9a-fA-F]{8,}\b", "<id>", text, flags=re.ASCII)
    words = [w for w in re.split(r"[ \t\n\r]+", fold(text)) if w]
    words = [w for i, w in enumerate(words) if i == 0 or w != words[i - 1]]
    if not words:
        return None
    import hashlib

    return hashlib.md5(" ".join(words).encode()).hexdigest()[:8] + " " + " ".join(words[:8])


def rejections(call: Call) -> int:
    """The call's attempts turned down: validation_failed or no_json."""
    return sum(a.verdict_kind in ("validation_failed", "no_json") for a in call.attempts or [])


def retry_cost(calls, since=None, until=None, model=None):
    """Per UTC ISO week and model: calls, attempts and time per accepted artifact; retries and recoveries."""
    timed = [c for c in _pick(calls, since, until, model) if c.timestamp is not None]
    out = []
    for (_week, m), group in sorted(
        _group(timed, lambda c: (_monday(c.timestamp), c.model)).items(),
        key=lambda kv: (kv[0][0], _model_order(kv[0][1])),
    ):
        accepted = sum(c.final_verdict == "accepted" for c in group)
        attempts = sum(len(c.attempts or []) for c in group)
        reached = [c for c in group if reached_model(c)]
        retried = [c for c in reached if rejections(c) > 0]
        recovered = sum(c.final_verdict == "accepted" for c in retried)
        durations = [c.duration_ms for c in group if c.duration_ms is not None]
        low, high = wilson(recovered, len(retried))
        out.append(
            {
                "week": iso_week(group[0].timestamp),
                "model": m,
                "calls": len(group),
                "accepted": accepted,
                "calls_per_accepted": _rate(len(group), accepted),
                "attempts": attempts,
                "attempts_per_accepted": _rate(attempts, accepted),
                "reached_model": len(reached),
                "retried": len(retried),
                "retry_share": _rate(len(retried), len(reached)),
                "recovered": recovered,
                "recovery_rate": _rate(recovered, len(retried)),
                "recovery_ci_low": low,
                "recovery_ci_high": high,
                "ms_per_accepted": _rate(sum(durations), accepted) if durations else None,
            }
        )
    return out


def rejections_by_class(calls, since=None, until=None, model=None):
    """Per UTC ISO week and model: the attempts not accepted, by error class."""
    timed = [c for c in _pick(calls, since, until, model) if c.timestamp is not None]
    out = []
    for (_week, m), group in sorted(
        _group(timed, lambda c: (_monday(c.timestamp), c.model)).items(),
        key=lambda kv: (kv[0][0], _model_order(kv[0][1])),
    ):
        classed = [
            (error_class(a.verdict_kind, a.error), c.session_id)
            for c in group
            for a in c.attempts or []
            if error_class(a.verdict_kind, a.error) is not None
        ]
        rows = [
            {
                "week": iso_week(group[0].timestamp),
                "model": m,
                "error_class": cls,
                "attempts": len(same),
                "sessions": len({sid for _, sid in same if sid is not None}),
                "share": len(same) / len(classed),
            }
            for cls, same in _group(classed, lambda r: r[0]).items()
        ]
        out += sorted(rows, key=lambda r: (-r["attempts"], r["error_class"]))
    return out


def prompt_template_first_shot(calls, since=None, until=None, model=None, kind=None):
    """Per prompt template: first shots out of the calls that reached the model, best first."""
    out = []
    for template, group in _group(
        _pick(calls, since, until, model, kind), lambda c: prompt_template(_text(c.raw.get("prompt")))
    ).items():
        n = sum(reached_model(c) for c in group)
        k = sum(first_shot(c) for c in group)
        low, high = wilson(k, n)
        out.append(
            {
                "prompt_template": template,
                "calls": len(group),
                "reached_model": n,
                "first_shot": k,
                "rate": _rate(k, n),
                "ci_low": low,
                "ci_high": high,
                "infra_error": sum(c.final_verdict == "infra_error" for c in group),
            }
        )
    out.sort(
        key=lambda r: (r["rate"] is None, -(r["rate"] or 0), -r["reached_model"], nulls_last(r["prompt_template"]))
    )
    return out
