"""Remake the report's screenshots: `python -m docs.screenshots.render` from the repository's top.

The busy week of the tests (tests/busy_week.py: long model names, one real drop, three acknowledged
incidents) rendered by headless Chromium: the page at 1280 px, and printed on A4 and Letter, each
printed page turned into a PNG by poppler's `pdftoppm` (apt-get install poppler-utils).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from forensics.oncall.memory import Memory
from forensics.read.sources import resolve
from forensics.report.weekly import build_report, render_report
from forensics.store.connection import Store
from forensics.timewindow import resolve_week
from tests import busy_week, chromium

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Write report-1280.png, report-print-a4-N.png and report-print-letter-N.png beside this script."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        s, r, state = busy_week.write(folder)
        with Store(resolve(str(s), str(r), env={})) as st:
            data = build_report(st, resolve_week("2026-W46"), now=busy_week.NOW, memory=Memory.of_file(state))
        html = folder / "report.html"
        html.write_text(render_report(data, "html"), encoding="utf-8")
        browser = chromium.Browser(chromium.require())
        try:
            page = browser.page(html, 1280)
            page.screenshot(HERE / "report-1280.png")
            page.close()
            for paper in ("A4", "Letter"):
                page = browser.page(html, chromium.PRINT_WIDTHS[paper], media="print")
                pdf = folder / f"{paper}.pdf"
                pdf.write_bytes(page.pdf(paper))
                page.close()
                for old in HERE.glob(f"report-print-{paper.lower()}*.png"):
                    old.unlink()
                prefix = HERE / f"report-print-{paper.lower()}"
                subprocess.run(["pdftoppm", "-png", "-r", "80", str(pdf), str(prefix)], check=True)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
