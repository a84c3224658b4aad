"""The alarm's one load of the window, then its totals, odd timestamps and every alarm query's rows."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..output import counted, escape, iso_utc
from ..read.narrow import columns_named
from ..timewindow import age_in_words
from .memory import IDENTITY_COLUMNS
from .options import AlarmOptions
from .outcome import AlarmOutcome

# A clock this far ahead of ours is wrong: such a row is still evaluated, but never
# makes a log look fresh.
FUTURE_SLACK = timedelta(minutes=5)


def new_unreadable(store, after_batch: int) -> int:
    """Unreadable lines stored by ingests after `after_batch`, and in the tails not ingested yet."""
    from ..store.lake import tail_report

    if store.lake is None:  # Spark: the store's own files, no tails
        return store.new_unreadable(after_batch)
    lake = store.lake
    stored = 0
    if lake.stored.unreadable:
        stored = store.con.execute(
            "select count(*) from read_parquet(?::varchar[]) where batch > ?", [lake.stored.unreadable, after_batch]
        ).fetchone()[0]
    return stored + tail_report(store.reader.checked, lake).unreadable_lines


def gather(
    store,
    since: datetime | None,
    now: datetime,
    *,
    lines: bool,
    after_batch: int | None = None,
    params: dict[str, dict] | None = None,
    lookback: datetime | None = None,
):
    """One load of the window, then the totals, the odd timestamps and every alarm query's rows.

    A condition alarm (`-- identity:`) judges the rows since ``lookback`` (days, not the window):
    when the window holds fewer, they are loaded once more for it, after the rest is read.
    ``params`` are each alarm's parameters by name (those it declares are bound).
    """
    params = params or {}
    store.materialize(
        since=since,
        columns=columns_named(q.sql for q in store.catalog.alarms()) | set(IDENTITY_COLUMNS),
        window_only=True,
        lines=lines,
        after_batch=after_batch,
    )
    future = {"future": now + FUTURE_SLACK}
    totals = store.execute(
        """select
            count(*),
            count(*) filter (where "timestamp" <= $future),
            min("timestamp") filter (where "timestamp" <= $future),
            max("timestamp") filter (where "timestamp" <= $future),
            count(*) filter (where "timestamp" is null),
            count(*) filter (where "timestamp" > $future)
        from sessions""",
        future,
    ).rows[0]
    odd_times = store.execute(
        """select source_file, line, timestamp_raw
        from sessions
        where "timestamp" is null or "timestamp" > $future
        order by source_file, line
        limit 5""",
        future,
    ).rows
    in_window = dict(store.execute("select source_file, count(*) from sessions group by source_file").rows)
    # The loaded table already is the window, so no `since` is passed to the queries.
    results = [(q, alarm_rows(store, q, params=params.get(q.name))) for q in store.catalog.alarms() if not q.identity]
    conditions = [q for q in store.catalog.alarms() if q.identity]
    if conditions and since is not None and (lookback is None or since > lookback):
        # (and what arrived since the last run, as in the window: the store's files stay those the
        # window's rows are in, for --store-failures; the queries bound their own span)
        store.materialize(
            since=lookback,
            columns=columns_named(q.sql for q in conditions),
            window_only=True,
            lines=False,
            after_batch=after_batch,
        )
    results += [(q, alarm_rows(store, q, params=params.get(q.name))) for q in conditions]
    return totals, odd_times, in_window, results


def alarm_rows(store, q, session_id: str | None = None, *, params: dict | None = None) -> list[dict]:
    """An alarm query's rows in its own order, each with what tells its call apart from every other (`_id_*`).

    A row that names its file and line is matched back to it for the columns of its identity; a
    row that does not (a user's aggregate) is its own content. With ``session_id``, that
    session's rows only; ``params``, those of its declared parameters to bind.
    """
    params = q.bind({k: v for k, v in (params or {}).items() if k in q.params})
    where = ""
    if session_id is not None:
        where, params = "\nwhere q.session_id = $session_id", {**params, "session_id": session_id}
    result = store.execute(f"select *\nfrom (\n{q.sql}\n) q{where}", params)
    rows = result.records()
    if not rows or not {"source_file", "line"} <= set(result.columns):
        return rows
    # Looked up apart and matched in Python: a join keeps no order, and the query's (the oldest
    # first, say) is the order the mail lists and caps its rows in.
    named = ", ".join(f"s.{c} as _id_{c}" for c in IDENTITY_COLUMNS)
    calls = store.execute(
        f"select q.source_file, q.line, {named}\nfrom (\n{q.sql}\n) q\n"
        f"join sessions s\n    on s.source_file = q.source_file and s.line = q.line{where}",
        params,
    ).records()
    found = {(c["source_file"], c["line"]): c for c in calls}
    for r in rows:
        call = found.get((r["source_file"], r["line"]), {})
        r.update({f"_id_{c}": call.get(f"_id_{c}") for c in IDENTITY_COLUMNS})
    return rows


def problems(
    scan,
    opts: AlarmOptions,
    outcome: AlarmOutcome,
    *,
    valid: int,
    rows: int,
    newest,
    now: datetime,
    since,
    max_age,
    after_batch,
) -> list[tuple[str, str]]:
    """What makes the evaluation untrustworthy, each as (a name that stays the same while it lasts, its text)."""
    out = []
    window = f" since {iso_utc(since)}" if since else ""
    if valid == 0:
        what = "zero readable session rows" if rows == 0 else f"no session row with a valid timestamp (of {rows} read)"
        out.append(("nothing", f"{what}{window}: nothing was evaluated" if rows == 0 else f"{what}{window}"))
    for f in scan.unreadable_files:
        out.append((f"file:{f.path}", f"{escape(f.path)}: {escape(f.error)}"))
    unreadable = outcome.checked.get("unreadable_lines_new", outcome.checked["unreadable_lines"])
    if unreadable > opts.checks.max_unreadable:
        new = "new " if after_batch is not None else ""
        out.append(
            (
                "unreadable",
                f"{counted(unreadable, new + 'unreadable line')}, more than --max-unreadable {opts.checks.max_unreadable}",
            )
        )
    if max_age is not None and newest is not None and newest < now - max_age:
        old = f"the newest row ({iso_utc(newest)}) is older than --max-age {opts.checks.max_age}"
        out.append(("stale", f"{old}: it is {age_in_words(now - newest)} old"))
    return out
