"""HTML pages: the run report and the comparison of two runs (Jinja2 templates in reports/templates)."""

from reports.html.comparison import render_comparison
from reports.html.report import render_report

__all__ = ["render_comparison", "render_report"]
