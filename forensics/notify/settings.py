"""The receivers (`[[notify]]` tables in forensics.toml, `--notify URL`), the templates folder and what a
storm is grouped by: read and checked once, every mistake a usage error that names it."""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError, ParameterError
from ..oncall.groups import GROUP_BY, GROUP_KEYS

SEVERITIES = ("critical", "warn")
RECEIVER_KEYS = ("url", "severity", "timeout", "hold")


@dataclass(frozen=True)
class Receiver:
    """One place the alarm's news goes: a webhook, an Alertmanager or a command, and the severities routed to it."""

    url: str
    severity: tuple[str, ...] = SEVERITIES
    timeout: float = 10.0
    hold: float = 3600.0  # Alertmanager: how long a firing alert stands if no later run re-sends it

    @property
    def kind(self) -> str:
        """webhook, alertmanager or exec."""
        if self.url.startswith("exec:"):
            return "exec"
        if self.url.startswith("alertmanager+"):
            return "alertmanager"
        return "webhook"

    @property
    def key(self) -> str:
        """The receiver's name in the ledger: its address's digest (a webhook's URL may hold its secret)."""
        return hashlib.sha256(self.url.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    @property
    def name(self) -> str:
        """How the receiver is shown: a URL without its path and query (a Slack hook's path is its secret)."""
        if self.kind == "exec":
            return self.url
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}" + ("/…" if parts.path.strip("/") or parts.query else "")


@dataclass
class Settings:
    """Everything delivery needs from the configuration."""

    receivers: list[Receiver] = field(default_factory=list)
    templates_dir: Path | None = None
    group_by: tuple[str, ...] = GROUP_BY


def receiver(url: str, *, severity=None, timeout=None, hold=None, where: str = "--notify") -> Receiver:
    """A receiver checked: a scheme it knows, a host and port where it needs one, known severities."""
    if not isinstance(url, str) or not url.strip():
        raise ParameterError(f"{where}: url must be a non-empty string, got {url!r}")
    if url.startswith("exec:"):
        if not url[5:].strip():
            raise ParameterError(f'{where}: exec: needs a command, as in exec:mail -s "$FORENSICS_SUBJECT" oncall@…')
    else:
        parts = urlsplit(url)
        scheme = parts.scheme.removeprefix("alertmanager+")
        if scheme not in ("http", "https") or not parts.hostname:
            raise ParameterError(
                f"{where}: {url!r} is not a receiver: give http(s)://HOST/PATH (a webhook), "
                "alertmanager+http(s)://HOST:PORT (Alertmanager) or exec:COMMAND"
            )
        try:
            parts.port  # noqa: B018 (a port out of range raises here)
        except ValueError as exc:
            raise ParameterError(f"{where}: {url!r}: {exc}") from None
    sev = SEVERITIES if severity is None else (severity,) if isinstance(severity, str) else severity
    if not isinstance(sev, (list, tuple)) or not sev or any(s not in SEVERITIES for s in sev):
        raise ParameterError(f"{where}: severity must be a list of {', '.join(SEVERITIES)}, got {severity!r}")
    values = {}
    for key, value, default in (("timeout", timeout, 10.0), ("hold", hold, 3600.0)):
        if value is None:
            values[key] = default
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 86400:
            values[key] = float(value)
        else:
            raise ParameterError(f"{where}: {key} takes seconds (0 to 86400), got {value!r}")
    return Receiver(url, tuple(sev), values["timeout"], values["hold"])


def load_settings(config=None, notify: list[str] | None = None, *, cwd=None) -> Settings:
    """The receivers of forensics.toml (``config``, else ./forensics.toml) then ``notify``'s; its templates and grouping."""
    from ..read.sources import CONFIG_NAME

    path = Path(config) if config else Path(cwd or os.getcwd()) / CONFIG_NAME
    data = {}
    if config or path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config: {path}: {exc}") from None
        except RecursionError:  # (tomllib parses nesting by recursion)
            raise ConfigError(f"config: {path}: nested deeper than a config is read") from None
    out = Settings()
    tables = data.get("notify", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f'config: {path}: notify must be tables ([[notify]] with url = "...")')
    for i, table in enumerate(tables):
        where = f"config: {path}: [[notify]] #{i + 1}"
        unknown = sorted(set(table) - set(RECEIVER_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r} (it takes {', '.join(RECEIVER_KEYS)})")
        try:
            out.receivers.append(
                receiver(table.get("url"), **{k: table.get(k) for k in RECEIVER_KEYS[1:]}, where=where)
            )
        except ParameterError as exc:
            raise ConfigError(str(exc)) from None
    out.receivers += [receiver(url) for url in notify or []]
    folder = data.get("templates_dir")
    if folder is not None:
        if not isinstance(folder, str) or not folder.strip():
            raise ConfigError(f"config: {path}: templates_dir must be a folder, got {folder!r}")
        folder = Path(os.path.expanduser(folder))
        out.templates_dir = folder if folder.is_absolute() else path.parent / folder
        if not out.templates_dir.is_dir():
            raise ConfigError(f"config: {path}: templates_dir {str(out.templates_dir)!r} is not a folder")
        _compile(out.templates_dir)
    keys = data.get("group_by")
    if keys is not None:
        if not isinstance(keys, list) or not keys or any(k not in GROUP_KEYS for k in keys):
            raise ConfigError(f"config: {path}: group_by takes a list of {', '.join(GROUP_KEYS)}, got {keys!r}")
        out.group_by = tuple(keys)
    return out


def _compile(folder: Path) -> None:
    """A user's template that does not parse is a usage error now, not a failure at every run's delivery."""
    from jinja2 import TemplateError

    from .templates import environment

    for name in ("message.txt.j2", "subject.txt.j2"):
        if (folder / name).is_file():
            try:
                environment(folder).get_template(name)
            except TemplateError as exc:
                raise ConfigError(f"template {folder / name}: {type(exc).__name__}: {exc}") from None
