"""Named queries kept as `.sql` files that document themselves in a comment header.

A header is the block of `--` lines at the top of the file::

    -- name: first_shot_success_rate
    -- kind: report
    -- description: First-shot success rate per model, with a 95% Wilson interval.
    -- param: since timestamp = null  -- only rows at or after this time
    -- Any other comment line is a note: the longer explanation `forensics show` prints.

Parameters are `$name` DuckDB bound parameters; values are never formatted into SQL.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CatalogError, ParameterError, UnknownQueryError
from .timewindow import parse_time

NAME_RE = re.compile(r"^[a-z0-9_]+$")
_HEADER_RE = re.compile(r"^--\s*(name|kind|severity|description|param|identity)\s*:\s*(.*)$")
_PARAM_RE = re.compile(
    r"^(?P<name>[a-z0-9_]+)\s+(?P<type>timestamp|text|int|float|bool)"
    r"(?:\s*=\s*(?P<default>\S+))?\s*(?:--\s*(?P<help>.*))?$"
)
_USE_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
KINDS = ("report", "alarm")
SEVERITIES = ("critical", "warn")


def builtin_dir() -> Path:
    """The built-in queries: inside the installed package, or the repository's queries/."""
    here = Path(__file__).resolve().parent
    packaged = here / "queries"
    return packaged if packaged.is_dir() else here.parent / "queries"


@dataclass
class Param:
    """One declared parameter of a query."""

    name: str
    type: str
    default: Any = None
    required: bool = False
    help: str = ""

    def convert(self, value: Any) -> Any:
        """Check and convert a value given on the command line or from Python."""
        if value is None:
            return None
        try:
            if self.type == "timestamp":
                return parse_time(value).isoformat()
            if self.type == "int":
                number = int(value)
                if not -(2**63) <= number < 2**63:  # what DuckDB binds as BIGINT
                    raise OverflowError(number)
                return number
            if self.type == "float":
                number = float(value)
                if not math.isfinite(number):
                    raise ValueError(number)
                return number
            if self.type == "bool":
                if isinstance(value, bool):
                    return value
                text = str(value).lower()
                if text not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return text in ("true", "1", "yes")
        except (TypeError, ValueError, OverflowError):
            raise ParameterError(f"parameter {self.name}: {value!r} is not a valid {self.type}") from None
        return str(value)


