"""An artifact's shape read from the data: where in it the names it gives sit, as JSON paths."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["id_paths"]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def id_paths(artifact: Any) -> list[str]:
    """The JSON paths (DuckDB's `$.a[*].b` form) of the ids an artifact gives, read from the artifact itself.

    Every string under a key that ends in "id" (``$.fills[*].candidate_id`` in the sample's
    fills, ``$.assignments[*].staff_id`` elsewhere); an artifact with no such key gives the
    paths of all its strings. ``artifact`` is the JSON text or the value it parses to.
    """
    if isinstance(artifact, (str, bytes)):
        try:
            artifact = json.loads(artifact)
        except ValueError:
            return []
    strings = dict.fromkeys(_string_paths(artifact, "$", None))
    ids = [path for path, key in strings if key is not None and key.lower().endswith("id")]
    return sorted(dict.fromkeys(ids or [path for path, _ in strings]))


def _string_paths(value: Any, path: str, key: str | None):
    if isinstance(value, dict):
        for k, item in value.items():
            step = f".{k}" if _PLAIN_KEY.match(str(k)) else "." + json.dumps(str(k))
            yield from _string_paths(item, path + step, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from _string_paths(item, path + "[*]", key)
    elif isinstance(value, str):
        yield path, key
