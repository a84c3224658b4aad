"""Pages rendered from `templates/`: one Jinja environment (HTML always autoescaped, undefined
names an error) and the filters that format numbers, rates and untrusted text in them."""

from __future__ import annotations

import re
from typing import Any

from .output import counted, escape, iso_utc, plural


def _pct(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def _pp(value: Any, unit: bool = True) -> str:
    """A difference of two rates, in percentage points (``unit``: with its " pp")."""
    return "–" if value is None else f"{value * 100:+.1f}" + (" pp" if unit else "")


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _duration(seconds: Any) -> str:
    """A span of time as days, hours and minutes."""
    if seconds is None:
        return "–"
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    return f"{days} d {hours} h" if days else f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _second(value: Any) -> str:
    """A time in ISO UTC to the second: what a reader compares (the JSON keeps every digit)."""
    if isinstance(value, str):  # (past year 9999: DuckDB's text, see iso_utc)
        return iso_utc(re.sub(r"\.\d+", "", value))
    return "–" if value is None else iso_utc(value.replace(microsecond=0))


# Where a person would break a name, an id or a time: after a separator, never inside a word, and
# not before a short tail (q8_0, q4_K_M, w1: a quantisation or a counter reads as one piece).
_BREAK_AFTER = re.compile(r"([-_:/.@,]+)(?=[^-_:/.@,\s]{3})")


def _breakable(value: Any):
    """Untrusted text for HTML, escaped, with a break opportunity after each separator (``-_:/.``)."""
    from markupsafe import Markup
    from markupsafe import escape as html_escape

    text = str(html_escape("" if value is None else str(value)))
    # Escaping turned < > & ' " into entities, whose ; and # are no separators of the above.
    return Markup(_BREAK_AFTER.sub(r"\1<wbr>", text))


def _when(value: Any):
    """A time for an HTML page, to the second, that wraps only between its date and its time."""
    from markupsafe import Markup

    if value is None:
        return "–"
    day, _, clock = _second(value).partition("T")
    return Markup(f'<span class="nw">{day}</span><wbr><span class="nw">T{clock}</span>')


def _span(seconds: Any) -> str:
    """A stretch of time in words: 7 minutes, 5 hours, 3 days 4 hours."""
    minutes = max(0, int((seconds or 0) // 60))
    if minutes < 120:
        return counted(minutes, "minute")
    hours = minutes // 60
    if hours < 48:
        return counted(hours, "hour")
    days, hours = divmod(hours, 24)
    return counted(days, "day") + (f" {counted(hours, 'hour')}" if hours else "")


def _md(value: Any) -> str:
    """Untrusted text for markdown: a code span, so markup shows as text in chat and email.

    Control characters (a newline or CR would end the table row and let the data start a
    heading) are shown escaped; the span's fence is one backtick longer than any run of
    backticks in the text, so the text cannot close it; pipes are escaped for the table.
    """
    text = escape(str(value if value is not None else "")).replace("|", "\\|")
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    # A span whose text starts or ends with a backtick (or space) needs a space inside
    # the fence, which CommonMark then strips.
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# The counts' words, for every template (the pages here, the notify messages too): `n | counted('row')`
# says "1 row" or "2 rows", `n | plural('iteration')` the noun alone; never "row(s)".
COUNT_FILTERS = {"counted": counted, "plural": plural}


def environment():
    """The Jinja environment of the report and the incident page: HTML autoescaped, number filters."""
    from jinja2 import (
        Environment,
        FileSystemBytecodeCache,
        PackageLoader,
        StrictUndefined,
        select_autoescape,
    )

    from .paths import user_dir

    # Compiling the HTML template is a noticeable part of a small report's run, so the
    # compiled code is kept, keyed by the template's checksum (an edited template is never
    # served stale), in the user's private cache folder: never a shared /tmp name that
    # another user could create first and fill.
    cache = user_dir("jinja")
    env = Environment(
        loader=PackageLoader("forensics", "templates"),
        bytecode_cache=FileSystemBytecodeCache(str(cache)) if cache is not None else None,
        # HTML templates always autoescape: model names, errors and prompts are untrusted.
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pct=_pct,
        pp=_pp,
        num=_num,
        **COUNT_FILTERS,
        md=_md,
        utc=iso_utc,
        duration=_duration,
        second=_second,
        when=_when,
        wbr=_breakable,
        span=_span,
    )
    return env
