"""The commands the alarm prints, spelled so that the shell gives back every value as it is."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

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


def program(argv0: str | None = None) -> str:
    """The running forensics as the reader's shell can run it: its own path, not a name PATH may not find.

    cron runs `/opt/forensics/bin/forensics`, which the person reading the mail may not have on
    PATH; `python -m forensics` is named by its interpreter. Run any other way (a notebook, a test
    harness), it is plain `forensics`.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    name = Path(argv0).name
    if name == "forensics" or name.startswith("forensics."):  # (the console script; .exe on Windows)
        found = argv0 if os.sep in argv0 else shutil.which(argv0)
        return quote(os.path.abspath(found)) if found else "forensics"
    if name == "__main__.py" and Path(argv0).parent.name == "forensics":
        return f"{quote(sys.executable)} -m forensics"
    return "forensics"


def source_args(opts: AlarmOptions, folder, src=None, *, env=None, cwd=None) -> str:
    """The options that make another command read what this alarm read, from any folder and environment.

    Logs the alarm took from $FORENSICS_SESSIONS / $FORENSICS_REPLAY_RUNS, query folders from
    $FORENSICS_QUERIES, and a ./forensics.toml it read are spelled out: the person paged runs the
    command in another shell, elsewhere.
    """
    from ..read.sources import CONFIG_NAME, ENV_QUERIES, ENV_REPLAY_RUNS, ENV_SESSIONS, split_env

    env = os.environ if env is None else env
    origin = src.origin if src is not None else {}
    if folder is not None:
        parts = [f"--store {quote(folder)}"]
    else:
        parts = []
        for flag, given, key, env_key in (
            ("-s", opts.sources.sessions, "sessions", ENV_SESSIONS),
            ("-r", opts.sources.replay_runs, "replay_runs", ENV_REPLAY_RUNS),
        ):
            specs = given or (split_env(env[env_key]) if origin.get(key) == f"${env_key}" else [])
            parts += [f"{flag} {quote(p)}" for p in specs]
    config = opts.sources.config
    implicit = Path(cwd or os.getcwd()) / CONFIG_NAME
    if not config and implicit.is_file():
        config = implicit.absolute()  # (read from the folder cron ran in)
    if config:
        parts.append(f"--config {quote(config)}")
    # Without them a user's alarm is unknown to `run` and missing from the incident's alarms.
    queries = list(opts.sources.queries_dirs) + (split_env(env[ENV_QUERIES]) if env.get(ENV_QUERIES) else [])
    parts += [f"--queries-dir {quote(q)}" for q in queries]
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
        parts = [program(), "incident --identity", quote(item["identity"]), source_args, memory]
    elif text.startswith("-"):
        parts = [program(), "incident", source_args, memory, "--", quote(text)]
    else:
        parts = [program(), "incident", quote(text), source_args, memory]
    return " ".join(p for p in parts if p)
