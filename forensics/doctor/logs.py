"""`forensics doctor`: the health of the logs themselves, file by file and row by row."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..output import counted, escape, iso_utc, plain, plural
from ..read.columns import JSON_TYPES, REPLAY_COLUMNS, SESSION_COLUMNS
from ..read.lines import physical_lines
from ..read.narrow import columns_named
from ..read.wire import NESTED, OMITTED
from .invariants import INVARIANTS

# Unreadable causes that are lines of the wrong kind rather than broken lines.
_NOT_ROWS = ("foreign_row", "not_a_row", "empty_object")


@dataclass
class Health:
    """What doctor found: per-file facts, invariant breaks with examples, orphan rates."""

    files: list[dict] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    orphans: dict = field(default_factory=dict)
    unreadable_lines: int = 0
    replay_given: bool = True
    ingest: dict | None = None  # with a store: is it keeping up (storehealth.py)

    @property
    def healthy(self) -> bool:
        """True when every line was readable, every file read, and no row breaks a rule."""
        return (
            self.unreadable_lines == 0
            and all(c["rows"] == 0 for c in self.checks)
            and not any(f.get("error") for f in self.files)
            and (self.ingest is None or self.ingest["healthy"])
        )

    def as_dict(self) -> dict:
        """A JSON-ready summary."""
        out = {
            "healthy": self.healthy,
            "unreadable_lines": self.unreadable_lines,
            "files": self.files,
            "checks": self.checks,
            "orphans": self.orphans if self.replay_given else "no replay runs given",
        }
        if self.ingest is not None:
            out["ingest"] = self.ingest
        return plain(out)


_PER_FILE = """
    select
        source_file,
        count(*) as rows,
        list(distinct schema order by schema) filter (where schema is not null) as schemas,
        list(distinct {producer} order by {producer}) filter (where {producer} is not null) as producers,
        min("timestamp") as oldest,
        max("timestamp") as newest
    from {view}
    group by source_file"""


def diagnose(store, *, examples: int = 5, grace=None) -> Health:
    """Check every file and row the store reads against the format's rules (and, on a store,
    whether its ingests keep up: ``grace``, a timedelta, defaults to twice their cadence)."""
    health = Health(unreadable_lines=store.check().unreadable_lines)
    if store.lake is not None:
        from .store import ingest_health

        health.ingest = ingest_health(store.lake, grace=grace)
    # One parse of what the checks name; every check below reads the tables.
    store.materialize(
        replay=True,
        columns=columns_named([c for _, _, c in INVARIANTS] + [_PER_FILE, "schema daemon timestamp session_id"]),
    )
    per_file = {
        r["source_file"]: r for r in store.execute(_PER_FILE.format(producer="daemon", view="sessions")).records()
    }
    replay_files = {
        r["source_file"]: r
        for r in store.execute(_PER_FILE.format(producer="null::varchar", view="replay_runs")).records()
    }
    for scan in store.scan.files:
        facts = (per_file if scan.stream == "sessions" else replay_files).get(scan.path, {})
        health.files.append(
            {
                **scan.as_dict(),
                "schemas": facts.get("schemas") or [],
                "producers": facts.get("producers") or [],
                "oldest_timestamp": facts.get("oldest"),
                "newest_timestamp": facts.get("newest"),
            }
        )
    for name, meaning, condition in INVARIANTS:
        res = store.execute(
            f"""select session_id, "timestamp", source_file, line, count(*) over () as total
            from sessions where {condition}
            order by source_file, session_id limit {int(examples)}"""
        )
        total = res.rows[0][4] if res.rows else 0
        found = [{"session_id": r[0], "timestamp": r[1], "source_file": r[2], "line": r[3]} for r in res.rows]
        health.checks.append(
            {
                "check": name,
                "meaning": meaning,
                "rows": total,
                "examples": [{"session_id": f["session_id"], "at": f"{f['source_file']}:{f['line']}"} for f in found],
            }
        )
    health.checks += _line_checks(store.scan, examples)
    health.checks += _wrong_types(store, examples)
    health.replay_given = not store.replay_missing(["replay_runs"])
    o = store.execute(
        """with s as (select distinct session_id from sessions where session_id is not null),
            r as (select distinct session_id from replay_runs where session_id is not null)
        select
            (select count(*) from s),
            (select count(*) from s anti join r using (session_id)),
            (select count(*) from r),
            (select count(*) from r anti join s using (session_id)),
            (select count(*) from replay_runs where session_id is null)"""
    ).rows[0]
    health.orphans = {
        "session_ids": o[0],
        "without_replay": o[1],
        "without_replay_rate": o[1] / o[0] if o[0] else None,
        "replay_session_ids": o[2],
        "replay_without_session": o[3],
        "replay_without_session_rate": o[3] / o[2] if o[2] else None,
        "replay_rows_without_session_id": o[4],
    }
    return health


def _line_checks(scan, examples: int) -> list[dict]:
    """Lines that were repaired (keys given twice, bad bytes, too deep) or are rows of another kind."""
    out = []
    for name, meaning, pick in (
        (
            "duplicate_keys",
            "a key given twice on one line (read as the last copy; a false roster verdict in any copy wins)",
            lambda f: [ln for ln, w in f.repaired_lines if "duplicate_keys" in w],
        ),
        (
            "repaired_bytes",
            "invalid UTF-8 replaced by U+FFFD, or nesting past 100 levels cut, to keep the row",
            lambda f: [ln for ln, w in f.repaired_lines if "invalid_utf8" in w or "too_deep" in w],
        ),
        (
            "not_session_rows",
            "a line that is an object but not a row of its stream (another stream's schema, no verdict, empty)",
            lambda f: [ln for _, ln, c in f.bad_lines if c in _NOT_ROWS],
        ),
    ):
        found = [(f.path, ln) for f in scan.files for ln in pick(f)]
        out.append(
            {
                "check": name,
                "meaning": meaning,
                "rows": len(found),
                "examples": [{"session_id": None, "at": f"{p}:{ln}"} for p, ln in found[:examples]],
            }
        )
    return out


def _type_checks(columns, label: str = "") -> list[tuple[str, str, str, str]]:
    """(name, SQL condition over `_j` and `json`, the value shown, meaning) for each key and
    nested field doctor type-checks, over one stream's columns (``label`` prefixes their names)."""
    out = []
    for c in columns:
        base = f"_j.{c.ident}"
        allowed = ", ".join(f"'{t}'" for t in JSON_TYPES[c.wire] + ("NULL",))
        cond = f"{base} is not null and (json_type({base}) not in ({allowed}){_past_bigint(c.wire, base)})"
        if not label and c.name in OMITTED:  # the format leaves the key out, never writes null
            cond = f"({cond}) or json_type(json, '$.{c.name}') = 'NULL'"
        out.append((label + c.name, cond, base, _meaning(label + c.name, c.wire, not label and c.name in OMITTED)))
        out += _nested_checks(c.wire, base, "$", label + c.name, f"json_type({base}) = '{JSON_TYPES[c.wire][0]}'")
    return out


