"""`forensics compare`: two cohorts of calls side by side on every per-call measure, with the
difference, its 95% interval and a verdict.

Rates are compared by Newcombe's hybrid score interval (the weekly report's method), the mean
attempts to accept by Welch's interval, and the duration percentiles by a percentile bootstrap
with a fixed seed, so the same logs always give the same interval.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime

from ..errors import ParameterError
from ..measures import Z, newcombe_interval, wilson_interval
from ..read.columns import session_view_columns
from ..timewindow import parse_time
from .weekly import MIN_SESSIONS

# Resamples of the bootstrap, and its seed: fixed, so one set of logs gives one answer.
BOOTSTRAP = 1000
SEED = 20261207
# Lists and JSON have no value a cohort could be named by.
_NESTED = frozenset({"attempts", "artifact", "grounded_in_roster_raw"})

COLUMNS = [
    "group",
    "measure",
    "cohort_a",
    "a",
    "n_a",
    "cohort_b",
    "b",
    "n_b",
    "difference",
    "ci_low",
    "ci_high",
    "verdict",
]


@dataclass(frozen=True)
class Cohort:
    """One cohort's counts and values, as the comparison's statement returns them."""

    label: str
    calls: int
    reached_model: int
    first_shot: int
    accepted: int
    exhausted: int
    infra_error: int
    attempts_to_accept: list[int]
    durations: list[int]


def comparable_columns() -> list[str]:
    """The `sessions` columns `--by` may name: every column of the view but the nested ones."""
    return [c for c in session_view_columns() if c not in _NESTED]


def _column(by: str) -> str:
    """`by` as a quoted identifier, once it is known to be one of the view's columns."""
    allowed = comparable_columns()
    if by not in allowed:
        raise ParameterError(f"--by {by!r} is no column of the sessions view; try one of: {', '.join(allowed)}")
    return f'"{by}"'


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile by linear interpolation between closest ranks (numpy's default, DuckDB's quantile_cont)."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def verdict(low: float | None, high: float | None, n_a: int, n_b: int) -> str:
    """'too few calls' below the report's minimum, else 'up'/'down' when the interval excludes 0."""
    if min(n_a, n_b) < MIN_SESSIONS:
        return "too few calls"
    if low is None or high is None:
        return "no real change"
    return "up" if low > 0 else "down" if high < 0 else "no real change"


def proportion_difference(k_a: int, n_a: int, k_b: int, n_b: int) -> tuple[float | None, float | None, float | None]:
    """p_b - p_a and its 95% Newcombe hybrid score interval (method 10); None where a side has no calls."""
    if n_a <= 0 or n_b <= 0:
        return None, None, None
    p_a, p_b = k_a / n_a, k_b / n_b
    low_a, high_a = wilson_interval(k_a, n_a)
    low_b, high_b = wilson_interval(k_b, n_b)
    low, high = newcombe_interval(p_b, low_b, high_b, p_a, low_a, high_a)
    return p_b - p_a, low, high


def mean_difference(a: list[float], b: list[float]) -> tuple[float | None, float | None, float | None]:
    """mean(b) - mean(a) and its 95% Welch interval (normal, unequal variances); no interval
    where a side has fewer than two values."""
    if not a or not b:
        return None, None, None
    diff = _mean(b) - _mean(a)
    if len(a) < 2 or len(b) < 2:
        return diff, None, None
    var = lambda v: sum((x - _mean(v)) ** 2 for x in v) / (len(v) - 1)  # noqa: E731
    half = Z * math.sqrt(var(a) / len(a) + var(b) / len(b))
    return diff, diff - half, diff + half


def _resampled_quantile(xs: list[float], q: float, rng: random.Random) -> float:
    """The q-quantile of one resample (with replacement) of the sorted ``xs``, drawn exactly from
    its order statistics: the r-th smallest of n uniform draws is Beta(r, n - r + 1), the next
    one above it the least of the n - r draws left, so no resample is sorted."""
    n = len(xs)
    pos = (n - 1) * q
    lo = int(pos)
    u = rng.betavariate(lo + 1, n - lo)
    i = min(int(u * n), n - 1)
    if pos == lo or lo + 1 >= n:
        return xs[i]
    u2 = u + (1 - u) * (1 - rng.random() ** (1 / (n - lo - 1)))
    j = min(int(u2 * n), n - 1)
    return xs[i] + (xs[j] - xs[i]) * (pos - lo)


def quantile_difference(
    a: list[float], b: list[float], q: float, *, resamples: int = BOOTSTRAP, seed: int = SEED
) -> tuple[float | None, float | None, float | None]:
    """quantile(b) - quantile(a) and its 95% percentile-bootstrap interval: each cohort resampled
    with replacement ``resamples`` times from one fixed seed; None where a side is empty."""
    if not a or not b:
        return None, None, None
    xa, xb = sorted(a), sorted(b)
    rng = random.Random(seed)
    diffs = sorted(_resampled_quantile(xb, q, rng) - _resampled_quantile(xa, q, rng) for _ in range(resamples))
    return quantile(xb, q) - quantile(xa, q), quantile(diffs, 0.025), quantile(diffs, 0.975)


