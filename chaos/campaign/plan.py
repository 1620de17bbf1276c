"""What each run of a campaign runs: the scenario with its `campaign:` section applied.

`injections: k` plays the load and the fault timeline k times back to back in one run: the
load lasts k times as long (stages repeated), and every fault step is injected again at its
time plus a whole load's length per round. The fault ids follow in time order (f1, f2, ...).
The result is an ordinary scenario without a `campaign:` section, so every run directory holds a
scenario that `hubchaos run` runs again as one drill.
"""

from __future__ import annotations

from chaos.scenario.document import scenario_document
from chaos.scenario.model import Scenario


def drill_scenario(scenario: Scenario) -> Scenario:
    data = scenario_document(scenario)
    data.pop("campaign", None)
    rounds = scenario.campaign.injections if scenario.campaign else 1
    if rounds > 1:
        length = scenario.workload.total_duration
        workload = data["workload"]
        if scenario.workload.stages:
            workload["stages"] = workload["stages"] * rounds
        else:
            workload["duration"] = length * rounds
        data["faults"] = [
            {**step, "at": step["at"] + r * length} for r in range(rounds) for step in data.get("faults", [])
        ]
    return Scenario.model_validate(data)
