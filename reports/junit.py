"""`junit.xml`: one test case per SLO, so CI shows which target a drill missed.

A failed SLO is a `<failure>` with the measured value and the target; an unknown one is an
`<error>` carrying why it could not be judged. A run with no SLO at all gets one erroring case,
since nothing checked is not a pass. Three elements do not warrant a dependency: the standard
library's ElementTree writes them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from reports.verdicts import Verdict, show

if TYPE_CHECKING:
    from reports.campaign import CampaignSummary
    from reports.summary import Summary


def junit_tree(summary: Summary) -> ET.ElementTree:
    suite_name = f"hubchaos.{summary.run.scenario}"
    results = summary.results
    root, suite = _suite(
        suite_name,
        summary.run_end - summary.run_start,
        (
            ("run_id", summary.run.run_id),
            ("slo_profile", summary.slos.profile),
            ("verdict", summary.verdict.value),
            ("exit_code", str(summary.exit_code)),
        ),
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"{suite_name}.{r.category}", name=r.slo, time="0")
        detail = _detail(r.measured, r.target, r.margin, r.unit, r.lower_bound)
        if r.known_failure is not None:
            ET.SubElement(case, "skipped", message=r.explanation, type="known_failure").text = detail
        elif r.verdict is Verdict.FAIL:
            ET.SubElement(case, "failure", message=r.explanation, type="slo_failed").text = detail
        elif r.verdict is Verdict.UNKNOWN:
            ET.SubElement(case, "error", message=r.explanation, type="slo_unknown").text = r.error or ""
        ET.SubElement(case, "system-out").text = r.explanation
    if not results:
        case = ET.SubElement(suite, "testcase", classname=suite_name, name="slos", time="0")
        ET.SubElement(case, "error", message="no SLO was checked", type="slo_unknown")
    return _tree(root, suite)


def campaign_junit_tree(summary: CampaignSummary) -> ET.ElementTree:
    """The campaign as a whole: one test case per SLO (failed when any run failed it, an error
    when it was unknown in any run and failed in none), and one erroring case per run that gave
    no verdict (the drill itself failed)."""
    info = summary.campaign
    suite_name = f"hubchaos.campaign.{info.scenario}"
    root, suite = _suite(
        suite_name,
        sum(r.wall_s for r in summary.runs),
        (
            ("campaign_id", info.campaign_id),
            ("runs", f"{len(summary.runs)} of {info.runs_planned}"),
            ("status", info.status),
            ("verdict", summary.verdict.value),
            ("exit_code", str(summary.exit_code)),
        ),
    )
    for rate in summary.slos:
        case = ET.SubElement(
            suite, "testcase", classname=f"{suite_name}.{rate.category}", name=rate.slo, time="0"
        )
        tally = (
            f"passed in {rate.passed}, failed in {rate.failed}, unknown in {rate.unknown} "
            f"of {rate.checked} runs"
        )
        if rate.failed:
            flaky = "flaky: " if rate.flaky else ""
            message = f"{flaky}{rate.slo} {tally}"
            ET.SubElement(case, "failure", message=message, type="slo_failed").text = (
                "failed in " + ", ".join(rate.failed_in)
            )
        elif rate.unknown:
            ET.SubElement(case, "error", message=f"{rate.slo} {tally}", type="slo_unknown")
        ET.SubElement(case, "system-out").text = tally
    for run in summary.runs:
        if run.verdict is None:
            case = ET.SubElement(suite, "testcase", classname=f"{suite_name}.runs", name=run.run_id, time="0")
            message = f"{run.run_id} exited {run.exit_code}: {run.error or 'no verdict'}"
            ET.SubElement(case, "error", message=message, type="run_failed")
    if not len(suite.findall("testcase")):
        case = ET.SubElement(suite, "testcase", classname=suite_name, name="runs", time="0")
        ET.SubElement(case, "error", message="no run gave a verdict", type="slo_unknown")
    return _tree(root, suite)


def _suite(
    name: str, seconds: float, properties: tuple[tuple[str, str], ...]
) -> tuple[ET.Element, ET.Element]:
    root = ET.Element("testsuites", name="hubchaos", time=f"{seconds:.3f}")
    suite = ET.SubElement(root, "testsuite", name=name, skipped="0", time=f"{seconds:.3f}")
    listed = ET.SubElement(suite, "properties")
    for key, value in properties:
        ET.SubElement(listed, "property", name=key, value=value)
    return root, suite


def _tree(root: ET.Element, suite: ET.Element) -> ET.ElementTree:
    """Counts filled in from the cases, on the suite and the root alike."""
    cases = suite.findall("testcase")
    counts = {
        "tests": str(len(cases)),
        "failures": str(sum(c.find("failure") is not None for c in cases)),
        "errors": str(sum(c.find("error") is not None for c in cases)),
    }
    for element in (root, suite):
        element.attrib.update(counts)
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(path: Path, summary: Summary) -> None:
    junit_tree(summary).write(path, encoding="utf-8", xml_declaration=True)


def write_campaign_junit(path: Path, summary: CampaignSummary) -> None:
    campaign_junit_tree(summary).write(path, encoding="utf-8", xml_declaration=True)


def _detail(
    measured: float | None, target: float | None, margin: float | None, unit: str, lower: bool
) -> str:
    parts = []
    if measured is not None:
        parts.append(f"measured {'at least ' if lower else ''}{show(measured, unit)}")
    if target is not None:
        parts.append(f"target ≤ {show(target, unit)}")
    if margin is not None:
        parts.append(f"margin {show(margin, unit)}")
    return ", ".join(parts)
