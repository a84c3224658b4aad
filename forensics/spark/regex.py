"""DuckDB's regular expressions (RE2) spelt so that each Spark server reads them as RE2 does: Java's
regex (Apache Spark) or Rust's regex crate (Sail), which has no look-around.

RE2's \\b and \\B are ASCII word boundaries. Java 17 counts any Unicode letter (and a combining
mark after one) as a word character, so for Java they are spelt out as look-arounds over ASCII
word characters. Rust's regex has no look-around but reads `(?-u:\\b)` as exactly RE2's \\b (its
Unicode-free boundary), which Java would read as its own \\b: the spelling depends on the server
(`RegexFlavour`, found once per session by `spark.session.regex_flavour`). Either way a pattern
stays one pattern: one pass, leftmost first, as RE2 runs it.
"""

from __future__ import annotations

from enum import StrEnum


class RegexFlavour(StrEnum):
    """The regex a Spark server reads: Java's (Apache Spark) or Rust's regex crate (Sail)."""

    JAVA = "java"
    RUST = "rust"


# RE2's \b and \B with ASCII word characters: in Java's look-arounds, and Rust's ASCII boundaries.
_BOUNDARIES = {
    RegexFlavour.JAVA: {
        "\\b": r"(?:(?<=[0-9A-Za-z_])(?![0-9A-Za-z_])|(?<![0-9A-Za-z_])(?=[0-9A-Za-z_]))",
        "\\B": r"(?:(?<=[0-9A-Za-z_])(?=[0-9A-Za-z_])|(?<![0-9A-Za-z_])(?![0-9A-Za-z_]))",
    },
    RegexFlavour.RUST: {"\\b": r"(?-u:\b)", "\\B": r"(?-u:\B)"},
}


class RegexNotPortable(ValueError):
    """A pattern or replacement no spelling makes mean the same on every Spark server (the message says why)."""


def rewrite_regexes(tree, flavour: RegexFlavour = RegexFlavour.JAVA) -> None:
    """Each regex function's pattern and replacement, in place, as the server's regex reads RE2's."""
    from sqlglot import exp

    # regexp_replace: DuckDB replaces the first match unless 'g' is given, Spark every one;
    # and a replacement's $ and \ mean different things to RE2, Java and Rust.
    for node in list(tree.find_all(exp.RegexpReplace)):
        flags = node.args.get("modifiers")
        if not (isinstance(flags, exp.Literal) and flags.is_string and flags.this == "g"):
            raise RegexNotPortable(
                "regexp_replace without the 'g' option alone (DuckDB replaces the first match only, Spark every match)"
            )
        repl = node.args.get("replacement")
        if not (isinstance(repl, exp.Literal) and repl.is_string) or "$" in repl.this or "\\" in repl.this:
            raise RegexNotPortable(
                "a regexp_replace replacement that is not plain text (RE2, Java and Rust read $ and \\ in it differently)"
            )
    for node in list(
        tree.find_all(
            exp.RegexpReplace,
            exp.RegexpLike,
            exp.RegexpExtract,
            exp.RegexpExtractAll,
            exp.RegexpFullMatch,
            exp.RegexpSplit,
            exp.RegexpILike,
        )
    ):
        pattern = node.expression
        if isinstance(pattern, exp.Literal) and pattern.is_string and ("\\b" in pattern.this or "\\B" in pattern.this):
            text = _ascii_boundaries(pattern.this, RegexFlavour(flavour))
            if text is None:
                raise RegexNotPortable(f"the pattern {pattern.sql(dialect='duckdb')} (\\b inside a bracket class)")
            pattern.replace(exp.Literal.string(text))


def _ascii_boundaries(pattern: str, flavour: RegexFlavour) -> str | None:
    """The regex with each \\b and \\B spelt as ``flavour`` reads RE2's; None when one sits inside a [...] class."""
    spelt = _BOUNDARIES[flavour]
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            if pair in spelt:
                if in_class:
                    return None
                out.append(spelt[pair])
            else:
                out.append(pair)
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":  # a ] first in a class is itself
                out.append("]")
                i += 1
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)
