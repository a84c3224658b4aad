"""JSON lines that always encode: a value JSON cannot hold becomes a marker saying what it was.

The writer's fast path hands a row of plain JSON types straight to orjson. Anything else (a
numpy number, a ``Decimal``, a cycle, a NaN, nesting orjson refuses, a container too big to
walk) goes through :class:`_Cleaner`, which copies the row iteratively within a budget, converts
what has a faithful JSON form and replaces the rest with a :class:`Marker`, noting each one.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import marshal
import mmap
import sys
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from .markers import Marker, a_type, describe, exception_text, safe_text, type_name

# Container elements one row may hold. Past it the rest is replaced by a marker: the budget is
# what keeps a cycle or a shared-reference bomb (``x = [x, x]`` sixty times) from hanging a caller.
MAX_NODES = 100_000
# orjson's own limit: containers nested deeper than this (the row counts as one) are refused.
MAX_DEPTH = 254

# A naive datetime is taken as UTC and written with its offset: a time with none is no RFC 3339
# time, and every reader would take it for none.
_NL = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NAIVE_UTC
_I64_MIN, _U64_END = -(1 << 63), 1 << 64
_PASS_THROUGH = (_dt.datetime, _dt.date, _dt.time, uuid.UUID)  # exact types orjson writes itself


_SCALARS = frozenset((str, int, bool, type(None)))


def _plain(row: dict) -> bool:
    """True when the row holds only exact JSON types and finite floats, within the budget."""
    budget = MAX_NODES - len(row)
    stack = [row.values()]
    pop, push = stack.pop, stack.append
    scalars = _SCALARS
    while stack:
        for v in pop():
            t = type(v)
            if t in scalars:
                continue
            if t is float:
                if v - v == 0.0:  # false for NaN and the infinities
                    continue
                return False
            if t is dict:
                budget -= len(v)
                push(v.values())
            elif t is list or t is tuple:
                budget -= len(v)
                push(v)
            else:
                return False
            if budget < 0:
                return False
    return True


def _allocation_may_fail() -> bool:
    """True when a failed allocation is returned as an error here (an address-space or data
    limit, or strict overcommit) rather than answered by the kernel's OOM killer."""
    try:
        import resource

        if any(
            resource.getrlimit(limit)[0] != resource.RLIM_INFINITY
            for limit in (resource.RLIMIT_AS, resource.RLIMIT_DATA)
        ):
            return True
    except (ImportError, OSError, ValueError, AttributeError):
        pass
    try:
        with open("/proc/sys/vm/overcommit_memory", encoding="ascii") as fh:
            return fh.read().strip() == "2"
    except OSError:
        return False


# orjson cannot report an allocation that fails: it crashes the process (segfault). Where
# allocations can fail (as seen at import), a row of more than _LARGE bytes goes through
# _Cleaner, which measures its text, and is encoded only once _ENCODE_ROOM times that much
# address space could be mapped: orjson's buffers for a long string reach about ten times
# its length.
_GUARD_MEMORY = _allocation_may_fail()
_LARGE = 1 << 20
_ENCODE_ROOM = 12


def encode_row(row: dict, problems: list) -> bytes:
    """Encode a row as one JSON line, never raising; each value replaced by a marker is noted."""
    if _plain(row) and (not _GUARD_MEMORY or _small(row)):
        try:
            return orjson.dumps(row, option=_NL)
        except Exception:  # a lone surrogate, an int past 64 bits, a non-text key, deep nesting
            pass
    cleaner = _Cleaner(problems)
    try:
        clean = cleaner.clean(row)
    except Exception as exc:  # MemoryError copying the row: keep its plain top-level values
        problems.append(("unreadable", f"row: could not be copied ({type_name(exc)})"))
        clean = _small_values(row, "the row could not be copied")
    if _GUARD_MEMORY and cleaner.text_bytes > _LARGE and not _memory_for(_ENCODE_ROOM * cleaner.text_bytes):
        problems.append(
            ("memory", f"row: {cleaner.text_bytes} bytes of text, more than the memory left to encode them")
        )
        clean = _small_values(clean, f"no memory left to encode {cleaner.text_bytes} bytes of text")
    try:
        return orjson.dumps(clean, option=_NL)
    except Exception:
        pass
    # Still refused: give up on each top-level value that will not encode alone.
    for key, value in list(clean.items()):
        try:
            orjson.dumps(value)
        except Exception as exc:
            problems.append(("unreadable", f"{key}: could not be encoded ({type_name(exc)})"))
            clean[key] = Marker(f"not written: {type_name(exc)}")
    return orjson.dumps(clean, option=_NL)


