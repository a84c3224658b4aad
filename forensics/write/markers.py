"""Markers: the text written in place of a value that could not be written as given.

A marker starts ``<forensics: `` and says what was there (a type and a short, bounded repr),
so a reader of the log can tell it from data. Nothing here raises, whatever it is shown.
"""

from __future__ import annotations

import reprlib
from typing import Any


class Marker(str):
    """Text written in place of a value that could not be written as given."""

    __slots__ = ("tag",)

    def __new__(cls, what: str, tag: str = "unwritable") -> Marker:
        """The marker `<forensics: what>`, tagged with why the value was replaced."""
        self = super().__new__(cls, safe_text(f"<forensics: {what}>"))
        self.tag = tag
        return self


def safe_text(text: str) -> str:
    """The text with any lone surrogate spelled out as ``\\udcxx``, so it encodes as UTF-8."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlong = 40
_REPR.maxlevel = 2
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 4


def type_name(value: Any) -> str:
    """The value's type name, never raising."""
    try:
        return str(type(value).__qualname__)
    except Exception:
        return "object"


def describe(value: Any) -> str:
    """A short, bounded description of a value: its type and a truncated repr."""
    try:
        shown = _REPR.repr(value)
    except Exception:  # a hostile __repr__: recursion, MemoryError, anything
        shown = "(unprintable)"
    return safe_text(f"{type_name(value)} {shown}")


def a_type(value: Any) -> str:
    """The value's type name with its article: 'a dict', 'an OrderedDict'."""
    noun = type_name(value)
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


def exception_text(exc: BaseException) -> str:
    """'Type: message' of an exception, bounded and never raising."""
    try:
        text = str(exc)
    except Exception:
        text = ""
    return safe_text(f"{type_name(exc)}: {text[:200]}" if text else type_name(exc))
