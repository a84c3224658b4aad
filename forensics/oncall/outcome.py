"""The alarm's verdict: its status and exit code, what was checked, every violating row, what its
memory said this run, and what the cron mail needs to point the person paged at the same data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..output import plain
from .groups import GROUP_BY

EXIT_CLEAN, EXIT_VIOLATION, EXIT_USAGE, EXIT_CANNOT_EVALUATE = 0, 1, 2, 3


@dataclass
class Recalled:
    """What the memory says this run beyond the rows: reminders, rows resolved, problems and recoveries."""

    reminders: list[dict] = field(default_factory=list)
    resolved: list[dict] = field(default_factory=list)
    # What could not be evaluated, each with its state (new, firing, reminded), and what recovered.
    problems: list[dict] = field(default_factory=list)
    recovered: list[dict] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)  # identities of rows gone before acknowledged, this run
    # Silences that ended since the last run, each with what it covered and still fires (said once).
    expired_silences: list[dict] = field(default_factory=list)


@dataclass
class Paging:
    """What the person paged is told besides the rows, and how to reach the same data."""

    stderr_lines: list[str] = field(default_factory=list)
    # Those of them the memory says once (and per --repeat) rather than on every run: what the
    # read met (unreadable lines, rows without a time), which stays true run after run.
    notices: list[str] = field(default_factory=list)
    # `--store DIR` or `-s ... -r ...`, and the memory's own option (for `forensics ack`).
    source_args: str = ""
    memory_args: str | None = None
    # Where the memory lives (its state file), for what is kept beside it (the receivers' ledger).
    memory_path: str | None = None
    # Each alarm's one-line description (its query's header), said once per mail.
    descriptions: dict[str, str] = field(default_factory=dict)
    # What a storm is grouped by (forensics.toml's `group_by`).
    group_by: tuple[str, ...] = GROUP_BY
    # On Spark, how fresh its answer is ("as of ingest batch 28, ..."), said in a mail that says anything.
    freshness: str | None = None


@dataclass
class AlarmOutcome:
    """The verdict: status, exit code, what was checked and every violating row."""

    status: str = "clean"
    exit_code: int = EXIT_CLEAN
    reason: str | None = None
    problems: list[str] = field(default_factory=list)
    checked: dict[str, Any] = field(default_factory=dict)
    violations: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    recalled: Recalled = field(default_factory=Recalled)
    paging: Paging = field(default_factory=Paging)
    # On Spark: the ingest batch its answer is as of, its time and age, the rows not yet ingested.
    freshness: dict[str, Any] | None = None

    @property
    def summary(self) -> dict:
        """How many violating rows are in each state."""
        rows = self.violations + self.warnings

        def count(pick) -> int:
            return sum(1 for v in rows if pick(v))

        return {
            "new_critical": count(lambda v: v["state"] == "new" and v["severity"] == "critical"),
            "new_warnings": count(lambda v: v["state"] == "new" and v["severity"] != "critical"),
            "firing": count(lambda v: v["state"] == "firing"),
            "acknowledged": count(lambda v: v["state"] == "acknowledged"),
            "resolved": len(self.recalled.resolved),
        }

    def as_dict(self) -> dict:
        """The JSON status object `--format json` prints: the same keys in every outcome."""
        return plain(
            {
                "status": self.status,
                "exit_code": self.exit_code,
                "reason": self.reason or "",
                "problems": self.problems,
                "summary": self.summary,
                "checked": self.checked,
                "violations": self.violations,
                "warnings": self.warnings,
                "reminders": self.recalled.reminders,
                "resolved": self.recalled.resolved,
                "problem_states": self.recalled.problems,
                "recovered": self.recalled.recovered,
                "expired_silences": self.recalled.expired_silences,
                "freshness": self.freshness,
            }
        )
