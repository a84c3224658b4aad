"""The command line: thin Typer commands, one module per command group, over the library's functions.

May import every layer below it; nothing imports it but `forensics.__main__` and the console script.
"""

from .main import app, main

__all__ = ["app", "main"]
