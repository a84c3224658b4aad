"""Lines as people and producers see them: why a line is unreadable, how to repair it, where it is.

DuckDB numbers the non-blank lines of a file; people open files at physical lines. DuckDB
refuses some lines that a producer's own decoder reads (a bad byte in a prompt, a key
given twice, nesting past its depth limit): those are *repaired* here, so the row and its
verdict survive, and counted, so nobody mistakes a repaired row for a clean one.
"""

from __future__ import annotations

import codecs
import gzip
import json
import re
from dataclasses import dataclass

# DuckDB's default: its read buffers are sized from it, so a larger default costs every
# scan memory. A stream whose lines are longer (prompts are any size) gets a larger
# limit of its own once the check finds them.
MAX_OBJECT_BYTES = 16 << 20

# The first bytes of an unreadable line kept for the report: enough to recognise it.
_PREVIEW_BYTES = 80


def open_binary(path: str):
    """Open a log for reading bytes, decompressing .gz and .zst by name."""
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith(".zst"):
        import io

        import zstandard

        # Buffered, so that it reads by lines like the others.
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True))
    return open(path, "rb")


def _is_blank(raw: bytes) -> bool:
    # DuckDB skips a line of ASCII whitespace (form feed and vertical tab included) without
    # numbering it; bytes.strip() strips exactly that set, so both count lines alike.
    return not raw.strip()


def nonblank_lines(path: str):
    """Yield (ordinal, physical line number, raw bytes) for each non-blank line, as DuckDB numbers them."""
    ordinal = 0
    with open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not _is_blank(raw):
                ordinal += 1
                yield ordinal, lineno, raw


def physical_lines(path: str, ordinals) -> dict[int, int]:
    """Map non-blank line ordinals (DuckDB's row numbers) to physical line numbers."""
    return {ordinal: lineno for ordinal, lineno, _ in _lines_at(path, set(ordinals))}


def count_lines(path: str) -> int:
    """Physical lines in a file (a last line without a newline counts)."""
    newlines, last = 0, b"\n"
    with open_binary(path) as fh:
        while chunk := fh.read(1 << 24):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    return newlines + (0 if last == b"\n" else 1)


@dataclass
class Verdict:
    """What the check made of one line DuckDB could not take as it is."""

    line: int
    cause: str
    repaired: str | None = None  # the line's JSON, repaired, when the row is kept
    preview: str = ""


class _Pairs(list):
    """An object's (key, value) pairs, kept so that repeated keys can be seen."""


def _keep_pairs(pairs):
    return _Pairs(pairs)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: str, found: set[str]) -> str:
    """A string with lone surrogates (an escape like \\ud800 that no UTF-8 can hold) made U+FFFD, as Go does."""
    if _SURROGATE.search(value):
        found.add("lone_surrogate")
        return _SURROGATE.sub("\ufffd", value)
    return value


def _resolve(value, depth: int, found: set[str]):
    """Turn parsed pairs into dicts (the last of a repeated key wins), noting what was repaired."""
    if isinstance(value, str):
        return _text(value, found)
    if isinstance(value, _Pairs):
        out: dict = {}
        falses = set()
        for k, v in value:
            k = _text(k, found)
            if k in out:
                found.add("duplicate_keys")
            v = _resolve(v, depth + 1, found)
            if v is False:
                falses.add(k)
            out[k] = v
        # A roster verdict given twice is read as false if any copy says false: the
        # alarm must not be silenced by a second, friendlier copy.
        if "grounded_in_roster" in falses and depth == 0:
            out["grounded_in_roster"] = False
        return out
    if isinstance(value, list):
        return [_resolve(v, depth + 1, found) for v in value]
    return value


def judge_line(raw: bytes, lineno: int, *, max_bytes: int) -> Verdict:
    """Name the cause of one refused line, and repair it where the row can be kept."""
    preview = raw[:_PREVIEW_BYTES].decode("utf-8", "replace").rstrip("\r\n")
    body = raw
    repairs: set[str] = set()
    if body.startswith(b"\x00"):
        # A crash leaves a block of NULs where a write did not land; the next row follows it.
        body = body.lstrip(b"\x00")
        repairs.add("nul_padding")
    if body.startswith(codecs.BOM_UTF8):
        # A BOM on any line: a producer restarted and wrote one, or files were concatenated.
        body = body[len(codecs.BOM_UTF8) :]
        repairs.add("bom")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", "replace")
        repairs.add("invalid_utf8")
    try:
        value = json.loads(text, object_pairs_hook=_keep_pairs)
    except RecursionError:
        return Verdict(lineno, "too_deep", preview=preview)
    except ValueError:
        torn = not raw.endswith(b"\n")
        return Verdict(lineno, "torn_last_line" if torn else "invalid_json", preview=preview)
    if not isinstance(value, _Pairs):
        return Verdict(lineno, "not_object", preview=preview)
    try:
        obj = _resolve(value, 0, repairs)
    except RecursionError:
        return Verdict(lineno, "too_deep", preview=preview)
    if not repairs:
        if len(raw) >= max_bytes:
            return Verdict(len(raw), "too_large", preview=preview)
        # DuckDB refused a line Python reads as it is: keep it out and say so.
        return Verdict(lineno, "invalid_json", preview=preview)
    try:
        repaired = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        return Verdict(lineno, "too_deep", preview=preview)
    return Verdict(lineno, "+".join(sorted(repairs)), repaired=repaired, preview=preview)


def judge_lines(path: str, ordinals: set[int], *, max_bytes: int = MAX_OBJECT_BYTES) -> dict[int, Verdict]:
    """Judge the lines of a file at these non-blank ordinals (one read of the file)."""
    return {
        ordinal: judge_line(raw, lineno, max_bytes=max_bytes) for ordinal, lineno, raw in _lines_at(path, set(ordinals))
    }


def _lines_at(path: str, ordinals: set[int]):
    """(ordinal, physical line, raw bytes) of the non-blank lines at these ordinals."""
    if not ordinals:
        return
    last = max(ordinals)
    for ordinal, lineno, raw in nonblank_lines(path):
        if ordinal in ordinals:
            yield ordinal, lineno, raw
        if ordinal >= last:
            return


def ordinals_of(path: str, physical) -> dict[int, int]:
    """Map physical line numbers to non-blank line ordinals (the inverse of physical_lines)."""
    wanted = set(physical)
    out: dict[int, int] = {}
    if not wanted:
        return out
    last = max(wanted)
    for ordinal, lineno, _ in nonblank_lines(path):
        if lineno in wanted:
            out[lineno] = ordinal
        if lineno >= last:
            break
    return out


def longest_line(path: str) -> int:
    """The length in bytes of the longest line of a file (for a reader's size limit)."""
    longest, current = 0, 0
    with open_binary(path) as fh:
        while chunk := fh.read(1 << 24):
            parts = chunk.split(b"\n")
            current += len(parts[0])
            if len(parts) > 1:
                longest = max(longest, current, *(len(p) for p in parts[1:-1]))
                current = len(parts[-1])
    return max(longest, current)
