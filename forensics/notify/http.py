"""One HTTP POST of a JSON body with the standard library, with a timeout; what the server answered."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from .answer import Answer


def post_json(url: str, body, *, timeout: float) -> Answer:
    """POST ``body`` as JSON; 2xx is taken, anything else (a refusal, a 5xx, a timeout) is not."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "forensics-alarm"},
    )
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            status = response.status
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        return Answer(False, f"HTTP {exc.code}" + (f" {detail}" if detail else ""), time.monotonic() - start)
    except urllib.error.URLError as exc:
        return Answer(False, str(getattr(exc.reason, "strerror", None) or exc.reason), time.monotonic() - start)
    except (TimeoutError, OSError) as exc:
        return Answer(
            False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, time.monotonic() - start
        )
    return Answer(200 <= status < 300, f"HTTP {status}", time.monotonic() - start)
