"""Built-in sample data and the demo: realistic logs written through the project's own writer, and the
tour `forensics demo` gives. May import every layer but the command line.
"""

from .logs import DEFAULT_END, GenerateResult, generate

__all__ = ["DEFAULT_END", "GenerateResult", "generate"]
