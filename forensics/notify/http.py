"""One HTTP POST of a JSON body with the standard library, with a timeout; what the server answered."""

from __future__ import annotations

import base64
import json
import threading
import time
from functools import cache
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from .answer import Answer

# urllib.request and http.client (with ssl and email) are imported on the first POST: every cron
# run imports this module, and most send nothing.


@cache
def _opener():
    """urllib's opener, following no redirect: urllib turns a redirected POST into a GET without its
    body, which a 200 then reports as taken (the message lost); the receiver's URL is to be mended instead."""
    import urllib.request

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            """Follow none: the 3xx comes back as an HTTPError."""
            return None

    return urllib.request.build_opener(_NoRedirect)


def post_json(url: str, body, *, timeout: float) -> Answer:
    """POST ``body`` as JSON; 2xx is taken, anything else (a refusal, a 5xx, a timeout) is not."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "forensics-alarm"}
    url, auth = _credentials(url)
    if auth:
        headers["Authorization"] = auth
    import urllib.request

    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    start = time.monotonic()
    # The timeout bounds the whole exchange, not each read: a server that sends a byte a second would
    # otherwise hold the run (and every receiver after it, behind the send lock) for as long as it likes.
    # The exchange runs in a thread left behind at the deadline (a daemon: the run's end ends it).
    answers: list[Answer] = []
    worker = threading.Thread(target=lambda: answers.append(_exchange(request, url, timeout, start)), daemon=True)
    worker.start()
    worker.join(timeout)
    if not answers:
        return Answer(False, f"no answer within {timeout:g} s", time.monotonic() - start)
    return answers[0]


def _exchange(request, url: str, timeout: float, start: float) -> Answer:
    import http.client
    import urllib.error

    try:
        with _opener().open(request, timeout=timeout) as response:
            response.read(65536)
            status = response.status
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            # (the new place's host only: its path may hold a secret as a Slack hook's does)
            went = urlsplit(urljoin(url, exc.headers.get("Location") or "")).hostname or "elsewhere"
            return Answer(False, f"HTTP {exc.code}: redirected to {went}, not followed", time.monotonic() - start)
        detail = exc.read(300).decode("utf-8", "replace").strip()
        # (408, 425 and 429 say "later"; any other 4xx refuses this message, however often it is sent)
        refused = 400 <= exc.code < 500 and exc.code not in (408, 425, 429)
        how = f"HTTP {exc.code}" + (f" {detail}" if detail else "")
        return Answer(False, how, time.monotonic() - start, refused=refused)
    except urllib.error.URLError as exc:
        return Answer(False, str(getattr(exc.reason, "strerror", None) or exc.reason), time.monotonic() - start)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # (HTTPException: an answer that is not HTTP, as a server speaking another protocol gives)
        return Answer(
            False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, time.monotonic() - start
        )
    return Answer(200 <= status < 300, f"HTTP {status}", time.monotonic() - start)


def _credentials(url: str) -> tuple[str, str | None]:
    """`https://user:secret@host/…` as the URL without them and their Basic header: urllib sends no
    userinfo and took `user:secret@host` for a host name (no delivery ever, "Name or service not known")."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return urlunsplit(parts._replace(netloc=host)), "Basic " + base64.b64encode(pair).decode("ascii")
