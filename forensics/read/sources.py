"""Where the logs are: flags beat environment variables, which beat a config file."""

from __future__ import annotations

import glob
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, NoSourceError, SourceError

ENV_SESSIONS = "FORENSICS_SESSIONS"
ENV_REPLAY_RUNS = "FORENSICS_REPLAY_RUNS"
ENV_QUERIES = "FORENSICS_QUERIES"
ENV_STORE = "FORENSICS_STORE"
CONFIG_NAME = "forensics.toml"
# What a forensics.toml (or its [sources] table) may say.
CONFIG_KEYS = ("sessions", "replay_runs", "queries_dirs", "store", "lakehouse")
# Tables a forensics.toml may hold that others read: [alarms.NAME] thresholds (oncall/thresholds.py),
# and the keys other parts read for themselves, at the top (forensics/notify/settings.py's).
OTHER_TABLES = ("alarms",)
OTHER_KEYS = ("notify", "templates_dir", "group_by")

# What a directory source contributes: live logs and what logrotate leaves of them:
# numbered (`.1`, `.2.gz`), dated (`-20261130`, `-2026113012`, `.gz`), zstd-compressed.
# logrotate's dateext: -YYYYMMDD, -YYYY-MM-DD, then what a dateformat adds: an hour, a time
# (-%Y%m%d%H%M%S), or epoch seconds (-%Y%m%d-%s, the man page's idiom for several a day).
DATED = r"-\d{4}-?\d{2}-?\d{2}(?:[-_.T]?\d{2,10})?(?:[-_.]\d+)?"
ROTATED_SUFFIX = rf"(?:\.\d+|{DATED})?(?:\.gz|\.zst)?"
_ROTATED = re.compile(r".*\.jsonl" + ROTATED_SUFFIX, re.DOTALL)
_GLOB_CHARS = re.compile(r"[*?\[]")
_LIVE = re.compile(r"(.*\.jsonl)" + ROTATED_SUFFIX, re.DOTALL)


def live_name(path: str | os.PathLike) -> str:
    """The live log a file is, or was before logrotate renamed it (`sessions.jsonl.2.gz` -> `sessions.jsonl`)."""
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    found = _LIVE.fullmatch(name)
    return os.path.join(folder, found.group(1)) if found else path


@dataclass
class Sources:
    """The resolved log files of both streams, and where each setting came from."""

    sessions: list[Path] | None = None
    replay_runs: list[Path] | None = None
    queries_dirs: list[Path] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        """Every file of both streams."""
        return list(self.sessions or []) + list(self.replay_runs or [])


def _for_stream(files: list[Path], stream: str | None) -> list[Path]:
    # Both streams often share one folder: a directory or glob given for one stream leaves
    # out the other stream's files (replay_runs*.jsonl), so rows are never read as the
    # wrong kind. (A replay row that still reaches the sessions stream is counted as a
    # foreign row by the reader, never read as a session.)
    replay = [p for p in files if p.name.startswith("replay")]
    if stream == "sessions":
        return [p for p in files if p not in replay]
    if stream == "replay_runs" and replay:
        return replay
    return files


def expand(spec: str | os.PathLike, what: str = "log", stream: str | None = None) -> list[Path]:
    """Expand a file, glob or directory into the sorted files it names; raise if it names none."""
    text = os.path.expanduser(os.fspath(spec))
    # A name that exists is that file or folder, glob characters and all (`sessions[1].jsonl`).
    if _GLOB_CHARS.search(text) and not os.path.exists(text):
        found = _for_stream(sorted(Path(p) for p in glob.glob(text, recursive=True) if os.path.isfile(p)), stream)
        if not found:
            raise SourceError(f"{what}: the glob {text!r} matches no file")
        return found
    path = Path(text)
    if path.is_dir():
        found = _for_stream(sorted(p for p in path.iterdir() if p.is_file() and _ROTATED.fullmatch(p.name)), stream)
        if not found:
            raise SourceError(
                f"{what}: the directory {text!r} holds no *.jsonl file nor one logrotate made of it "
                "(*.jsonl.N, *.jsonl-YYYYMMDD, .gz, .zst)"
            )
        return found
    if path.is_file():
        return [path]
    if path.exists():
        raise SourceError(f"{what}: {text!r} is not a regular file")
    raise SourceError(f"{what}: no such file or directory: {text!r}")


