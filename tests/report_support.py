"""Checks every rendered report must pass, and the headless-browser harness of the report tests."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from reports.summary import Summary

CHROMIUM = Path("/usr/bin/chromium")
# Each would make a page fetch something: an absolute or protocol-relative URL in src/href,
# a stylesheet import, a CSS url(), a <link> or a <base>.
_FETCHES = re.compile(
    r"""(?:src|href|srcset|action|poster|data)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//|@import|url\(|<link\b|<base\b""",
    re.IGNORECASE,
)


@dataclass
class Page:
    """What a parsed report holds: images, scripts, and each section's table rows as text."""

    images: list[str] = field(default_factory=list)  # src attributes
    scripts: int = 0
    tables: dict[str, list[list[str]]] = field(default_factory=dict)  # section id -> rows of td cells


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.section = ""
        self.row: list[str] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section":
            self.section = values.get("id") or ""
        elif tag == "img":
            self.page.images.append(values.get("src") or "")
        elif tag == "script":
            self.page.scripts += 1
        elif tag == "tr":
            self.row = []
        elif tag == "td" and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None and self.row is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row:  # header rows (th only) are left out
            self.page.tables.setdefault(self.section, []).append(self.row)
            self.row = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def parse(html: str) -> Page:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.page


def check_self_contained(html: str) -> Page:
    """Nothing to fetch, no script; and, since no test run holds a URL, no URL at all."""
    assert not _FETCHES.search(html), _FETCHES.search(html)
    assert "http://" not in html and "https://" not in html
    page = parse(html)
    assert page.scripts == 0
    return page


def check_report(html: str, summary: Summary) -> Page:
    """What every report must be: self-contained, every SLO a row, every picture readable."""
    page = check_self_contained(html)
    slo_rows = {row[0]: row for row in page.tables["slos"]}
    assert set(slo_rows) == {r.slo for r in summary.results}
    for result in summary.results:
        assert slo_rows[result.slo][4] == result.verdict.value, slo_rows[result.slo]
    assert len(page.images) == sum(1 for p in _expected_plots(summary) if p)
    # The measuring host's panel is in every report: its judged windows, or why there are none.
    assert 'id="host"' in html
    host = page.tables.get("host", [])
    assert len(host) == (len(summary.host.windows) + len(summary.host.sources) if summary.host else 0)
    for src in page.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix), src[:40]
        png = base64.b64decode(src[len(prefix) :], validate=True)
        with Image.open(io.BytesIO(png)) as image:
            image.load()
            assert image.format == "PNG" and image.width == 1240 and image.height > 100
    svgs = re.findall(r"<svg\b.*?</svg>", html, re.DOTALL)
    assert len(svgs) == sum(1 for f in summary.faults if f.injected)
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.tag == "svg" and root.find("title") is not None
    return page


def _expected_plots(summary: Summary) -> list[bool]:
    t = summary.timeline
    return [
        bool(t and t.latency),
        t is not None,
        bool(summary.member_states),
        bool(t and t.lag),
        bool(t and sum(t.canary_ok + t.canary_failed)),
        bool(t and t.resources),  # the measuring host's panel
    ]


@dataclass
class BrowserVisit:
    console: list[tuple[str, str]]  # (type, text) of every console message and page error
    requests: list[str]  # every URL the page asked for
    scroll_width: int
    injected_ran: bool  # whether window.__pwned was set by a script smuggled into the run


def open_in_chromium(report: Path, screenshot: Path) -> BrowserVisit:
    """Open a report from its file:// URL in Debian's headless Chromium and take a screenshot.

    Playwright drives it (its Python package carries the driver, so nothing is downloaded):
    it gives console messages, page errors and every request as events, which a hand-written
    DevTools-protocol client would have to reimplement. Skips without Chromium, unless
    HUBCHAOS_REQUIRE_BROWSER=1 (CI), when that is a failure.
    """
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        if os.environ.get("HUBCHAOS_REQUIRE_BROWSER") == "1":
            pytest.fail(
                f"HUBCHAOS_REQUIRE_BROWSER=1 but {CHROMIUM} is not installed (apt-get install chromium)"
            )
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    profile = screenshot.parent / "chromium-profile"
    console: list[tuple[str, str]] = []
    requests: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            viewport={"width": 1280, "height": 900},
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: console.append((m.type, m.text)))
            page.on("pageerror", lambda e: console.append(("pageerror", str(e))))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri(), wait_until="load")
            page.screenshot(path=str(screenshot), full_page=True)
            width = int(page.evaluate("document.documentElement.scrollWidth"))
            ran = bool(page.evaluate("window.__pwned === 1"))
        finally:
            context.close()
    return BrowserVisit(console, requests, width, ran)


def check_browser_visit(visit: BrowserVisit, report: Path, screenshot: Path, min_height: int = 2000) -> None:
    assert [m for m in visit.console if m[0] in ("error", "warning", "pageerror")] == []
    # Data URIs are decoded in place and are not requests; the file itself is the only one.
    assert visit.requests == [report.as_uri()]
    assert visit.scroll_width <= 1280, "the report scrolls sideways at 1280 px"
    assert not visit.injected_ran
    with Image.open(screenshot) as shot:
        assert shot.format == "PNG" and shot.width == 1280 and shot.height > min_height


def check_causal_anatomy(summary: Summary) -> None:
    """A real drill's anatomy is causal: no ordering was refused as an analyser error, each
    failover was rediscovered by its clients' drivers no later than each one's first write
    (the driver moment is then drawn) and the detection is the earlier of the first stall and
    the first failure, both shown."""
    inversions = [e.error for e in summary.analyser_errors if e.analyser == "anatomy"]
    assert inversions == [], inversions
    for fault in summary.faults:
        if fault.rediscovery is not None:
            for client in fault.rediscovery.clients:
                assert client.first_write is None or client.found.t <= client.first_write.t, client
        detection = fault.detection
        if detection is not None:
            symptoms = (detection.first_stalled, detection.first_failed)
            firsts = [s.at.after_s for s in symptoms if s is not None]
            assert firsts and detection.at.after_s == min(firsts), detection
