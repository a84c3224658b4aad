"""DuckDB's regular expressions (RE2) spelt so that both Spark servers read them as RE2 does: Java's regex
(Apache Spark) and Rust's regex crate (Sail), which has no look-around and no backreference.

RE2's \\b is an ASCII word boundary; Java 17's counts any Unicode letter as a word character and
Rust's too. In a regexp_replace, a word standing alone (`\\b[0-9]+\\b`) is matched with the
character on each side captured and put back, in two passes (a match takes the character after
it, which the next word may need before it); anywhere else \\b is spelt out as Java look-arounds,
which Apache Spark reads and Sail refuses with its own message.
"""

from __future__ import annotations

import re

# RE2's \b and \B with ASCII word characters, in Java's look-arounds.
_ASCII_BOUNDARY = r"(?:(?<=[0-9A-Za-z_])(?![0-9A-Za-z_])|(?<![0-9A-Za-z_])(?=[0-9A-Za-z_]))"
_ASCII_NOT_BOUNDARY = r"(?:(?<=[0-9A-Za-z_])(?=[0-9A-Za-z_])|(?<![0-9A-Za-z_])(?![0-9A-Za-z_]))"
# A word between two \b: word characters only, each part at least once (so never empty), no
# alternation, no group: bracket classes of word characters or ranges, and word characters.
_WORD_PART = r"(?:\[(?:[0-9A-Za-z]-[0-9A-Za-z]|[0-9A-Za-z_])+\]|[0-9A-Za-z_])(?:\+|\{[1-9][0-9]*(?:,[0-9]*)?\})?"
_ALONE = re.compile(rf"\\b((?:{_WORD_PART})+)\\b")
_OUTSIDE = "[^0-9A-Za-z_]"


class RegexNotPortable(ValueError):
    """A pattern or replacement no spelling makes mean the same on every Spark server (the message says why)."""


def rewrite_regexes(tree) -> None:
    """Each regex function's pattern and replacement, in place, as Java and Rust read RE2's."""
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
        pattern = node.expression
        if isinstance(pattern, exp.Literal) and pattern.is_string and (alone := _ALONE.fullmatch(pattern.this)):
            node.replace(_word_alone(node, alone.group(1), repl.this))
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
            text = _ascii_boundaries(pattern.this)
            if text is None:
                raise RegexNotPortable(f"the pattern {pattern.sql(dialect='duckdb')} (\\b inside a bracket class)")
            pattern.replace(exp.Literal.string(text))


def _word_alone(node, word: str, replacement: str):
    """regexp_replace(x, '\\bWORD\\b', r, 'g') as two passes that capture the character on each side."""
    from sqlglot import exp

    # A word of the replacement that WORD matches would be replaced again by the second pass.
    if any(re.fullmatch(word, w, re.ASCII) for w in re.findall(r"[0-9A-Za-z_]+", replacement)):
        raise RegexNotPortable(f"regexp_replace of \\b{word}\\b by {replacement!r}, which holds a word it matches")
    # $1 and $2 are the groups to Java and to Rust alike, unless a word character follows $1 (Rust
    # reads `$1N` as a group named 1N); ${name} would not do: Apache Spark substitutes ${...} in
    # a statement's text with its configuration's variables before it parses it.
    if re.match(r"[0-9A-Za-z_]", replacement):
        raise RegexNotPortable(
            f"regexp_replace of \\b{word}\\b by {replacement!r}: a replacement starting with a letter, a digit or _ "
            "has no spelling Java and Rust read alike"
        )
    pattern = exp.Literal.string(f"(^|{_OUTSIDE}){word}({_OUTSIDE}|$)")
    put = exp.Literal.string(f"$1{replacement}$2")
    once = exp.RegexpReplace(this=node.this, expression=pattern, replacement=put)
    return exp.RegexpReplace(this=once, expression=pattern.copy(), replacement=put.copy())


def _ascii_boundaries(pattern: str) -> str | None:
    """The regex with each \\b and \\B spelt out in ASCII; None when one sits inside a [...] class."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            if pair in ("\\b", "\\B"):
                if in_class:
                    return None
                out.append(_ASCII_BOUNDARY if pair == "\\b" else _ASCII_NOT_BOUNDARY)
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
