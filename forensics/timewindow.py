"""Time windows, in UTC: ages and times (`--since 15m`, `--until 2026-11-01`, `--max-age 2h`,
`--retain 90d`) and ISO weeks (`--week 2026-W46`), parsed one way for every command."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .errors import ParameterError

_RELATIVE_RE = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)


def parse_age(text: str) -> timedelta:
    """How long ago a relative age (15m, 2h) or an ISO time is, from now."""
    now = datetime.now(UTC)
    return now - parse_time(text, now=now)


def parse_time(value: Any, *, now: datetime | None = None) -> datetime:
    """Parse an ISO date or timestamp, or a relative age like 15m, 24h, 7d, into a UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value).strip()
    m = _RELATIVE_RE.match(text)
    if m:
        now = now or datetime.now(UTC)
        try:
            return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        except (OverflowError, ValueError):
            raise ParameterError(f"not a time: {text!r} reaches past the calendar (year 1 to 9999)") from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ParameterError(
            f"not a time: {text!r} (try an ISO date 2026-11-01, a timestamp "
            "2026-11-01T08:00:00Z, or an age like 15m, 24h, 7d)"
        ) from None
    if parsed.tzinfo is None:  # a naive time is taken as UTC, never as local time
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def resolve_week(week: str | None, *, today: date | None = None) -> tuple[str, datetime, datetime]:
    """Turn 'YYYY-Www' (or None: the last complete ISO week, UTC) into (label, start, end)."""
    if week:
        m = _WEEK_RE.match(week.strip())
        if not m:
            raise ParameterError(f"--week takes an ISO week like 2026-W46, got {week!r}")
        try:
            monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
            # The report reads the week and the weeks of its trend before it, and ends a week on.
            datetime(monday.year, monday.month, monday.day, tzinfo=UTC) + timedelta(days=7)
            monday - timedelta(weeks=52)
        except (ValueError, OverflowError):
            raise ParameterError(f"no such ISO week, or one too close to the calendar's ends: {week!r}") from None
    else:
        today = today or datetime.now(UTC).date()
        monday = today - timedelta(days=today.weekday() + 7)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    iso = monday.isocalendar()
    return f"{iso[0]}-W{iso[1]:02d}", start, start + timedelta(days=7)


def week_label(day: datetime) -> str:
    """The ISO week a moment falls in, as 2026-W46."""
    iso = day.isocalendar()
    return f"{iso[0]}-W{iso[1]:02d}"


def age_in_words(span: timedelta) -> str:
    """A span as a person says it: 45 s, 12 min, 3 h 12 min, 2 d 4 h."""
    seconds = max(0, int(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{secs} s"
