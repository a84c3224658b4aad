"""Realistic, seed-deterministic sample logs, written through the project's own writer."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from ..write.loggers import ReplayLogger, SessionLogger

# Fixed so that the same seed always gives the same bytes; `generate --end` moves it.
DEFAULT_END = datetime(2026, 11, 16, tzinfo=UTC)

# name, provider, first-shot probability, probability of a later accept after a miss
MODELS = (
    ("qwen3.5:latest", "ollama", 0.78, 0.70),
    ("llama3.1:8b", "ollama", 0.52, 0.55),
    ("gpt-oss:20b", "vllm", 0.88, 0.80),
    ("mistral-small:24b", "vllm", 0.35, 0.45),
)
KINDS = (("fill", 0.6), ("playbook", 0.3), ("summary", 0.1))
SCHEMA_COMPLAINTS = (
    "schema: missing required field 'shift_id'",
    "schema: 'fills' must be an array",
    "schema: unknown field 'notes'",
)
OFFSETS = (timedelta(hours=-5), timedelta(hours=-8), timedelta(hours=2), timedelta(hours=5, minutes=30))


@dataclass
class GenerateResult:
    """What `generate` wrote: paths and row counts."""

    sessions_path: Path
    replay_runs_path: Path
    sessions: int
    replay_runs: int
    ungrounded: int


def _format_ts(when: datetime, style: str, rng: random.Random) -> str:
    """Write a UTC instant the way one producer would: Go 'Z', Rust '+00:00' or a local offset."""
    nanos = rng.randrange(1_000_000_000)
    if style == "go":
        frac = f"{nanos:09d}".rstrip("0") or "0"
        return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac}Z"
    if style == "rust":
        return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}+00:00"
    offset = rng.choice(OFFSETS)
    local = when.astimezone(timezone(offset))
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _pick(rng: random.Random, weighted) -> str:
    r, acc = rng.random(), 0.0
    for value, weight in weighted:
        acc += weight
        if r < acc:
            return value
    return weighted[-1][0]


def _rejection(rng: random.Random, kind: str) -> tuple[str, str | None]:
    """One failed attempt: a validator complaint or an answer with no JSON."""
    roll = rng.random()
    if roll < 0.25:
        return "no_json", None
    if kind == "fill" and roll < 0.75:
        return "validation_failed", f"phantom W-{rng.randint(100, 999)}"
    return "validation_failed", rng.choice(SCHEMA_COMPLAINTS)


def generate(
    out: str | Path,
    *,
    sessions: int = 2000,
    seed: int = 7,
    end: datetime = DEFAULT_END,
    weeks: int = 6,
    context_docs: tuple[int, int] = (5, 40),
    force: bool = False,
) -> GenerateResult:
    """Write sessions.jsonl and replay_runs.jsonl into ``out``; the same seed gives the same rows.

    Logs already there are never overwritten unless ``force``: they may be real ones.
    """
    from ..errors import UsageError
    from ..output import exist

    rng = random.Random(seed)
    out = Path(out)
    s_path, r_path = out / "sessions.jsonl", out / "replay_runs.jsonl"
    there = [str(p) for p in (s_path, r_path) if p.exists()]
    if there and not force:
        raise UsageError(f"{exist(there)}; pass --force to overwrite {'it' if len(there) == 1 else 'them'}")
    out.mkdir(parents=True, exist_ok=True)
    for p in (s_path, r_path):
        p.unlink(missing_ok=True)
    slog, rlog = SessionLogger(s_path), ReplayLogger(r_path)
    start = end - timedelta(weeks=weeks)
    span = (end - start).total_seconds()
    written = replays = ungrounded = 0
    # Planted at the first accepted fill past each mark, so every seed has some.
    plant_ungrounded = [int(sessions * f) for f in (0.21, 0.55, 0.90)]
    plant_unverified = [int(sessions * f) for f in (0.37, 0.71)]
    while written < sessions:
        # A coordinator session: one trace id, one to three iterate calls.
        trace = f"{rng.getrandbits(64):016x}-{rng.getrandbits(32):08x}"
        model, provider, p_first, p_later = MODELS[rng.randrange(len(MODELS))]
        when = start + timedelta(seconds=rng.random() * span)
        # Corpus depth drives success: the retrieval-depth question has a real answer.
        hits = rng.choice((0, 0, 1, 2, 3, 4, 5, 6, 8, 8, 10))
        boost = (hits - 4) * 0.025
        calls = rng.choice((1, 1, 1, 2, 3))
        for _ in range(calls):
            if written >= sessions:
                break
            daemon = rng.choice(("validatord", "validatord", "gateway"))
            style = "go" if daemon == "validatord" else "rust"
            if rng.random() < 0.12:
                style = "local"
            kind = _pick(rng, KINDS)
            max_iter = 3
            row = {
                "timestamp": _format_ts(when, style, rng),
                "daemon": daemon,
                "session_id": trace,
                "kind": kind,
                "model": model,
                "provider": provider,
                "prompt": f"Produce a {kind} for site {rng.choice('ABCDEFG')} week {when.isocalendar()[1]}. "
                + "Context: "
                + " ".join(f"doc-{rng.randint(1, 500)}" for _ in range(rng.randint(*context_docs))),
                "max_iterations": max_iter,
            }
            attempts = []
            if rng.random() < 0.04:
                row.update(
                    iterations=0,
                    final_verdict="infra_error",
                    attempts=[
                        {
                            "iteration": 0,
                            "verdict_kind": "infra_error",
                            "error": rng.choice(
                                ("cold-start probe timed out after 5s", "connection refused", "503 Service Unavailable")
                            ),
                        }
                    ],
                )
                duration = rng.randint(5, 5200)
            else:
                accepted_at = None
                for i in range(max_iter):
                    p = (p_first + boost) if i == 0 else p_later
                    span_id = f"sp-{rng.getrandbits(32):08x}"
                    if rng.random() < p:
                        attempts.append({"iteration": i, "verdict_kind": "accepted", "span_id": span_id})
                        accepted_at = i
                        break
                    verdict, error = _rejection(rng, kind)
                    attempts.append({"iteration": i, "verdict_kind": verdict, "error": error, "span_id": span_id})
                row["attempts"] = attempts
                row["iterations"] = len(attempts)
                duration = sum(rng.randint(300, 4000) for _ in attempts)
                if accepted_at is not None:
                    row["final_verdict"] = "accepted"
                    if kind == "fill":
                        row["artifact"] = {
                            "fills": [{"candidate_id": f"W-{rng.randint(1, 80)}", "shift": rng.randint(1, 30)}]
                        }
                        row["grounded_in_roster"] = True
                        if plant_ungrounded and written >= plant_ungrounded[0]:
                            plant_ungrounded.pop(0)
                            row["grounded_in_roster"] = False
                            row["artifact"]["fills"].append({"candidate_id": "W-999", "shift": 1})
                            ungrounded += 1
                        elif plant_unverified and written >= plant_unverified[0]:
                            plant_unverified.pop(0)
                            del row["grounded_in_roster"]
                    elif kind == "playbook":
                        row["artifact"] = {
                            "endorsed_names": [f"W-{rng.randint(1, 80)}"],
                            "operation": "fill: X x1 in A, B",
                            "fingerprint": f"{rng.getrandbits(32):08x}",
                        }
                    else:
                        row["artifact"] = {"summary": "ok"}
                else:
                    row["final_verdict"] = "max_iter_exhausted"
            row["duration_ms"] = duration
            slog.append(row)
            written += 1
            when += timedelta(seconds=rng.randint(1, 90))
        # Most sessions get one or two replay runs; some none.
        if rng.random() < 0.7:
            for _ in range(rng.choice((1, 1, 2))):
                rlog.append(_replay(rng, trace, model, provider, hits, when))
                replays += 1
    # Replays of tasks with no coordinator session in the log, with and without an id.
    for n in range(max(2, sessions // 100)):
        model, provider, *_ = MODELS[rng.randrange(len(MODELS))]
        when = start + timedelta(seconds=rng.random() * span)
        trace = None if n % 3 == 0 else f"{rng.getrandbits(64):016x}-{rng.getrandbits(32):08x}"
        rlog.append(_replay(rng, trace, model, provider, rng.randint(0, 8), when))
        replays += 1
    slog.close()
    rlog.close()
    return GenerateResult(s_path, r_path, written, replays, ungrounded)


def _replay(rng: random.Random, trace: str | None, model: str, provider: str, hits: int, when: datetime) -> dict:
    ok = rng.random() > 0.05
    row = {
        "timestamp": _format_ts(when + timedelta(minutes=rng.randint(5, 600)), "rust", rng),
        "session_id": trace,
        "task_id": f"task-{rng.randint(1, 400)}",
        "model": model,
        "provider": provider,
        "retrieval": {
            "query": "roster coverage for site " + rng.choice("ABCDEFG"),
            "k": max(hits, 4),
            "hits": [
                {"doc_id": f"doc-{rng.randint(1, 500)}", "score": round(rng.uniform(0.2, 0.99), 3)} for _ in range(hits)
            ],
        },
        "output": '{"fills": []}' if ok else "",
        "latency_ms": rng.randint(200, 9000),
        "tokens_in": rng.randint(500, 8000),
        "tokens_out": rng.randint(20, 900),
        "status": "ok" if ok else "error",
        "replay_host": rng.choice(("replay-1", "replay-2")),  # a key the format does not know
    }
    if not ok:
        row["error"] = "context window exceeded"
    return row
