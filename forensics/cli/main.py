"""The whole command line: the app with every command group registered, and its entry point."""

from __future__ import annotations

# Importing a command module registers its commands: `forensics --help` lists them in this order.
# isort: off
from . import tour, query, store, report, oncall, silence  # noqa: F401

# isort: on
from .root import app

# The top-level help shows each command's first docstring line whole (click cuts it at ~45 characters).
for _info in app.registered_commands:
    if _info.short_help is None and _info.callback.__doc__:
        _info.short_help = _info.callback.__doc__.strip().splitlines()[0]


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
