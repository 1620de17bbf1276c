"""The report in a real browser: Debian's headless Chromium opens it from a file:// URL."""

from __future__ import annotations

from pathlib import Path

from report_support import check_browser_visit, open_in_chromium
from test_report_html import hostile_dir

from contract import rundir
from reports.analyse import analyse
from reports.compare import Tolerance, compare
from reports.html import render_comparison, render_report


def test_a_report_opens_offline_without_console_errors(tmp_path: Path) -> None:
    """A run whose strings carry a script: the page loads, nothing runs, nothing is fetched."""
    run_dir = hostile_dir(tmp_path)
    summary = analyse(run_dir)
    report = run_dir / rundir.REPORT
    report.write_text(render_report(run_dir, summary))
    screenshot = tmp_path / "report.png"
    visit = open_in_chromium(report, screenshot)
    check_browser_visit(visit, report, screenshot)


def test_a_comparison_opens_offline_without_console_errors(tmp_path: Path) -> None:
    run_dir = hostile_dir(tmp_path)
    summary = analyse(run_dir)
    page = tmp_path / "comparison.html"
    page.write_text(render_comparison(compare(summary, summary, Tolerance())))
    screenshot = tmp_path / "comparison.png"
    visit = open_in_chromium(page, screenshot)
    check_browser_visit(visit, page, screenshot, min_height=400)
