"""A run's outputs for people: `report.html` and `summary.md`, as the scenario's `outputs:` asks.

`reports.analyse.write_outputs` calls `render_outputs` after summary.json and junit.xml, so
`hubchaos run` and `hubchaos report` both write them. The flags come from the run's own
scenario.yaml (both on without one), read with the scenario's `Outputs` model.
"""

from __future__ import annotations

from pathlib import Path

from chaos.errors import AnalysisError
from reports import rundir
from reports.html import render_report
from reports.markdown import run_summary
from reports.summary import Summary


def render_outputs(run_dir: Path, summary: Summary) -> list[Path]:
    """Write the outputs the scenario asks for; the paths written."""
    # Imported here: the scenario model brings the backends' and workload's settings, which
    # only this flag lookup needs.
    from chaos.scenario.model import Outputs  # noqa: PLC0415

    outputs = rundir.read_scenario_section(run_dir, "outputs", Outputs)
    renderers = [
        (outputs.html, rundir.REPORT, lambda: render_report(run_dir, summary)),
        (outputs.markdown, rundir.SUMMARY_MD, lambda: run_summary(summary)),
    ]
    written = []
    for wanted, name, render in renderers:
        if not wanted:
            continue
        try:
            text = render()
        except (OSError, ValueError) as exc:
            raise AnalysisError(f"{name}: could not be rendered ({type(exc).__name__}: {exc})") from None
        (run_dir / name).write_text(text, encoding="utf-8")
        written.append(run_dir / name)
    return written
