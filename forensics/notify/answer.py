"""What a receiver answered: whether it took the message, and how (a status, an exit code, an error)."""

from __future__ import annotations

from dataclasses import dataclass

from ..output import escape


@dataclass
class Answer:
    """A delivery's result: taken or not, and how the receiver answered, in a few words."""

    ok: bool
    how: str
    seconds: float = 0.0
    refused: bool = False  # a 4xx that no retry changes (the message itself is refused)

    def said(self) -> str:
        """One line: 'answered HTTP 200 in 0.03 s' or 'failed: ...'."""
        word = "answered" if self.ok else "failed:"
        return f"{word} {escape(self.how)} in {self.seconds:.2f} s"
