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


# A shell argument is a C string, and one argument is at most this long (Linux's MAX_ARG_STRLEN).
_LONGEST_ARGUMENT = 128 * 1024


def incident_command(item: dict, source_args: str, state=None) -> str | None:
    """The `forensics incident` command that shows this violating row's session, runnable as printed.

    A session id the shell cannot pass as one argument (a NUL, or longer than an argument may
    be) is named by the incident's identity instead; one that starts with `-` comes after `--`,
    so that it is never read as an option. A row without a session id has no incident to show.
    """
    sid = item.get("session_id")
    if sid is None:
        return None
    memory = f"--state {quote(state)}" if state else ""
    text = str(sid)
    if "\x00" in text or len(text.encode("utf-8", "surrogatepass")) >= _LONGEST_ARGUMENT:
        if not item.get("identity"):
            return None
        parts = ["forensics incident --identity", quote(item["identity"]), source_args, memory]
    elif text.startswith("-"):
        parts = ["forensics incident", source_args, memory, "--", quote(text)]
    else:
        parts = ["forensics incident", quote(text), source_args, memory]
    return " ".join(p for p in parts if p)