@dataclass
class Query:
    """One named query: its SQL and the header that documents it."""

    name: str
    sql: str
    path: Path
    kind: str = "report"
    severity: str | None = None
    description: str = ""
    notes: str = ""
    params: dict[str, Param] = field(default_factory=dict)
    builtin: bool = True
    # An alarm on a condition (a rate over a window, a streak): its rows are known by the alarm
    # and these columns alone, its other columns being measurements that change run to run.
    identity: tuple[str, ...] = ()

    def bind(self, given: dict[str, Any]) -> dict[str, Any]:
        """Validate given parameters against the declared ones and return the values to bind."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "none"
            close = [c for u in unknown for c in difflib.get_close_matches(u, self.params, n=1)]
            hint = f"; did you mean {', '.join(dict.fromkeys(close))}?" if close else ""
            raise ParameterError(f"{self.name}: unknown parameter {', '.join(unknown)}{hint} (it takes: {known})")
        out = {}
        for p in self.params.values():
            if p.name in given and given[p.name] is not None:
                out[p.name] = p.convert(given[p.name])
            elif p.required:
                raise ParameterError(f"{self.name}: missing parameter {p.name} ({p.type})")
            else:
                out[p.name] = p.convert(p.default)
        return out


def parse_query(path: Path, *, builtin: bool = False) -> Query:
    """Parse one .sql file; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read: {exc}") from None
    lines = text.splitlines()
    meta: dict[str, str] = {}
    notes: list[str] = []
    params: dict[str, Param] = {}
    body_start = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            body_start = i
            break
        m = _HEADER_RE.match(stripped)
        if not m:
            notes.append(stripped[2:].strip())
            continue
        key, value = m.group(1), m.group(2).strip()
        where = f"{path}:{i + 1}"
        if key == "param":
            pm = _PARAM_RE.match(value)
            if not pm:
                raise CatalogError(
                    f"{where}: bad param line {value!r}; expected `-- param: name "
                    "timestamp|text|int|float|bool [= default] [-- help]`"
                )
            default = pm.group("default")
            params[pm.group("name")] = Param(
                name=pm.group("name"),
                type=pm.group("type"),
                default=None if default in (None, "null") else default,
                required=default is None,
                help=(pm.group("help") or "").strip(),
            )
        elif key in meta:
            raise CatalogError(f"{where}: `{key}` is given twice")
        else:
            meta[key] = value
    sql = "\n".join(lines[body_start:]).strip()
    name = meta.get("name")
    if not name:
        raise CatalogError(f"{path}:1: the header has no `-- name:` line")
    if not NAME_RE.match(name):
        raise CatalogError(f"{path}:1: query name {name!r} must match [a-z0-9_]+")
    if name != path.stem:
        raise CatalogError(f"{path}:1: query name {name!r} differs from the file name {path.stem!r}")
    kind = meta.get("kind", "report")
    if kind not in KINDS:
        raise CatalogError(f"{path}: kind {kind!r} is not one of {', '.join(KINDS)}")
    severity = meta.get("severity")
    if kind == "alarm" and severity not in SEVERITIES:
        raise CatalogError(f"{path}: an alarm needs `-- severity: critical` or `-- severity: warn`")
    if not sql:
        raise CatalogError(f"{path}: no SQL after the header")
    keyed = tuple(k for k in re.split(r"[\s,]+", meta.get("identity", "")) if k)
    if keyed and (kind != "alarm" or not all(NAME_RE.match(k) for k in keyed)):
        raise CatalogError(f"{path}: `-- identity:` names an alarm's columns (a, b), got {meta['identity']!r}")
    used: dict[str, int] = {}
    for n, line in enumerate(lines[body_start:], start=body_start + 1):
        code = line.split("--", 1)[0]
        for m in _USE_RE.finditer(code):
            used.setdefault(m.group(1), n)
    for pname, n in used.items():
        if pname not in params:
            raise CatalogError(f"{path}:{n}: ${pname} is used but not declared with `-- param:`")
    for pname in params:
        if pname not in used:
            raise CatalogError(f"{path}: parameter {pname} is declared but the SQL never uses ${pname}")
    description = meta.get("description") or (notes.pop(0) if notes else "")
    return Query(
        name=name,
        sql=sql,
        path=path,
        kind=kind,
        severity=severity,
        description=description,
        notes="\n".join(notes).strip(),
        params=params,
        builtin=builtin,
        identity=keyed,
    )


class Catalog:
    """The named queries: built-in ones, overridden by user folders."""

    def __init__(self, queries: dict[str, Query], replaced: dict[str, Query] | None = None):
        self.queries = dict(sorted(queries.items()))
        # Built-in queries that a user folder replaced, by name: the alarm says so every run.
        self.replaced = dict(replaced or {})

    def names(self) -> list[str]:
        """All query names, sorted."""
        return list(self.queries)

    def get(self, name: str) -> Query:
        """The query called ``name``; a clear error when there is none."""
        if not NAME_RE.match(name or ""):
            raise UnknownQueryError(f"invalid query name {name!r}: names match [a-z0-9_]+")
        try:
            return self.queries[name]
        except KeyError:
            # A name that holds or is held by another (top_rejection, …_errors_2), then one spelt alike.
            close = [n for n in self.queries if name in n or n in name]
            close += [n for n in difflib.get_close_matches(name, self.queries, n=3, cutoff=0.6) if n not in close]
            hint = f" (did you mean {', '.join(close[:3])}?)" if close else ""
            raise UnknownQueryError(f"no query named {name!r}{hint}; `forensics list` shows them all") from None

    def alarms(self) -> list[Query]:
        """Every query of kind alarm."""
        return [q for q in self.queries.values() if q.kind == "alarm"]


def load_catalog(extra_dirs: list[Path] | None = None) -> Catalog:
    """Load built-in queries, then each extra folder in rising priority (the first given wins)."""
    queries: dict[str, Query] = {}
    replaced: dict[str, Query] = {}
    folders = [(builtin_dir(), True)] + [(Path(d), False) for d in reversed(extra_dirs or [])]
    for folder, builtin in folders:
        if not folder.is_dir():
            if builtin:
                continue
            raise CatalogError(f"queries folder not found: {folder}")
        for path in sorted(folder.glob("*.sql")):
            q = parse_query(path, builtin=builtin)
            if q.name in queries and queries[q.name].builtin and not builtin:
                replaced.setdefault(q.name, queries[q.name])
            queries[q.name] = q
    return Catalog(queries, replaced)