def compare_cohorts(a: Cohort, b: Cohort, group: str | None = None) -> list[tuple]:
    """One row per measure: each cohort's value and n, the difference b - a, its interval, the verdict."""
    rows = []

    def add(measure, value_a, n_a, value_b, n_b, diff, low, high):
        too_few = min(n_a, n_b) < MIN_SESSIONS
        rows.append(
            (
                group,
                measure,
                a.label,
                value_a,
                n_a,
                b.label,
                value_b,
                n_b,
                diff,
                None if too_few else low,
                None if too_few else high,
                verdict(low, high, n_a, n_b),
            )
        )

    for measure, k_a, n_a, k_b, n_b in (
        ("first_shot_rate", a.first_shot, a.reached_model, b.first_shot, b.reached_model),
        ("accepted_rate", a.accepted, a.calls, b.accepted, b.calls),
        ("exhausted_rate", a.exhausted, a.calls, b.exhausted, b.calls),
        ("infra_error_rate", a.infra_error, a.calls, b.infra_error, b.calls),
    ):
        rate = lambda k, n: k / n if n else None  # noqa: E731
        add(measure, rate(k_a, n_a), n_a, rate(k_b, n_b), n_b, *proportion_difference(k_a, n_a, k_b, n_b))
    att_a, att_b = a.attempts_to_accept, b.attempts_to_accept
    add(
        "attempts_per_accepted",
        _mean(att_a),
        len(att_a),
        _mean(att_b),
        len(att_b),
        *mean_difference(att_a, att_b),
    )
    for measure, q in (("p50_duration_ms", 0.5), ("p95_duration_ms", 0.95)):
        dur_a, dur_b = a.durations, b.durations
        add(
            measure,
            quantile(dur_a, q),
            len(dur_a),
            quantile(dur_b, q),
            len(dur_b),
            *quantile_difference(dur_a, dur_b, q),
        )
    return rows


_STATEMENT = """
with calls as (
    select
        {group} as "group",
        {cohort} as cohort,
        final_verdict,
        first_shot,
        attempts_to_accept,
        duration_ms
    from sessions
    where ($since is null or "timestamp" >= $since::timestamptz)
        and ($until is null or "timestamp" < $until::timestamptz)
        and {where}
)
select
    "group",
    cohort,
    count(*) as calls,
    count(*) filter (where reached_model(final_verdict)) as reached_model,
    count(*) filter (where first_shot) as first_shot,
    count(*) filter (where final_verdict = 'accepted') as accepted,
    count(*) filter (where final_verdict = 'max_iter_exhausted') as exhausted,
    count(*) filter (where final_verdict = 'infra_error') as infra_error,
    list(attempts_to_accept) filter (where attempts_to_accept is not null) as attempts_to_accept,
    list(duration_ms) filter (where duration_ms is not null) as durations
from calls
group by "group", cohort
"""


def compare(
    store,
    *,
    by: str = "model",
    a: str | None = None,
    b: str | None = None,
    split_at: datetime | str | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
):
    """Compare cohort A (`by` = a) with cohort B (`by` = b), or, with ``split_at``, the calls
    before that moment with those at or after it for each value of `by` (its `group` column);
    returns a Result, one row per measure and pair.

    Times are datetimes, ISO texts or ages (7d), read in UTC. Rows whose timestamp does not
    parse are in neither side of a split.
    """
    from ..store.connection import Result

    column = _column(by)
    when = lambda t: None if t is None else parse_time(t)  # noqa: E731
    params: dict = {"since": when(since), "until": when(until)}
    if split_at is None:
        if a is None or b is None:
            raise ParameterError("compare needs two cohorts: --by COLUMN A B, or --split-at TIME")
        if a == b:
            raise ParameterError(f"cohorts A and B are both {a!r}: name two different values")
        value = f"{column}::varchar"
        if by == "prompt_template":
            # A template is named by its hash, given alone or with its words.
            value = f"split_part({column}, ' ', 1)"
            a, b = a.split(" ", 1)[0], b.split(" ", 1)[0]
            if a == b:
                raise ParameterError(f"cohorts A and B are both template {a!r}: name two different templates")
        sql = _STATEMENT.format(group="null::varchar", cohort=value, where=f"{value} in ($a, $b)")
        params |= {"a": a, "b": b}
        pairs = [(None, a, b)]
    else:
        if a is not None or b is not None:
            raise ParameterError("--split-at compares before with after for each value of --by: give no A or B")
        sql = _STATEMENT.format(
            group=f"{column}::varchar",
            cohort="case when \"timestamp\" < $split_at::timestamptz then 'before' else 'after' end",
            where='"timestamp" is not null',
        )
        params["split_at"] = when(split_at)
        pairs = None
    found = {}
    for r in store.execute(sql, params).records():
        found[(r["group"], r["cohort"])] = r
    if pairs is None:
        groups = sorted({g for g, _ in found}, key=lambda g: (g is None, g or ""))
        pairs = [(g, "before", "after") for g in groups]
    rows = []
    for group, label_a, label_b in pairs:
        rows += compare_cohorts(
            _cohort(found.get((group, label_a)), label_a), _cohort(found.get((group, label_b)), label_b), group
        )
    if split_at is None:  # one pair: no group to name
        return Result(COLUMNS[1:], [row[1:] for row in rows], [""] * (len(COLUMNS) - 1))
    return Result(list(COLUMNS), rows, [""] * len(COLUMNS))


def _cohort(record: dict | None, label: str) -> Cohort:
    """A cohort from the statement's row; a cohort with no call is empty, not missing."""
    if record is None:
        return Cohort(label, 0, 0, 0, 0, 0, 0, [], [])
    return Cohort(
        label,
        record["calls"],
        record["reached_model"],
        record["first_shot"],
        record["accepted"],
        record["exhausted"],
        record["infra_error"],
        list(record["attempts_to_accept"] or []),
        list(record["durations"] or []),
    )
