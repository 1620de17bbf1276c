"""The runbook-action registry: every action a runbook can name, one module each, imported on
first use (the same pattern as fault kinds: chaos/faults/kinds/).

    RUNBOOK_ACTIONS.get("force_reconfig")   # chaos.runbook.actions.force_reconfig:ForceReconfig
    parse_step({"action": "wait_healthy", "timeout": "2m"})

Actions from outside the package: an entry point in the group `hubchaos.runbook_actions`, a
`module:Class` reference as the scenario's `action:`, or `RUNBOOK_ACTIONS.register(name, cls)`.
An action is a `chaos.runbook.step.RunbookStep` subclass.
"""

from __future__ import annotations

from typing import Any

from chaos.runbook.step import RunbookStep
from contract.registry import Registry, build, subclass_of

BUILTIN = {
    "force_reconfig": "ForceReconfig",
    "add_members": "AddMembers",
    "remove_members": "RemoveMembers",
    "step_up": "StepUp",
    "wait_healthy": "WaitHealthy",
    "backup": "Backup",
    "mark": "Mark",
    "wipe": "Wipe",
    "restore": "Restore",
}

RUNBOOK_ACTIONS: Registry[type[RunbookStep]] = Registry(
    "runbook action",
    "hubchaos.runbook_actions",
    {name: f"chaos.runbook.actions.{name}:{cls}" for name, cls in BUILTIN.items()},
    check=subclass_of(RunbookStep),
)


def parse_step(data: dict[str, Any]) -> RunbookStep:
    """A step from plain data (`action` a name or a module:Class reference); a bad parameter is
    one UsageError naming it."""
    return build(RUNBOOK_ACTIONS, data, "action", "runbook action")
