"""A real headless Chromium driven over the DevTools protocol, with the stdlib only.

Chromium's `--remote-debugging-pipe` speaks the protocol as NUL-terminated JSON on file
descriptors 3 (its input) and 4 (its output): no WebSocket, no port, no third-party client.
Tests skip when Chromium is absent unless FORENSICS_REQUIRE_CHROMIUM=1 (set by .ci/run).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
# A4 and Letter, less the report's @page margins (12 mm top and bottom, 11 mm either side),
# in CSS pixels (96 to the inch): the width a printed page gives the report.
MM = 96 / 25.4
PRINT_WIDTHS = {"A4": round((210 - 22) * MM), "Letter": round((215.9 - 22) * MM)}
PAPER_INCHES = {"A4": (8.27, 11.69), "Letter": (8.5, 11.0)}


def binary() -> str | None:
    """Debian's chromium, or another Chromium or Chrome on the PATH."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def require() -> str:
    """The browser, or a skip (a failure when FORENSICS_REQUIRE_CHROMIUM=1)."""
    path = binary()
    if path is None:
        message = "Chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("FORENSICS_REQUIRE_CHROMIUM") == "1":
            pytest.fail(message + " and FORENSICS_REQUIRE_CHROMIUM=1")
        pytest.skip(message)
    return path


def _onto_3_and_4(read_end: int, write_end: int) -> None:
    """In the child: the pipe ends onto fds 3 and 4 (moved out of the way first, so neither clobbers the other)."""
    import fcntl

    high_r, high_w = fcntl.fcntl(read_end, fcntl.F_DUPFD, 10), fcntl.fcntl(write_end, fcntl.F_DUPFD, 10)
    os.dup2(high_r, 3)
    os.dup2(high_w, 4)


class Browser:
    """One headless Chromium; each `page` call opens a tab, loads a file and returns a `Page`."""

    def __init__(self, path: str, deadline: float = 60.0):
        self.deadline = deadline
        self.profile = tempfile.mkdtemp(prefix="forensics-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The child reads commands on fd 3 and writes answers on fd 4.
        self.proc = subprocess.Popen(
            [path, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=lambda: _onto_3_and_4(to_browser_r, from_browser_w),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next = 0

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """One command; waits for its answer (events that come first are kept for `wait_for`)."""
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        answer = self._read_until(lambda m: m.get("id") == self._next)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def wait_for(self, event: str, session: str | None = None) -> dict:
        """The next event of this name (for this tab)."""
        return self._read_until(lambda m: m.get("method") == event and m.get("sessionId") == session)

    def _read_until(self, wanted) -> dict:
        end = time.monotonic() + self.deadline
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if wanted(message):
                    return message
            if time.monotonic() > end:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium exited")
            self._buffer += chunk

    def page(self, html_file: Path, width: int, *, media: str = "screen") -> Page:
        """A tab of ``width`` CSS pixels showing ``html_file``, in screen or print media."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        self.send("Emulation.setEmulatedMedia", {"media": media}, session=session)
        self.send("Page.navigate", {"url": Path(html_file).resolve().as_uri()}, session=session)
        self.wait_for("Page.loadEventFired", session)
        return Page(self, session, target, width)

    def close(self) -> None:
        """Stop the browser and remove its profile."""
        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """A loaded tab: run JavaScript, take a screenshot, print to PDF."""

    def __init__(self, browser: Browser, session: str, target: str, width: int):
        self.browser, self.session, self.target, self.width = browser, session, target, width

    def eval(self, expression: str):
        """The value of a JavaScript expression (JSON-able)."""
        result = self.browser.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=self.session
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """The whole page, ``width`` wide, as a PNG."""
        height = int(self.eval("Math.ceil(document.documentElement.scrollHeight)"))
        data = self.browser.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1},
            },
            session=self.session,
        )["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def pdf(self, paper: str) -> bytes:
        """The page printed on A4 or Letter, as the print dialog would (the report's own margins)."""
        w, h = PAPER_INCHES[paper]
        data = self.browser.send(
            "Page.printToPDF",
            {"paperWidth": w, "paperHeight": h, "printBackground": True, "preferCSSPageSize": False},
            session=self.session,
        )["data"]
        return base64.b64decode(data)

    def close(self) -> None:
        """Close the tab."""
        self.browser.send("Target.closeTarget", {"targetId": self.target})


# Every element's right edge against the page's width, and every token (names, ids, times in
# <code> and .nw) checked to break only after a separator: what "nothing overflows or breaks
# mid-token" means, measured by the browser's own layout.
MEASURE = r"""
(() => {
  const width = document.documentElement.clientWidth;
  const wider = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width && (r.right > width + 0.5 || r.left < -0.5)) {
      wider.push(el.tagName.toLowerCase() + (el.className && el.className.baseVal === undefined ? '.' + el.className : '') +
                 ': ' + (el.textContent || '').trim().slice(0, 40) + ' right=' + Math.round(r.right));
    }
  }
  for (const t of document.querySelectorAll('svg text')) {
    const box = t.ownerSVGElement.getBoundingClientRect(), r = t.getBoundingClientRect();
    if (r.right > box.right + 0.5 || r.left < box.left - 0.5) {
      wider.push('svg text cut at the chart\'s edge: ' + t.textContent.slice(0, 40));
    }
  }
  const midToken = [];
  const separators = '-_:/.@,T ';
  for (const el of document.querySelectorAll('code, .nw')) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let prevTop = null, prevChar = '', node;
    while ((node = walker.nextNode())) {
      for (let i = 0; i < node.length; i++) {
        if (node.data[i].trim() === '') { prevChar = node.data[i]; continue; }
        const range = document.createRange();
        range.setStart(node, i); range.setEnd(node, i + 1);
        const rect = range.getBoundingClientRect();
        if (prevTop !== null && rect.top > prevTop + 2 && !separators.includes(prevChar) && node.data[i] !== 'T') {
          midToken.push(el.textContent.trim().slice(0, 60) + ' broke before ' + JSON.stringify(node.data.slice(i, i + 6)));
        }
        prevTop = rect.top; prevChar = node.data[i];
      }
    }
  }
  return {width, scrollWidth: document.documentElement.scrollWidth, wider, midToken};
})()
"""
