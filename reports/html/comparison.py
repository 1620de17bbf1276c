"""The comparison of two runs as one self-contained HTML page (`hubchaos compare --out x.html`)."""

from __future__ import annotations

from reports.compare import Comparison
from reports.html.environment import environment


def render_comparison(comparison: Comparison) -> str:
    return environment().get_template("comparison.html.j2").render(c=comparison)