def _past_bigint(wire: str, value: str) -> str:
    """For an integer key, SQL (` or ...`) saying its value is an integer past BIGINT, which reads
    as NULL: json_type calls it UBIGINT, as it does every positive integer."""
    if wire != "integer":
        return ""
    return f" or (json_type({value}) = 'UBIGINT' and try_cast({value}::varchar as bigint) is null)"


def _meaning(name: str, wire: str, omitted: bool) -> str:
    return f"`{name}` is not a JSON {wire}" + (" (null included: the key is left out when empty)" if omitted else "")


def _nested_checks(kind: str, base: str, path: str, name: str, guard: str) -> list[tuple[str, str, str, str]]:
    """The checks of a nested value's fields, by path (`attempts[].iteration`, `retrieval.hits[].score`)."""
    if kind not in NESTED:
        return []
    shape, fields = NESTED[kind]
    out = []
    for f, wire in fields:
        sub, shown = (f"{path}[*].{f}", f"{name}[].{f}") if shape == "list" else (f"{path}.{f}", f"{name}.{f}")
        allowed = ", ".join(f"'{t}'" for t in JSON_TYPES[wire] + (() if f in OMITTED else ("NULL",)))
        types = f"json_type({base}, '{sub}')"
        if "[*]" not in sub:
            types = f"[{types}]"
        cond = f"{guard} and list_bool_or(list_transform({types}, lambda t: t is not null and t not in ({allowed})))"
        if wire == "integer":
            values = f"json_extract({base}, '{sub}')"
            if "[*]" not in sub:
                values = f"[{values}]"
            cond = f"({cond} or list_bool_or(list_transform({values}, lambda v: false{_past_bigint(wire, 'v')})))"
        out.append((shown, cond, base, _meaning(shown, wire, f in OMITTED)))
        out += _nested_checks(wire, base, sub, shown, guard)
    return out


def _wrong_types(store, examples: int) -> list[dict]:
    """Per key of either stream: values whose JSON type is not the one the format gives it, with examples."""
    out = []
    for stream, columns, label in (("sessions", SESSION_COLUMNS, ""), ("replay_runs", REPLAY_COLUMNS, "replay.")):
        checks = _type_checks(columns, label)
        totals, found = _count_wrong(store, stream, columns, checks, examples)
        out += [
            {"check": f"type:{name}", "meaning": meaning, "rows": totals[name], "examples": found[name][:examples]}
            for name, _, _, meaning in checks
        ]
    return out


