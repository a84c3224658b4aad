"""The whole command line: the app with every command group registered, and its entry point."""

from __future__ import annotations

import copy
import sys

import typer

# Importing a command module registers its commands: `forensics --help` lists them in this order.
# isort: off
from . import tour, query, store, report, oncall, silence  # noqa: F401

# isort: on
from .root import app

# The top-level help shows each command's first docstring line whole (click cuts it at ~45 characters).
for _info in app.registered_commands:
    if _info.short_help is None and _info.callback.__doc__:
        _info.short_help = _info.callback.__doc__.strip().splitlines()[0]


def app_for(args: list[str]) -> typer.Typer:
    """The app, holding only the command the arguments name when they name one (else every command).

    Typer builds every registered command's options before it runs one: a cron line pays for
    one command. The help, the errors and the group's own options are the same either way.
    """
    from typer.main import get_command_name

    name = next(iter(args), None)
    commands = [c for c in app.registered_commands if (c.name or get_command_name(c.callback.__name__)) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not (commands or groups):
        return app
    one = copy.copy(app)
    one.registered_commands, one.registered_groups = commands, groups
    return one


def main() -> None:
    """Console-script entry point."""
    app_for(sys.argv[1:2])()


if __name__ == "__main__":
    main()
