"""Heal steps: what undoes a fault, as data, so a journal entry can heal it in another process.

Every step is idempotent: starting a running member, resuming one that is not paused,
deleting rules that are gone, turning off a fail point that is off all succeed and change
nothing, which is what lets `hubchaos heal` run any entry again.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from pymongo.errors import OperationFailure, PyMongoError

from chaos.backends.base import Cluster
from chaos.errors import FaultError, HealError, RunError
from chaos.faults import relay, shaping
from chaos.faults.netfilter import delete_labelled

# replSetFreeze on a primary (or a candidate) fails: there is then nothing to unfreeze.
NOT_SECONDARY = 95


class HealStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    op: Literal["start", "resume", "unfreeze", "failpoint_off", "clear_network"]
    member: str
    label: str | None = None  # clear_network: the fault's hubchaos label
    shaped: bool = False  # clear_network: the fault replaced the root qdisc of the interfaces

    def describe(self) -> str:
        return f"{self.op} {self.member}"


def run_steps(cluster: Cluster, steps: list[HealStep]) -> list[str]:
    """Carry out every step, also after one failed (undo as much as possible); return one line
    for each step that could not be carried out, saying what and why."""
    errors = []
    for step in steps:
        try:
            _run(cluster, step)
        except HealError as exc:
            errors.append(str(exc))
        except (RunError, PyMongoError, OSError) as exc:
            errors.append(f"{step.describe()}: {cluster.redact(str(exc))}")
    return errors


def _run(cluster: Cluster, step: HealStep) -> None:
    name = step.member
    if step.op == "start":
        cluster.start(name)
    elif step.op == "resume":
        cluster.resume(name)
    elif step.op == "unfreeze":
        try:
            cluster.admin_command(name, {"replSetFreeze": 0})
        except OperationFailure as exc:
            if exc.code != NOT_SECONDARY:
                raise
    elif step.op == "failpoint_off":
        cluster.admin_command(name, {"configureFailPoint": "failCommand", "mode": "off"})
    else:
        clear_network(cluster, name, step.label or "", step.shaped)


def clear_network(cluster: Cluster, name: str, label: str, shaped: bool) -> None:
    relay.stop(label)
    try:
        prefix = cluster.netns_prefix(name)
    except FaultError:
        return  # a stopped container has no namespace: nothing of the fault survives
    delete_labelled(prefix, label)
    if shaped:
        for iface in shaping.shaped_interfaces(prefix):
            shaping.clear(prefix, iface)
