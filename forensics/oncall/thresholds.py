"""The built-in condition alarms' thresholds (`first_shot_drop`, `failure_streak`), read from
forensics.toml's [alarms] tables, and the parameters and the span of rows they are run with."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..errors import ConfigError
from ..timewindow import parse_age

# What each table takes, and its default: an age is text ("24h", "28d"), a count an integer.
DEFAULTS = {
    "first_shot_drop": {"window": "24h", "baseline": "28d", "min_calls": 30},
    "failure_streak": {"calls": 5, "within": "28d"},
}


@dataclass
class Thresholds:
    """The built-in condition alarms' thresholds."""

    window: timedelta = timedelta(hours=24)  # first_shot_drop: the recent window ...
    baseline: timedelta = timedelta(days=28)  # ... against the days before it
    min_calls: int = 30  # ... with at least this many calls that reached the model on each side
    streak: int = 5  # failure_streak: this many last calls, all failed ...
    within: timedelta = timedelta(days=28)  # ... among the calls of these last days

    def params(self, now: datetime) -> dict[str, dict]:
        """Each built-in condition alarm's parameters at the alarm's clock."""
        recent = now - self.window
        return {
            "first_shot_drop": {
                "baseline": recent - self.baseline,
                "recent": recent,
                "until": now,
                "min_calls": self.min_calls,
            },
            "failure_streak": {"since": now - self.within, "until": now, "calls": self.streak},
        }

    def lookback(self, now: datetime) -> datetime:
        """The oldest time a condition alarm reads: its rows are loaded from there, whatever --since says."""
        return now - max(self.window + self.baseline, self.within)


def read_thresholds(config: str | os.PathLike | None = None, *, cwd: str | os.PathLike | None = None) -> Thresholds:
    """The thresholds a forensics.toml sets ([alarms.first_shot_drop], [alarms.failure_streak]); defaults without one.

    A table or key it does not know, a count that is not a positive integer and an age that does
    not parse are usage errors naming them: a misspelt threshold must not pass for the default.
    """
    from ..read.sources import CONFIG_NAME

    path = Path(config) if config else Path(cwd or os.getcwd()) / CONFIG_NAME
    if not config and not path.is_file():
        return Thresholds()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"config: {path}: {exc}") from None
    tables = data.get("alarms", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"config: {path}: 'alarms' must be a table ([alarms.first_shot_drop], ...)")
    given: dict[str, dict] = {name: dict(values) for name, values in DEFAULTS.items()}
    for name, table in tables.items():
        if name not in DEFAULTS or not isinstance(table, dict):
            raise ConfigError(
                f"config: {path}: [alarms.{name}] is not a table of thresholds (it takes {', '.join(DEFAULTS)})"
            )
        for key, value in table.items():
            default = DEFAULTS[name].get(key)
            if default is None:
                raise ConfigError(
                    f"config: {path}: [alarms.{name}] has no threshold {key!r} (it takes {', '.join(DEFAULTS[name])})"
                )
            if isinstance(default, int) and not (type(value) is int and value >= 1):
                raise ConfigError(f"config: {path}: [alarms.{name}] {key} must be a whole number >= 1, got {value!r}")
            if isinstance(default, str):
                if not isinstance(value, str):
                    raise ConfigError(
                        f"config: {path}: [alarms.{name}] {key} must be an age such as 24h, got {value!r}"
                    )
                # (an age, never a time: parse_age would also take an ISO date as "since then")
                if not re.fullmatch(r"\d+\s*[smhdw]", value.strip()) or parse_age(value.strip()) <= timedelta(0):
                    raise ConfigError(
                        f"config: {path}: [alarms.{name}] {key} must be an age such as 24h, got {value!r}"
                    )
            given[name][key] = value
    fsd, streak = given["first_shot_drop"], given["failure_streak"]
    return Thresholds(
        window=parse_age(fsd["window"].strip()),
        baseline=parse_age(fsd["baseline"].strip()),
        min_calls=fsd["min_calls"],
        streak=streak["calls"],
        within=parse_age(streak["within"].strip()),
    )
