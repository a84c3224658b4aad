"""Output formats, all in one registry: table, markdown, csv, json, jsonl."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from .errors import ForensicsError

# Characters that would let a field start a new line, move the cursor, recolour the
# terminal or reorder what is shown: C0 and C1 controls, DEL, the Unicode line and
# paragraph separators, and the bidirectional overrides. Shown escaped in text output,
# so one field stays one field and every printed line is the tool's own.
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES = {c: _NAMED.get(chr(c), f"\\x{c:02x}") for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_ESCAPES.update({c: f"\\u{c:04x}" for c in [0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]})


def escape(text: str) -> str:
    """Untrusted text for a terminal or a mail: control and reordering characters shown escaped."""
    return text.translate(_ESCAPES)


def plural(n: int, noun: str, irregular: str | None = None) -> str:
    """The noun (a phrase's last word) as English says it of ``n``: row, rows; reply, replies; batch, batches.

    Every count the tool prints passes here or through `counted`: none hedges its noun with a bracketed s.
    ``irregular`` is the plural of one English does not form by the rule.
    """
    if n == 1:
        return noun
    if irregular is not None:
        return irregular
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if len(noun) > 1 and noun[-1] == "y" and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def counted(n: int, noun: str, irregular: str | None = None) -> str:
    """A count and its noun, as English says it: 1 row, 3 rows, 1,204 rows; "more row" counts as "2 more rows"."""
    return f"{n:,} {plural(n, noun, irregular)}"


def exist(paths: list) -> str:
    """What an overwrite refusal says: "a already exists", "a and b already exist"."""
    names = [str(p) for p in paths]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{listed} already exist{'s' if len(names) == 1 else ''}"


def iso_utc(value: datetime | str) -> str:
    """ISO 8601 in UTC with a Z, the one time format every output uses."""
    if isinstance(value, str):
        # A time past year 9999 (a wrong clock an offset carried there): DuckDB hands it over as
        # its text, `10000-01-01 04:59:59.5+00`, in the connection's zone, UTC.
        day, _, clock = value.partition(" ")
        return f"{day}T{clock.removesuffix('+00')}Z"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def plain(value: Any) -> Any:
    """A JSON-ready value: times in ISO UTC, decimals and NaN handled, structures kept."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def cell(value: Any, *, terminal: bool = True) -> str:
    """A value as text: structures as compact JSON, NULL as empty.

    For a terminal (``terminal``), floats are rounded to 4 significant digits and control
    characters are shown escaped; otherwise (CSV) every digit and character is kept.
    """
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    elif isinstance(value, float):
        if not terminal:
            return repr(value)
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"
    else:
        text = str(value)
    return escape(text) if terminal else text


def _rows(columns, rows, *, json_columns=()) -> list[dict]:
    out = []
    for row in rows:
        rec = {}
        for c, v in zip(columns, row):
            if c in json_columns and isinstance(v, str):
                try:
                    v = json.loads(v)
                except ValueError:
                    pass
            rec[c] = plain(v)
        out.append(rec)
    return out


# Columns that hold a proportion: a terminal table shows them as percentages.
_RATE_RE = re.compile(r"(^|_)(rate|share|pct|ci_low|ci_high)$")
# Free text (an error, an artifact, a description) is cut to fit, never narrower than this;
# what names a row (its id, time, file) is never cut.
MIN_WIDTH = 24
_NEVER_CUT = frozenset(
    {"session_id", "timestamp", "source_file", "line", "model", "week", "day", "first_seen", "last_seen", "name"}
)


def _numeric(columns, rows) -> list[bool]:
    return [
        all(isinstance(r[i], (int, float, Decimal)) and not isinstance(r[i], bool) for r in rows if r[i] is not None)
        for i in range(len(columns))
    ]


def _tabulate(columns, rows, tablefmt: str, numeric: list[bool] | None = None) -> str:
    from tabulate import tabulate

    if not rows:
        return "(no rows)\n"
    # Numbers align right; text is never number-parsed (hex session ids look numeric).
    numeric = numeric if numeric is not None else _numeric(columns, rows)
    cells = [[v if isinstance(v, str) and getattr(v, "_ready", False) else cell(v) for v in r] for r in rows]
    return (
        tabulate(
            cells,
            headers=[c if getattr(c, "_ready", False) else escape(c) for c in columns],
            tablefmt=tablefmt,
            disable_numparse=True,
            colalign=["right" if n else "left" for n in numeric],
        )
        + "\n"
    )


def table_width() -> int | None:
    """How wide a table may be: $COLUMNS when set, else the terminal's width; None (no cut) when piped."""
    import os
    import shutil
    import sys

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        if sys.stdout.isatty():
            return shutil.get_terminal_size((100, 24)).columns
    except (AttributeError, ValueError):  # a closed or replaced stdout
        pass
    return None


def to_table(columns, rows, *, tablefmt="simple", width: int | None = None, **_) -> str:
    """A text table via tabulate (--tablefmt passes through): rates as percentages, and on a terminal
    (or when $COLUMNS says how wide) wide text cut with an ellipsis so the table fits; piped, nothing is cut."""
    if not rows:
        return "(no rows)\n"
    numeric = _numeric(columns, rows)
    # Only a column whose every value is a proportion: a `pct` of 45 or a `rate` per minute is not one.
    rate = [
        n and bool(_RATE_RE.search(c)) and all(0 <= v <= 1 for r in rows if (v := r[i]) is not None)
        for i, (c, n) in enumerate(zip(columns, numeric))
    ]
    text = [[f"{float(v) * 100:.1f}%" if rate[i] and v is not None else cell(v) for i, v in enumerate(r)] for r in rows]
    width = width or table_width()
    if width is None:
        width = 1 << 30
    fixed = [n or c in _NEVER_CUT for c, n in zip(columns, numeric)]
    headers = [escape(c) for c in columns]
    if _wide(headers, text) > width:
        # On a narrow terminal a long column name (reached_model) would set its column's width:
        # it folds after its underscores, where a person would break it, before any text is cut.
        headers = [_fold(h, max([len(r[i]) for r in text] + [1])) for i, h in enumerate(headers)]
    caps = _caps(headers, text, fixed, width)
    fitted = [[_Ready(_cut(v, caps[i])) for i, v in enumerate(r)] for r in text]
    return _tabulate(
        [_Ready("\n".join(_cut(x, caps[i]) for x in h.split("\n"))) for i, h in enumerate(headers)],
        fitted,
        tablefmt,
        numeric,
    )


def _wide(headers, text) -> int:
    """How wide tabulate's table would be (a header padded by two, two spaces between columns)."""
    widths = [max([max(len(x) for x in h.split("\n")) + 2] + [len(r[i]) for r in text]) for i, h in enumerate(headers)]
    return sum(widths) + 2 * (len(widths) - 1)


def _fold(header: str, room: int) -> str:
    """A column name in lines no longer than ``room`` (or its longest part), broken only after an underscore."""
    parts = re.findall(r"[^_]+_*|_+", header)
    lines = [""]
    for part in parts:
        if lines[-1] and len(lines[-1]) + len(part) > max(room - 2, 1):
            lines.append("")
        lines[-1] += part
    return "\n".join(lines)


class _Ready(str):
    """A cell already rendered (a percentage, a cut text): shown as it is."""

    _ready = True


def _caps(headers, text, fixed, width: int) -> list[int | None]:
    """Per column, the widest a cell may be (None: uncut) so that the table fits ``width``."""
    # tabulate pads a header by two (its MIN_PADDING) and puts two spaces between columns.
    widths = [max([max(len(x) for x in h.split("\n")) + 2] + [len(r[i]) for r in text]) for i, h in enumerate(headers)]
    room = width - 2 * (len(widths) - 1)
    cuttable = [i for i, w in enumerate(widths) if w > MIN_WIDTH and not fixed[i]]
    if sum(widths) <= room or not cuttable:
        return [None] * len(widths)
    left = room - sum(w for i, w in enumerate(widths) if i not in cuttable)
    # Free text keeps MIN_WIDTH characters while the rest leaves room for it; on a narrow terminal
    # (80 columns) it gives way further, down to a few words, rather than wrap every line.
    floor = MIN_WIDTH if left // len(cuttable) >= MIN_WIDTH else max(12, left // len(cuttable))
    # The widest text columns give way first, down to one cap they share (water-filling).
    cap = max(floor, left // len(cuttable))
    for _ in range(len(cuttable)):
        small = [i for i in cuttable if widths[i] <= cap]
        big = [i for i in cuttable if widths[i] > cap]
        if not big:
            break
        cap = max(floor, (left - sum(widths[i] for i in small)) // len(big))
    return [cap if i in cuttable and widths[i] > cap else None for i in range(len(widths))]


# What escape() writes for one character: a cut keeps it whole or leaves it out.
_ESCAPED = re.compile(r"\\x[0-9a-f]{2}|\\u[0-9a-f]{4}|\\[nrt]|.", re.S)


def _cut(text: str, cap: int | None) -> str:
    if cap is None or len(text) <= cap:
        return text
    kept = 0
    for m in _ESCAPED.finditer(text):
        if m.end() > cap - 1:
            break
        kept = m.end()
    return text[:kept] + "…"


def md_text(text: str) -> str:
    """Text for a markdown table cell: HTML and pipes escaped, so data cannot add markup or columns."""
    return escape(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def to_markdown(columns, rows, **_) -> str:
    """A GitHub-flavoured markdown table; HTML, pipes and control characters in a cell are escaped."""

    def esc(v):
        return md_text(cell(v)) if isinstance(v, (str, dict, list)) else v

    return _tabulate([md_text(c) for c in columns], [[esc(v) for v in r] for r in rows], tablefmt="github")


def to_csv(columns, rows, **_) -> str:
    """RFC 4180 CSV with a header row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([cell(v, terminal=False) for v in r])
    return buf.getvalue()


def to_json(columns, rows, *, json_columns=(), **_) -> str:
    """One JSON array of objects; numbers stay numbers, times are ISO 8601 UTC."""
    return json.dumps(_rows(columns, rows, json_columns=json_columns), ensure_ascii=False, indent=2) + "\n"


def to_jsonl(columns, rows, *, json_columns=(), **_) -> str:
    """One JSON object per line."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _rows(columns, rows, json_columns=json_columns))


FORMATS: dict[str, Callable[..., str]] = {
    "table": to_table,
    "markdown": to_markdown,
    "csv": to_csv,
    "json": to_json,
    "jsonl": to_jsonl,
}


def render(fmt: str, columns: list[str], rows: list[tuple], **options: Any) -> str:
    """Render rows in a named format; an unknown name says which ones exist."""
    try:
        fn = FORMATS[fmt]
    except KeyError:
        raise ForensicsError(f"unknown format {fmt!r}; try one of: {', '.join(FORMATS)}") from None
    return fn(columns, rows, **options)
