"""A run's outputs for people: `report.html` and `summary.md`, as the scenario's `outputs:` asks;
and a campaign's (`write_campaign_outputs`).

`reports.analyse.write_outputs` calls `render_outputs` after summary.json and junit.xml, so
`hubchaos run` and `hubchaos report` both write them. The flags come from the run's own
scenario.yaml (both on without one): `reports.options.RenderOptions`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from contract import campaigndir, rundir
from contract.errors import AnalysisError
from reports.campaign import CampaignSummary
from reports.html import render_campaign, render_report
from reports.junit import write_campaign_junit
from reports.markdown import run_summary
from reports.options import RenderOptions
from reports.summary import Summary


def render_outputs(run_dir: Path, summary: Summary) -> list[Path]:
    """Write the outputs the scenario asks for; the paths written."""
    outputs = rundir.read_scenario_section(run_dir, "outputs", RenderOptions)
    renderers = [
        (outputs.html, rundir.REPORT, lambda: render_report(run_dir, summary)),
        (outputs.markdown, rundir.SUMMARY_MD, lambda: run_summary(summary)),
    ]
    return _write(run_dir, renderers)


def write_campaign_outputs(campaign_dir: Path, summary: CampaignSummary) -> list[Path]:
    """A campaign's summary.json, junit.xml and (as its scenario's `outputs:` asks) report.html."""
    summary.write(campaign_dir / campaigndir.SUMMARY)
    write_campaign_junit(campaign_dir / campaigndir.JUNIT, summary)
    outputs = rundir.read_scenario_section(campaign_dir, "outputs", RenderOptions)
    page = [(outputs.html, campaigndir.REPORT, lambda: render_campaign(summary, campaign_dir))]
    return [campaign_dir / campaigndir.SUMMARY, campaign_dir / campaigndir.JUNIT, *_write(campaign_dir, page)]


def _write(folder: Path, renderers: list[tuple[bool, str, Callable[[], str]]]) -> list[Path]:
    written = []
    for wanted, name, render in renderers:
        if not wanted:
            continue
        try:
            text = render()
        except (OSError, ValueError) as exc:
            raise AnalysisError(f"{name}: could not be rendered ({type(exc).__name__}: {exc})") from None
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    return written
