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
    from reports.summary import Summary


def junit_tree(summary: Summary) -> ET.ElementTree:
    suite_name = f"hubchaos.{summary.run.scenario}"
    results = summary.results
    failures = sum(r.verdict is Verdict.FAIL for r in results)
    errors = sum(r.verdict is Verdict.UNKNOWN for r in results) or (0 if results else 1)
    tests = len(results) or 1
    duration = f"{summary.run_end - summary.run_start:.3f}"
    root = ET.Element(
        "testsuites",
        name="hubchaos",
        tests=str(tests),
        failures=str(failures),
        errors=str(errors),
        time=duration,
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        name=suite_name,
        tests=str(tests),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=duration,
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", summary.run.run_id),
        ("slo_profile", summary.slos.profile),
        ("verdict", summary.verdict.value),
        ("exit_code", str(summary.exit_code)),
    ):
        ET.SubElement(properties, "property", name=name, value=value)

    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"{suite_name}.{r.category}", name=r.slo, time="0")
        detail = _detail(r.measured, r.target, r.margin, r.unit, r.lower_bound)
        if r.verdict is Verdict.FAIL:
            ET.SubElement(case, "failure", message=r.explanation, type="slo_failed").text = detail
        elif r.verdict is Verdict.UNKNOWN:
            ET.SubElement(case, "error", message=r.explanation, type="slo_unknown").text = r.error or ""
        ET.SubElement(case, "system-out").text = r.explanation
    if not results:
        case = ET.SubElement(suite, "testcase", classname=suite_name, name="slos", time="0")
        ET.SubElement(case, "error", message="no SLO was checked", type="slo_unknown")
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(path: Path, summary: Summary) -> None:
    junit_tree(summary).write(path, encoding="utf-8", xml_declaration=True)


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
