"""HTML pages: the run report, the comparison of two runs, a campaign's page and the history's
trend page (Jinja2 templates in reports/templates)."""

from reports.html.campaign import render_campaign
from reports.html.comparison import render_comparison
from reports.html.history import render_history
from reports.html.report import render_report

__all__ = ["render_campaign", "render_comparison", "render_history", "render_report"]
