"""The commands the alarm prints, spelled so that the shell gives back every value as it is."""

from __future__ import annotations

import shlex

from ..output import escape
from .options import AlarmOptions


def quote(value) -> str:
    """A value for a shell command line the alarm prints, which the shell gives back as it is."""
    text = str(value)
    if escape(text) == text:
        return shlex.quote(text)
    # A control or reordering character (it may come from a log) must not reach the terminal,
    # yet escaped inside '...' the command would name another session: bash's $'...' spells
    # each one by its UTF-8 bytes, which the shell turns back into the character in any locale.
    spelled = "".join(
        "\\" + c
        if c in "\\'"
        else c
        if escape(c) == c
        else escape(c)
        if ord(c) < 0x80
        else "".join(f"\\x{b:02x}" for b in c.encode("utf-8", "surrogatepass"))
        for c in text
    )
    return f"$'{spelled}'"


def source_args(opts: AlarmOptions, folder) -> str:
    """The options that make another command read what this alarm read."""
    if folder is not None:
        parts = [f"--store {quote(folder)}"]
    else:
        parts = [f"-s {quote(p)}" for p in opts.sources.sessions or []] + [
            f"-r {quote(p)}" for p in opts.sources.replay_runs or []
        ]
    if opts.sources.config:
        parts.append(f"--config {quote(opts.sources.config)}")
    # Without them a user's alarm is unknown to `run` and missing from the incident's alarms.
    parts += [f"--queries-dir {quote(q)}" for q in opts.sources.queries_dirs]
    return " ".join(parts)
