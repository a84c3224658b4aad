"""A forensics command that sends itself SIGKILL at one step: before or after a named function runs."""

from __future__ import annotations

import sys

_HARNESS = r"""
import importlib, os, signal, sys
target, when = sys.argv[1], sys.argv[2]
module_name, _, attr = target.partition(":")
owner = importlib.import_module(module_name)
*path, name = attr.split(".")
for part in path:
    owner = getattr(owner, part)
original = getattr(owner, name)

def killed(*args, **kwargs):
    if when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    result = original(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
    return result

setattr(owner, name, killed)
sys.argv = ["forensics", *sys.argv[3:]]
from forensics.cli import main
main()
"""


def killed_command(target: str, when: str, args, *, prelude: str = "") -> list[str]:
    """The argv of `forensics ARGS` killed `when` ("before" or "after") `target` ("module:Class.function")
    runs; ``prelude`` is Python run first (a setting made small, say)."""
    return [sys.executable, "-c", prelude + "\n" + _HARNESS, target, when, *map(str, args)]