def _identity(path: Path) -> tuple:
    """What makes two names one file: its device and inode (two spellings, a symlink)."""
    try:
        st = path.stat()
    except OSError:
        return ("name", str(path))
    return (st.st_dev, st.st_ino)


def _expand_all(specs: list[str], what: str, stream: str, seen: set | None = None) -> list[Path]:
    """Every file the specs name, each once however it is reached (`seen` spans both streams)."""
    files: list[Path] = []
    seen = set() if seen is None else seen
    for spec in specs:
        for f in expand(spec, what, stream):
            key = _identity(f)
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files


def as_list(value) -> list[str]:
    """A flag's value (None, one path, or several) as a list of path strings."""
    if value is None:
        return []
    return [os.fspath(value)] if isinstance(value, (str, os.PathLike)) else [os.fspath(v) for v in value]


def split_env(value: str) -> list[str]:
    """Several sources in one variable, separated like PATH."""
    return [v for v in value.split(os.pathsep) if v.strip()]


def load_config(path: Path, *, _via: tuple[Path, ...] = ()) -> dict:
    """Read a forensics.toml (or a lakehouse.toml) into {'sessions': [...], ...} with absolute paths.

    Every key is read or refused, never dropped: a key it does not know, one of the wrong
    type, one given both at the top and in [sources], and a file that names itself (through
    `lakehouse`, at any depth) are usage errors that name the key.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"config: no such file: {str(path)!r}") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config: {path}: {exc}") from None
    except RecursionError:  # (tomllib parses nesting by recursion)
        raise ConfigError(f"config: {path}: nested deeper than a config is read") from None
    base = path.parent

    def absolute(p: str) -> str:
        if "://" in p:  # a URL (a store on s3a://, hdfs://) is where it says
            return p
        p = os.path.expanduser(p)
        return p if os.path.isabs(p) else str(base / p)

    if _is_lakehouse(data):
        # Another tool's file: its own keys are its own; ours are read where it has them (at
        # the top, and its [sources] table, which is ours whole).
        ours = {k: data[k] for k in (*CONFIG_KEYS, "sources") if k in data}
        section: Mapping = _section(path, ours)
    else:
        section = _section(path, data)
    _check_types(path, section)
    out: dict[str, list[str]] = {}
    lakehouse = section.get("lakehouse")
    if lakehouse:
        target = Path(absolute(lakehouse))
        chain = (*_via, path)
        if any(_same_file(target, p) for p in chain):
            raise ConfigError(
                f"config: {path}: lakehouse = {lakehouse!r} names a file already read "
                f"({' -> '.join(str(p) for p in (*chain, target))})"
            )
        out.update(load_config(target, _via=chain))
    if _is_lakehouse(data):
        out["sessions"] = [
            absolute(data[d]["session_log_path"])
            for d in ("validatord", "gateway")
            # (an empty path names no log: not the folder of the file)
            if isinstance(data.get(d), Mapping)
            and isinstance(data[d].get("session_log_path"), str)
            and data[d]["session_log_path"].strip()
        ]
    for key in ("sessions", "replay_runs", "queries_dirs"):
        if key in section:
            value = section[key]
            out[key] = [absolute(x) for x in ([value] if isinstance(value, str) else value)]
    if "store" in section:
        out["store"] = [absolute(section["store"])]
    return out


def _section(path: Path, data: Mapping) -> dict:
    """The config's keys: the top level's and the [sources] table's, each known, none given twice."""
    import difflib

    table = data.get("sources", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"config: {path}: 'sources' must be a table ([sources]), got {type(table).__name__}")
    top = {k: v for k, v in data.items() if k != "sources" and k not in OTHER_TABLES and k not in OTHER_KEYS}
    for key in top.keys() & table.keys():
        raise ConfigError(f"config: {path}: {key!r} is given both at the top and in [sources]; keep one")
    section = {**top, **table}
    for key in section:
        if key not in CONFIG_KEYS:
            close = difflib.get_close_matches(key, CONFIG_KEYS, n=1)
            # A misspelt key would otherwise be silence, and the logs it names never read.
            raise ConfigError(
                f"config: {path}: unknown key {key!r}"
                + (f"; did you mean {close[0]!r}?" if close else "")
                + f" (it takes {', '.join(CONFIG_KEYS)})"
            )
    return section


