"""The scenario as data in its file's own shape: what a run directory keeps as scenario.yaml,
and what `hubchaos validate` reads the timing from (without the run directory's Arrow types)."""

from __future__ import annotations

from typing import Any

from chaos.redact import redact_uri
from chaos.scenario.model import CONSTANT_LOAD, Scenario


def scenario_document(scenario: Scenario) -> dict[str, Any]:
    """The scenario as it runs, in the file's own shape, so `hubchaos run` can run it again."""
    data = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    for step in data.get("faults", []):
        step.pop("fault", None)
    for entry in data.get("runbook", []):
        entry.pop("step", None)
    # A null there switches a check off: kept, where exclude_none would drop it.
    data["slos"] = scenario.slos.model_dump(mode="json", exclude_unset=True)
    workload = data.get("workload", {})
    workload.update(workload.pop("settings", {}))
    if scenario.workload.stages is not None:  # the stages replace the constant load's defaults
        for key in CONSTANT_LOAD:
            workload.pop(key, None)
    # Credentials never reach the run directory; give the URI again (--set) to re-run.
    target = data.get("target", {})
    if "uri" in target:
        target["uri"] = redact_uri(target["uri"])
    return data
