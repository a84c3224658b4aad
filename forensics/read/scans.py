"""What reading found, file by file: rows, and unreadable and repaired lines by cause and where.

Every figure a command prints (rows read, lines skipped, lines repaired) comes from these
scans: the reader's check fills them (check.py), a store adds what its ingests stored (lake.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class BadLines:
    """A file's unreadable lines: how many of each cause, where, and how each starts."""

    causes: Counter = field(default_factory=Counter)
    at: list[tuple[int, int, str]] = field(default_factory=list)  # (ordinal, line, cause)
    previews: dict[int, str] = field(default_factory=dict)  # line -> its first bytes

    def add(self, ordinal: int, line: int, cause: str, preview: str | None = None) -> None:
        """Count one unreadable line (a file cut short has no first bytes to show)."""
        self.causes[cause] += 1
        self.at.append((ordinal, line, cause))
        if preview is not None:
            self.previews[line] = preview

    def shifted(self, lines: int) -> BadLines:
        """A copy numbered as if the file began `lines` lines earlier (a tail read from its checkpoint)."""
        return BadLines(
            self.causes.copy(),
            [(o, ln + lines, c) for o, ln, c in self.at],
            {ln + lines: p for ln, p in self.previews.items()},
        )

    def absorb(self, other: BadLines) -> None:
        """Add another piece of the same file's unreadable lines."""
        self.causes.update(other.causes)
        self.at += other.at
        self.previews.update(other.previews)


@dataclass
class RepairedLines:
    """A file's repaired lines, read as rows: how many of each repair, and where."""

    causes: Counter = field(default_factory=Counter)
    at: list[tuple[int, str]] = field(default_factory=list)  # (line, what: repairs joined by "+")

    def add(self, line: int, what: str) -> None:
        """Count one repaired line, and each repair it needed."""
        for one in what.split("+"):
            self.causes[one] += 1
        self.at.append((line, what))

    def shifted(self, lines: int) -> RepairedLines:
        """A copy numbered as if the file began `lines` lines earlier."""
        return RepairedLines(self.causes.copy(), [(ln + lines, w) for ln, w in self.at])

    def absorb(self, other: RepairedLines) -> None:
        """Add another piece of the same file's repaired lines."""
        self.causes.update(other.causes)
        self.at += other.at


@dataclass
class FileScan:
    """What reading one file found: rows, unreadable and repaired lines by cause, and where."""

    path: str
    stream: str
    rows: int = 0
    bad: BadLines = field(default_factory=BadLines)
    fixed: RepairedLines = field(default_factory=RepairedLines)
    error: str | None = None  # the file itself could not be read (or not to its end)
    read_from: str | None = None  # a private copy read in its place (what could be salvaged)

    def absorb(self, other: FileScan) -> None:
        """Add another scan of the same file (another piece of it, or its stored part) to this one."""
        self.rows += other.rows
        self.bad.absorb(other.bad)
        self.fixed.absorb(other.fixed)
        self.error = self.error or other.error

    # Read by name across the commands (and the tests): the counts and places, as before.
    @property
    def unreadable(self) -> Counter:
        """Unreadable lines by cause."""
        return self.bad.causes

    @property
    def bad_lines(self) -> list[tuple[int, int, str]]:
        """(ordinal, line, cause) of each unreadable line."""
        return self.bad.at

    @property
    def repaired(self) -> Counter:
        """Repaired lines by repair."""
        return self.fixed.causes

    @property
    def repaired_lines(self) -> list[tuple[int, str]]:
        """(line, what) of each repaired line."""
        return self.fixed.at

    @property
    def unreadable_total(self) -> int:
        """All unreadable lines in this file."""
        return sum(self.bad.causes.values())

    def as_dict(self) -> dict:
        """A JSON-ready summary of this file."""
        out = {
            "file": self.path,
            "stream": self.stream,
            "rows": self.rows,
            "unreadable_lines": self.unreadable_total,
            "unreadable": dict(self.bad.causes),
            "unreadable_at": [
                {"line": ln, "cause": c, "starts": self.bad.previews.get(ln, "")} for _, ln, c in self.bad.at[:20]
            ],
            "repaired_lines": sum(self.fixed.causes.values()),
            "repaired": dict(self.fixed.causes),
            "repaired_at": [{"line": ln, "what": w} for ln, w in self.fixed.at[:20]],
        }
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class ScanReport:
    """Every file's scan: the basis of every figure a command prints."""

    files: list[FileScan] = field(default_factory=list)

    _index: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def by_path(self) -> dict[str, FileScan]:
        """Each file's scan by its path."""
        if len(self._index) != len(self.files):
            self._index = {f.path: f for f in self.files}
        return self._index

    @property
    def rows(self) -> int:
        """Readable session rows."""
        return sum(f.rows for f in self.files if f.stream == "sessions")

    @property
    def unreadable_lines(self) -> int:
        """Unreadable lines across both streams."""
        return sum(f.unreadable_total for f in self.files)

    @property
    def unreadable_files(self) -> list[FileScan]:
        """Files that could not be read, or not to their end."""
        return [f for f in self.files if f.error]

    def warnings(self) -> list[str]:
        """One line per file that held unreadable or repaired lines, or could not be read, for stderr."""
        from ..output import counted, escape, plural

        out = []
        for f in self.files:
            if f.error:
                out.append(f"warning: {escape(f.path)}: {escape(f.error)}")
            if f.unreadable_total:
                causes = ", ".join(f"{c}: {n}" for c, n in sorted(f.bad.causes.items()))
                where = ", ".join(str(ln) for _, ln, _ in f.bad.at[:5])
                more = "" if len(f.bad.at) <= 5 else ", ..."
                out.append(
                    f"warning: {escape(f.path)}: {counted(f.unreadable_total, 'unreadable line')} skipped "
                    f"({causes}; {plural(len(f.bad.at), 'line')} {where}{more})"
                )
            if f.fixed.causes:
                what = ", ".join(f"{c}: {n}" for c, n in sorted(f.fixed.causes.items()))
                where = ", ".join(str(ln) for ln, _ in f.fixed.at[:5])
                more = "" if len(f.fixed.at) <= 5 else ", ..."
                out.append(
                    f"warning: {escape(f.path)}: {counted(sum(f.fixed.causes.values()), 'line')} repaired and read "
                    f"({what}; {plural(len(f.fixed.at), 'line')} {where}{more})"
                )
        return out

    def as_dict(self) -> dict:
        """A JSON-ready summary of all files."""
        return {
            "files": [f.as_dict() for f in self.files],
            "rows": self.rows,
            "unreadable_lines": self.unreadable_lines,
        }