def _small(row: dict) -> bool:
    """Whether a plain row holds no more than _LARGE bytes: marshal measures it in C."""
    try:
        return len(marshal.dumps(row)) <= _LARGE
    except Exception:  # MemoryError: certainly not small
        return False


def _memory_for(size: int) -> bool:
    """Whether size bytes can be had now: mapped (not touched) and given back at once."""
    try:
        mmap.mmap(-1, size).close()
        return True
    except (OSError, ValueError, OverflowError, MemoryError):
        return False


def _small_values(row: dict, why: str) -> dict:
    """The row's plain top-level values up to 64 KiB; each other value becomes a marker."""
    out = {}
    for key, value in row.items():
        if type(key) is not str:
            continue
        t = type(value)
        if t is int or t is bool or value is None or (t is str and len(value) <= 65_536 and value.isascii()):
            out[key] = value
        else:
            out[key] = Marker(f"{type_name(value)} not written: {why}", "memory")
    return out


def encode_line(row: Mapping) -> bytes:
    """Serialise one row as compact UTF-8 JSON plus newline; raise ValueError on a bad value.

    A bad value is one the writer would replace by a marker: NaN, a cycle, a lone surrogate,
    an object JSON has no form for. The parity helper (``forensics roundtrip``) refuses those.
    """
    problems: list = []
    data = encode_row(row if type(row) is dict else dict(row), problems)
    if problems:
        raise ValueError("; ".join(text for _, text in problems))
    return data


_END = object()


