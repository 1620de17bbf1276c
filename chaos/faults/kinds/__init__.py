"""The fault-kind registry: every kind the suite knows, one module each, imported when first used.

    FAULT_KINDS.get("partition")          # chaos.faults.kinds.partition:Partition
    parse_fault({"kind": "kill", "target": "secondary", "restart_after_s": 5})

Kinds from outside the package: an entry point in the group `hubchaos.faults`, a
`module:Class` reference as the scenario's `kind:`, or `FAULT_KINDS.register(name, cls)`.
A kind is a `chaos.faults.kind.FaultSpec` subclass (see that module for the interface).
"""

from __future__ import annotations

from typing import Any

from chaos.faults.kind import FaultSpec
from contract.registry import Registry, build, subclass_of

BUILTIN = ("kill", "stop", "restart", "pause", "stepdown", "freeze", "partition", "degrade", "failpoint")
_CLASSES = {"stepdown": "StepDown"}


FAULT_KINDS: Registry[type[FaultSpec]] = Registry(
    "fault kind",
    "hubchaos.faults",
    {k: f"chaos.faults.kinds.{k}:{_CLASSES.get(k, k.capitalize())}" for k in BUILTIN},
    check=subclass_of(FaultSpec),
)


def parse_fault(data: dict[str, Any]) -> FaultSpec:
    """A fault spec from plain data (`kind` a name or a module:Class reference); a bad parameter
    is one UsageError naming it. (The class knows its own kind name; a reference written as the
    kind is not that name, so `kind` is not passed on.)"""
    return build(FAULT_KINDS, data, "kind", "fault")
