"""A session record from any outcome of an iterate call: accepted, exhausted or an infra error.

Reading the request, the response or failure, and the roster check never raises: what cannot be
read is logged on the ``forensics.writer`` logger (docs/SESSION_LOG.md) and the record is still
built, for :func:`.rows.session_row` to shape and mark.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from .markers import Marker, a_type, exception_text, safe_text, type_name
from .rows import ATTEMPT_KEYS, MAX_ATTEMPTS, NoVerdict, absent, attempt_fields
from .stamps import new_session_id

_log = logging.getLogger("forensics.writer")


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """Read ``key`` from a mapping or an attribute from an object; a failure becomes a marker."""
    if obj is None:
        return default
    try:
        if isinstance(obj, Mapping):
            return obj.get(key, default)
        return getattr(obj, key, default)
    except Exception as exc:
        return Marker(f"could not read {key} from {a_type(obj)}: {type_name(exc)}", "unreadable")


def _history(items: Any) -> Any:
    """The attempt keys of each item of a history; anything else is left for session_row to mark."""
    if items is None:
        return []
    if isinstance(items, (str, bytes, bytearray, Mapping)):
        return items
    if (type(items) is list or type(items) is tuple) and len(items) <= MAX_ATTEMPTS:
        return [_attempt_keys(item) for item in items]
    try:
        return map(_attempt_keys, iter(items))  # session_row takes at most MAX_ATTEMPTS of it
    except Exception:
        return items


def _attempt_keys(item: Any) -> Any:
    # Only the attempt keys: the raw model text and other extras stay out of the log.
    fields = attempt_fields(item)
    return fields if type(fields) is Marker else {k: fields[k] for k in ATTEMPT_KEYS}


def _error_text(error: Any) -> str:
    if error is None:
        return "no response, failure or error was given"
    try:
        text = str(error)
    except Exception:
        text = ""
    if isinstance(error, BaseException) and not text:
        text = type_name(error)
    return safe_text(text)


def _roster_verdict(roster_check: Callable[[Any], Any], artifact: Any) -> Any:
    """The check's verdict as given (session_row keeps only a real boolean), or why there is none."""
    try:
        verdict = roster_check(artifact)
    except Exception as exc:
        return NoVerdict(f"the roster check raised {exception_text(exc)}")
    return verdict


def build_session_record(
    request: Any,
    *,
    response: Any = None,
    failure: Any = None,
    error: BaseException | str | None = None,
    roster_check: Callable[[Any], bool | None] | None = None,
    duration_ms: int = 0,
) -> dict:
    """Assemble a session row from any outcome of an iterate call (accepted, exhausted, infra error).

    Each argument may be a dict or an object with attributes. It reads, from ``request``:
    ``kind``, ``model``, ``provider``, ``prompt``, ``max_iterations`` and the id as ``trace_id`` or
    ``session_id``; from ``response`` (accepted) or ``failure`` (exhausted): ``iterations``, the
    attempts as ``history`` or ``attempts``, the id (which wins over the request's), and for a
    response the ``artifact``; ``error`` is an infra error (an exception or its text). What it
    cannot read (no attempts on a call that made some, a request that is not a record) is logged
    on the ``forensics.writer`` logger and the row is still built: it never raises.
    """
    if request is not None and not isinstance(request, Mapping) and isinstance(request, (str, bytes, int, float)):
        _log.warning(
            "forensics: build_session_record: the request is a %s, not a dict or an object: "
            "its kind, model and prompt are left empty",
            type(request).__name__,
        )
    record: dict[str, Any] = {
        "kind": _get(request, "kind"),
        "model": _get(request, "model"),
        "provider": _get(request, "provider"),
        "prompt": _get(request, "prompt"),
        "max_iterations": _get(request, "max_iterations"),
        "duration_ms": _duration(duration_ms),
    }
    outcome = response if response is not None else failure
    trace = _first(outcome, "trace_id", "session_id")
    if absent(trace):
        trace = _first(request, "trace_id", "session_id")
    record["session_id"] = new_session_id() if absent(trace) else trace
    if outcome is not None:
        iterations = _get(outcome, "iterations", 0)
        attempts = _first(outcome, "history", "attempts")
        if attempts is None and not (isinstance(iterations, int) and iterations == 0):
            _log.warning(
                "forensics: build_session_record: the %s of session %s has no history or attempts "
                "(iterations %r): its row is written with no attempts",
                "response" if response is not None else "failure",
                safe_text(record["session_id"]),
                iterations,
            )
    if response is not None:
        artifact = _get(response, "artifact")
        record.update(
            iterations=iterations,
            final_verdict="accepted",
            attempts=_history(attempts),
            artifact=artifact,
        )
        if roster_check is not None:
            verdict = _roster_verdict(roster_check, artifact)
            if verdict is not None:  # None: the check ran to no verdict; the key stays absent
                record["grounded_in_roster"] = verdict
    elif failure is not None:
        record.update(
            iterations=iterations,
            final_verdict="max_iter_exhausted",
            attempts=_history(attempts),
        )
    else:
        record.update(
            iterations=0,
            final_verdict="infra_error",
            attempts=[{"iteration": 0, "verdict_kind": "infra_error", "error": _error_text(error)}],
        )
    return record


def _first(obj: Any, *keys: str) -> Any:
    """The first of these keys (or attributes) that obj has and is not empty."""
    for key in keys:
        value = _get(obj, key)
        if not absent(value):
            return value
    return None


def _duration(value: Any) -> Any:
    """Whole milliseconds when the value is a number; anything else is kept for the writer to mark."""
    if value is None:
        return 0
    if isinstance(value, (str, bytes)):
        return value
    try:
        return int(value)
    except Exception:
        return value