class _Cleaner:
    """Copies a value into exact JSON types, iteratively, within MAX_NODES and MAX_DEPTH."""

    def __init__(self, problems: list) -> None:
        self.problems = problems
        self.budget = MAX_NODES
        self.text_bytes = 0  # an upper bound on the UTF-8 of the text copied
        self.np = sys.modules.get("numpy")  # only if the caller imported it: then values may be numpy's

    def note(self, tag: str, where: str, what: str) -> Marker:
        """Note a problem at a path; the marker that takes the value's place."""
        self.problems.append((tag, f"{_shown(where)}: {what}"))
        return Marker(what, tag)

    def clean(self, root: Any) -> Any:
        """A copy of root in exact JSON types, depth first, without recursion."""
        top, items, source = self.convert(root, "")
        if items is None:
            return top
        # A frame: [copy, items iterator, path, id of the source, depth, source length or None]
        stack = [[top, items, "", id(source), 1, _length(source)]]
        on_path = {id(source)}
        while stack:
            frame = stack[-1]
            out, items, where = frame[0], frame[1], frame[2]
            try:
                item = next(items, _END)
            except Exception as exc:  # a Mapping or iterator that breaks half-way
                self.put(out, self.note("unreadable", where, f"could not read further items: {exception_text(exc)}"))
                item = _END
            if item is _END:
                stack.pop()
                on_path.discard(frame[3])
                continue
            if self.budget <= 0:
                left = "" if frame[5] is None else f"{frame[5] - len(out)} "
                self.put(
                    out,
                    self.note(
                        "budget", where, f"{left}more items not written: the row holds more than {MAX_NODES} values"
                    ),
                )
                stack.pop()
                on_path.discard(frame[3])
                continue
            self.budget -= 1
            if type(out) is dict:
                key, child = item
                key = self.key(key, where, out)
                path = (f"{where}.{key}" if where else key) if len(where) < _PATH_MAX else where
            else:
                key, child = None, item
                path = f"{where}[{len(out)}]" if len(where) < _PATH_MAX else where
            try:
                value, sub, source = self.convert(child, path)
            except Exception as exc:
                value, sub = (
                    self.note("unreadable", path, f"could not read {a_type(child)}: {exception_text(exc)}"),
                    None,
                )
            if sub is not None:
                if id(source) in on_path:
                    value, sub = self.note("circular", path, f"circular reference to {a_type(source)}"), None
                elif frame[4] >= MAX_DEPTH:
                    value, sub = (
                        self.note("deep", path, f"{type_name(source)} nested deeper than {MAX_DEPTH} levels"),
                        None,
                    )
            if key is None:
                out.append(value)
            else:
                out[key] = value
            if sub is not None:
                stack.append([value, sub, path, id(source), frame[4] + 1, _length(source)])
                on_path.add(id(source))
        return top

    @staticmethod
    def put(out: Any, marker: Marker) -> None:
        """Add a marker for what was left out to a list, or to an object under its own key."""
        if type(out) is dict:
            out["<forensics: truncated>"] = marker
        else:
            out.append(marker)

    def key(self, key: Any, where: str, out: dict) -> str:
        """A JSON object key: text as itself, scalars as json.dumps writes them, else a marker."""
        t = type(key)
        if t is str:
            text = key if key.isascii() else self.text(key, where)
        elif key is None or t is bool:
            text = "null" if key is None else ("true" if key else "false")
        elif t is int or t is float:
            text = repr(key)
        elif isinstance(key, str):
            text = str.__str__(key)
        else:
            text = str.__str__(self.note("key", where, f"a key that is not text: {describe(key)}"))
        if text in out:
            text = str.__str__(self.note("key", where, f"a second key {text[:60]!r}"))
        return text

    def text(self, value: str, where: str) -> str:
        """Non-ASCII text as itself, or with its lone surrogates spelled out (and noted)."""
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            self.problems.append(
                ("surrogate", f"{_shown(where)}: a lone surrogate in a str, written as a \\u escape in the text")
            )
            return safe_text(value)

    def convert(self, v: Any, where: str) -> tuple[Any, Any, Any]:
        """(copy, iterator over the children or None, the container iterated)."""
        for _ in range(8):  # an Enum's value or a numpy scalar's item may need another look
            t = type(v)
            if t is str:
                if v.isascii():
                    self.text_bytes += len(v)
                    return v, None, None
                self.text_bytes += 4 * len(v)
                return self.text(v, where), None, None
            if t is int:
                return (v if _I64_MIN <= v < _U64_END else self.big_int(v, where)), None, None
            if t is bool or v is None:
                return v, None, None
            if t is float:
                if v - v == 0.0:
                    return v, None, None
                return self.note("nan", where, f"float {v!r}"), None, None
            if t is dict:
                return {}, iter(v.items()), v
            if t is list or t is tuple:
                return [], iter(v), v
            if t is Marker:
                self.problems.append((v.tag, f"{_shown(where)}: {v}"))
                return str.__str__(v), None, None
            if t in _PASS_THROUGH:
                return v, None, None
            if isinstance(v, str):
                v = str.__str__(v)
            elif isinstance(v, enum.Enum):
                v = v.value
            elif isinstance(v, int):
                v = int(v)
            elif isinstance(v, float):
                v = float(v)
            elif isinstance(v, Decimal):
                return self.decimal(v, where), None, None
            elif self.np is not None and isinstance(v, self.np.generic):
                v = v.item()
            elif self.np is not None and isinstance(v, self.np.ndarray):
                if v.size > self.budget:
                    return (
                        self.note(
                            "budget",
                            where,
                            f"a numpy array of {v.size} values, more than the row's budget of {MAX_NODES}",
                        ),
                        None,
                        None,
                    )
                v = v.tolist()
            elif isinstance(v, Mapping):
                return {}, iter(v.items()), v
            elif isinstance(v, (list, tuple)):
                return [], iter(v), v
            elif isinstance(v, _PASS_THROUGH):  # a subclass: written as orjson writes the type
                if isinstance(v, _dt.datetime) and v.tzinfo is None:
                    v = v.replace(tzinfo=_dt.UTC)  # naive is UTC, as orjson is told above
                v = v.isoformat() if hasattr(v, "isoformat") else str(v)
            elif dataclasses.is_dataclass(v) and not isinstance(v, type):
                return {}, ((f.name, getattr(v, f.name)) for f in dataclasses.fields(v)), v
            else:
                return self.note("unserialisable", where, f"unserialisable {describe(v)}"), None, None
        return self.note("unserialisable", where, f"unserialisable {describe(v)}"), None, None

    def big_int(self, v: int, where: str) -> Any:
        """An int past 64 bits as a JSON number, digit for digit."""
        try:
            return orjson.Fragment(str(v))  # JSON numbers have no size limit; orjson's ints do
        except ValueError:  # past Python's int-to-text limit
            return self.note("unserialisable", where, f"an int of {v.bit_length()} bits")

    def decimal(self, v: Decimal, where: str) -> Any:
        """A Decimal as a JSON number: an integer when it is one, else its own digits."""
        if not v.is_finite():
            return self.note("nan", where, f"Decimal {v}")
        if v == v.to_integral_value() and v.adjusted() < 4000:
            n = int(v)
            return n if _I64_MIN <= n < _U64_END else self.big_int(n, where)
        return orjson.Fragment(str(v))  # a Decimal's text is a JSON number, digit for digit


_PATH_MAX = 80  # a value's path in a message stops growing here (nesting can be 254 deep)


def _shown(where: str) -> str:
    if not where:
        return "row"
    return where if len(where) < _PATH_MAX else where[:_PATH_MAX] + "..."


def _length(source: Any) -> int | None:
    try:
        return len(source)
    except Exception:
        return None