def _check_types(path: Path, section: Mapping) -> None:
    """Paths are strings; the streams and query folders may also be lists of strings."""
    for key, value in section.items():
        many = key in ("sessions", "replay_runs", "queries_dirs")
        ok = isinstance(value, str) or (many and isinstance(value, list) and all(isinstance(v, str) for v in value))
        if not ok or (isinstance(value, str) and not value.strip()):
            wanted = "a path or a list of paths" if many else "a path"
            raise ConfigError(f"config: {path}: {key} must be {wanted}, got {value!r}"[:300])


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def resolve_store(
    flag: str | os.PathLike | None = None,
    *,
    config: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
) -> str | None:
    """The store folder: --store, else $FORENSICS_STORE, else `store = "..."` in forensics.toml; or None."""
    env = os.environ if env is None else env
    if flag:
        return os.path.expanduser(os.fspath(flag))
    if env.get(ENV_STORE):
        return os.path.expanduser(env[ENV_STORE])
    path = Path(config) if config else Path(cwd or os.getcwd()) / CONFIG_NAME
    if config or path.is_file():
        found = load_config(path).get("store")
        return found[0] if found else None
    return None


def _is_lakehouse(data: Mapping) -> bool:
    return any(isinstance(data.get(d), Mapping) and "session_log_path" in data[d] for d in ("validatord", "gateway"))


def resolve(
    sessions: list[str] | str | None = None,
    replay_runs: list[str] | str | None = None,
    *,
    config: str | os.PathLike | None = None,
    queries_dirs: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    streams: bool = True,
) -> Sources:
    """Resolve both streams from flags, then environment, then config; raise SourceError if absent."""
    env = os.environ if env is None else env
    cwd = Path(cwd or os.getcwd())
    cfg: dict = {}
    cfg_name = None
    if config:
        cfg_path = Path(config)
        cfg, cfg_name = load_config(cfg_path), str(cfg_path)
    elif (cwd / CONFIG_NAME).is_file():
        cfg, cfg_name = load_config(cwd / CONFIG_NAME), str(cwd / CONFIG_NAME)

    def pick(flag, env_key, cfg_key):
        if flag:
            return ([flag] if isinstance(flag, (str, os.PathLike)) else list(flag)), "flag"
        if env.get(env_key):
            return split_env(env[env_key]), f"${env_key}"
        if cfg.get(cfg_key):
            return cfg[cfg_key], f"config {cfg_name}"
        return None, None

    result = Sources()
    # `streams=False`: only the query folders are wanted (list, show), so a log that is
    # missing right now must not stop them.
    s_specs, s_from = pick(sessions, ENV_SESSIONS, "sessions") if streams else (None, None)
    r_specs, r_from = pick(replay_runs, ENV_REPLAY_RUNS, "replay_runs") if streams else (None, None)
    if s_specs is None and streams:
        raise NoSourceError(
            "no sessions log configured: pass --sessions PATH, set FORENSICS_SESSIONS, "
            f"or name it in ./{CONFIG_NAME} (see `forensics --help`)"
        )
    seen: set = set()
    if s_specs is not None:
        result.sessions = _expand_all([os.fspath(s) for s in s_specs], "sessions", "sessions", seen)
        result.origin["sessions"] = s_from
    if r_specs is not None:
        # A file already read as sessions is not read again as replay runs (nor the reverse).
        result.replay_runs = _expand_all([os.fspath(s) for s in r_specs], "replay runs", "replay_runs", seen)
        result.origin["replay_runs"] = r_from
    dirs = list(queries_dirs or [])
    if env.get(ENV_QUERIES):
        dirs += split_env(env[ENV_QUERIES])
    dirs += cfg.get("queries_dirs", [])
    result.queries_dirs = [Path(d) for d in dirs]
    return result
