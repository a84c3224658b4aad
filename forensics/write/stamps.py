"""The stamps a row is given when the caller gives none: a time-ordered session id and an RFC 3339 UTC time."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime


def new_session_id() -> str:
    """Return a time-ordered id: 16 hex digits of Unix nanoseconds, '-', 8 random hex digits."""
    return f"{time.time_ns():016x}-{secrets.token_hex(4)}"


_last_second: list = [None, ""]  # (whole second, its formatted prefix): strftime is costly


def utc_timestamp(ns: int | None = None) -> str:
    """Format Unix nanoseconds (default: now) as RFC 3339 UTC with trimmed fractional seconds."""
    ns = time.time_ns() if ns is None else ns
    seconds, frac = divmod(ns, 1_000_000_000)
    cached = _last_second
    if cached[0] != seconds:
        cached[1] = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        cached[0] = seconds
    base = cached[1]
    # Go's RFC3339Nano trims trailing zeros; we keep at least one digit so the
    # value always carries fractional seconds as the format asks.
    digits = f"{frac:09d}".rstrip("0") or "0"
    return f"{base}.{digits}Z"
