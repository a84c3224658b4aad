"""The text of mail-like messages (a command's stdin and subject, a webhook's `text`), from Jinja templates
a user may override from a folder (`templates_dir`): every value escaped as the text output escapes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..output import escape
from ..pages import COUNT_FILTERS

# The characters Slack (and Mattermost) read as markup in a message's text: shown as entities, so a
# model named `<!channel>` pings nobody and a name cannot forge a link.
_SLACK = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _finalize(slack: bool):
    def finalize(value: Any) -> Any:
        # Every value a template prints passes here, whatever the template does with it: a field from
        # a log (a model's name, an error) cannot start a line or move the cursor.
        if value is None:
            return ""
        if isinstance(value, (int, float)):
            return value
        text = escape(str(value))
        return text.translate(_SLACK) if slack else text

    return finalize


def environment(folder: Path | None = None, *, slack: bool = False):
    """The templates' environment: the user's folder first, then the built-in ones; undefined names an error."""
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined

    loaders = [FileSystemLoader(str(folder))] if folder is not None else []
    loaders.append(PackageLoader("forensics", "templates/notify"))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=False,  # (text, not HTML: `finalize` escapes what a terminal or a chat would misread)
        finalize=_finalize(slack),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(COUNT_FILTERS)
    return env


def render(name: str, context: dict, folder: Path | None = None, *, slack: bool = False) -> str:
    """One template (`subject.txt.j2`, `message.txt.j2`) rendered; the result stripped of blank ends."""
    from jinja2 import TemplateError

    from ..errors import ConfigError

    try:
        return environment(folder, slack=slack).get_template(name).render(**context).strip()
    except TemplateError as exc:
        raise ConfigError(f"template {name}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # (a user's template may raise anything: `{{ 1 // 0 }}`, a recursion)
        # (a ConfigError is what delivery keeps the run's news for: one escaping changed the alarm's exit code)
        raise ConfigError(f"template {name}: {type(exc).__name__}: {escape(str(exc))}") from None
