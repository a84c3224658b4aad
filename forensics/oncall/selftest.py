"""`forensics alarm --self-test`: plant one violation in a temporary log and check the real alarm finds it once."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..output import counted
from . import alarm
from .options import AlarmOptions
from .outcome import EXIT_CANNOT_EVALUATE, EXIT_CLEAN, EXIT_VIOLATION

PLANTED = "selftest-planted-violation"


def self_test(opts: AlarmOptions | None = None) -> tuple[int, str]:
    """Run the alarm twice on a planted violation: found and new, then firing and silent. (exit code, message).

    The alarm runs with the caller's configuration and query folders (``opts``), so a user
    query that replaces a built-in alarm and misses the planted row fails the self-test.
    Everything it writes (logs, state, lock) lives in one temporary folder, removed after.
    """
    from .mail import render_text

    opts = opts or AlarmOptions()
    with tempfile.TemporaryDirectory(prefix="forensics-selftest-") as tmp:
        path, replay = _plant(Path(tmp))
        if path is None:
            return EXIT_CANNOT_EVALUATE, f"self-test FAILED: the writer reported {counted(replay, 'error')}"
        run = AlarmOptions(
            sessions=[str(path)],
            replay_runs=[str(replay)],
            config=opts.sources.config,
            queries_dirs=opts.sources.queries_dirs,
            lock_wait=5,
            state=Path(tmp) / "state.json",
            lock_file=Path(tmp) / "alarm.lock",
        )
        first = alarm.evaluate(run)
        second = alarm.evaluate(run)
    found = [v["session_id"] for v in first.violations]
    if not (
        first.exit_code == EXIT_VIOLATION
        and found == [PLANTED]
        and not first.warnings
        and first.violations[0]["state"] == "new"
    ):
        return EXIT_CANNOT_EVALUATE, "self-test FAILED: " + _missed(first, found, opts)
    again = [(v["session_id"], v["state"]) for v in second.violations]
    if second.exit_code != EXIT_VIOLATION or again != [(PLANTED, "firing")] or render_text(second):
        return EXIT_CANNOT_EVALUATE, (
            f"self-test FAILED: the alarm's memory did not hold: a second run exited {second.exit_code} "
            f"with {again} (expected the planted row firing, nothing printed)"
        )
    return EXIT_CLEAN, (
        f"self-test passed: the planted violation was found, then remembered; "
        f"{first.checked['rows'] - 1} clean rows were not flagged"
    )


# The built-in alarm the planted row breaks (an accepted fill naming someone not on the roster).
PLANTED_ALARM = "ungrounded_accepted"


def _missed(first, found: list, opts: AlarmOptions) -> str:
    """What the first run missed or got wrong, and why when it can be told (a replaced or demoted alarm)."""
    from ..catalog import load_catalog

    said = []
    if PLANTED not in found:
        why = f"the alarm ran and returned no row for it (exit {first.exit_code}, {first.status})"
        if first.reason:
            why = f"the alarm could not evaluate: {first.reason}"
        else:
            try:
                catalog = load_catalog([str(d) for d in opts.sources.queries_dirs])
            except Exception as exc:  # the run said nothing of it; the reason is the catalog's
                why = f"the queries could not be loaded: {exc}"
            else:
                query = catalog.queries.get(PLANTED_ALARM)
                if PLANTED_ALARM in catalog.replaced and query is not None:
                    why = f"{PLANTED_ALARM} is replaced by {query.path.resolve()}"
                    if query.kind != "alarm":
                        why += " (a report query there, so no alarm runs it)"
        said.append(f"the planted {PLANTED_ALARM} row was not flagged: {why}")
    clean = sorted({f"{v['session_id']} ({v.get('alarm')})" for v in first.violations if v["session_id"] != PLANTED})
    if clean:
        said.append(f"clean planted rows were flagged: {', '.join(clean)}")
    if first.warnings:
        said.append(f"rows were warned about: {', '.join(sorted({str(w['session_id']) for w in first.warnings}))}")
    if not said:
        said.append(f"the planted row was flagged but not as new (exit {first.exit_code}, {first.status})")
    return "; ".join(said)


def _plant(folder: Path):
    """A session log of clean rows, an exhausted and an infra row, and one violation; (log, replay log)."""
    from ..write.loggers import SessionLogger, build_session_record

    path = folder / "sessions.jsonl"
    replay = folder / "replay_runs.jsonl"
    replay.write_text("")
    log = SessionLogger(path, daemon="selftest")
    req = {"kind": "fill", "model": "selftest-model", "provider": "none", "prompt": "self-test", "max_iterations": 3}
    history = [{"iteration": 0, "verdict_kind": "accepted", "span_id": "sp-0"}]
    for i in range(10):
        log.append(
            build_session_record(
                {**req, "trace_id": f"selftest-clean-{i}"},
                response={"artifact": {"fills": [{"candidate_id": "W-1"}]}, "iterations": 1, "history": history},
                roster_check=lambda a: True,
                duration_ms=10,
            )
        )
    log.append(
        build_session_record(
            {**req, "trace_id": "selftest-exhausted"},
            failure={"iterations": 1, "history": [{"iteration": 0, "verdict_kind": "no_json"}]},
        )
    )
    log.append(build_session_record({**req, "trace_id": "selftest-infra"}, error=TimeoutError("probe timed out")))
    log.append(
        build_session_record(
            {**req, "trace_id": PLANTED},
            response={"artifact": {"fills": [{"candidate_id": "W-404"}]}, "iterations": 1, "history": history},
            roster_check=lambda a: False,
        )
    )
    log.close()
    if log.errors:
        return None, log.errors
    return path, replay