def _count_wrong(store, stream: str, columns, checks, examples: int):
    """Each check's count and first examples over one stream's files."""
    shape = "{" + ",".join(f'"{c.name}":"JSON"' for c in columns) + "}"
    totals = {name: 0 for name, _, _, _ in checks}
    found: dict[str, list[dict]] = {name: [] for name, _, _, _ in checks}
    reader = store.reader
    # On a store, the raw values of what was ingested are gone (typed, a wrong type is a
    # NULL): the tails are checked, under their files' names and lines.
    tails = {t.read_path: t for t in store.lake.tails} if store.lake is not None else {}
    for path, read in reader.readable(stream):
        tail = tails.get(path)
        shown, base = (tail.segment.path, tail.base) if tail else (path, 0)
        selects = ", ".join(
            f"count(*) filter (where {cond}), "
            f"list({{'ordinal': ordinality, 'value': left(coalesce({value}::varchar, 'null'), 80)}}) "
            f"filter (where {cond})[:{int(examples)}]"
            for _, cond, value, _ in checks
        )
        row = store.execute(
            f"""select {selects}
            from (
                select json_transform(json, '{shape}') as _j, json, ordinality
                from read_ndjson_objects({reader.file_ref(read)}, ignore_errors = true,
                    maximum_object_size = {reader.limit(stream)}) with ordinality
                where starts_with(ltrim(json::varchar), '{{')
            )"""
        ).rows[0]
        for i, (name, _, _, _) in enumerate(checks):
            totals[name] += row[2 * i]
            picked = row[2 * i + 1] or []
            lines = physical_lines(read, [p["ordinal"] for p in picked])
            found[name] += [
                {
                    "session_id": None,
                    "at": f"{shown}:{lines.get(p['ordinal'], p['ordinal']) + base}",
                    "value": p["value"],
                }
                for p in picked
            ]
    return totals, found


def tally(health: Health) -> tuple[int, int]:
    """(checks passed, problems): each invariant and each file is a check; a stuck store is a problem."""
    problems = sum(1 for c in health.checks if c["rows"]) + sum(
        1 for f in health.files if f["unreadable_lines"] or f.get("error")
    )
    checks = len(health.checks) + len(health.files)
    if health.ingest is not None:
        checks += 1
        problems += 0 if health.ingest["healthy"] else 1
    return checks - problems, problems


def render_text(health: Health, *, verbose: bool = False) -> str:
    """A readable health report: the problems and a summary ("41 checks ok, 1 problem"); ``verbose``
    lists every check. Every text that came from a log is shown escaped."""
    out = []
    for f in health.files:
        span = ""
        if f["oldest_timestamp"]:
            span = f"  {iso_utc(f['oldest_timestamp'])} .. {iso_utc(f['newest_timestamp'])}"
        out.append(
            f"{escape(f['file'])} ({f['stream']}): {counted(f['rows'], 'row')}, {f['unreadable_lines']:,} unreadable{span}"
        )
        if f.get("error"):
            out.append(f"    FILE NOT READ WHOLE: {escape(f['error'])}")
        if f["unreadable"]:
            causes = ", ".join(f"{k}: {v}" for k, v in sorted(f["unreadable"].items()))
            lines = ", ".join(str(u["line"]) for u in f["unreadable_at"])
            out.append(f"    unreadable by cause: {causes} ({plural(len(f['unreadable_at']), 'line')} {lines})")
        if f.get("repaired"):
            what = ", ".join(f"{k}: {v}" for k, v in sorted(f["repaired"].items()))
            lines = ", ".join(str(u["line"]) for u in f["repaired_at"])
            out.append(f"    repaired and read: {what} ({plural(len(f['repaired_at']), 'line')} {lines})")
        if f["schemas"]:
            out.append(f"    schemas: {escape(', '.join(f['schemas']))}")
        if f.get("producers"):
            out.append(f"    producers: {escape(', '.join(f['producers']))}")
    out.append("")
    for c in health.checks:
        if c["rows"] == 0 and not verbose:
            continue
        mark = "ok  " if c["rows"] == 0 else "FAIL"
        line = f"{mark} {c['check']}: {counted(c['rows'], 'row')}"
        if c["rows"]:
            examples = ", ".join(
                e["at"] + (f" ({e['value']})" if e.get("value") is not None else "") for e in c["examples"]
            )
            line += f" - {c['meaning']}; e.g. " + escape(examples)
        out.append(line)
    o = health.orphans
    out.append("")
    if not health.replay_given:
        out.append("orphans: no replay runs given (--replay-runs): nothing is known about replays")
    else:
        if o.get("session_ids"):
            out.append(
                f"orphans: {o['without_replay']:,} of {counted(o['session_ids'], 'session id')} "
                f"{'has' if o['without_replay'] == 1 else 'have'} no replay run "
                f"({o['without_replay_rate']:.1%})"
            )
        if o.get("replay_session_ids"):
            out.append(
                f"orphans: {o['replay_without_session']:,} of {counted(o['replay_session_ids'], 'replayed session id')} "
                f"{'has' if o['replay_without_session'] == 1 else 'have'} no session row ({o['replay_without_session_rate']:.1%}); "
                f"{counted(o['replay_rows_without_session_id'], 'replay row')} "
                f"{'carries' if o['replay_rows_without_session_id'] == 1 else 'carry'} no session id"
            )
    if health.ingest is not None:
        from .store import render

        out.append("")
        out += render(health.ingest)
    ok, problems = tally(health)
    summary = f"{counted(ok, 'check')} ok"
    if problems:
        summary += f", {counted(problems, 'problem')}"
    else:
        summary += ": healthy" + ("" if verbose else " (--verbose lists every check)")
    out.append(summary)
    return "\n".join(out)
