"""Heal what a killed run left: the journal's entries first, then anything still labelled.

The journal knows each fault's heal steps (paused and stopped members included). The label
sweep then catches what no journal entry names (an entry lost with its disk, a run of an
older version): iptables rules labelled `hubchaos:fault:` and netem/tbf qdiscs in hubchaos
namespaces and in the network namespaces of hubchaos-labelled containers, delay relays, and
paused hubchaos-labelled containers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from docker.errors import DockerException

from chaos.backends import attach
from chaos.backends import netns as ns
from chaos.backends.containers import LABEL, docker_client
from chaos.errors import BackendError
from chaos.faults import relay, shaping
from chaos.faults.journal import Journal
from chaos.faults.netfilter import FAULT_LABEL_PREFIX, delete_labelled
from chaos.faults.steps import run_steps
from chaos.system import CommandFailed, have, is_root


@dataclass
class HealReport:
    healed: list[str] = field(default_factory=list)  # one line per healed journal entry
    swept: list[str] = field(default_factory=list)  # one line per leftover the sweep removed
    errors: list[str] = field(default_factory=list)


def heal_journal(journal: Journal, report: HealReport) -> None:
    entries, problems = journal.entries()
    report.errors.extend(problems)
    for entry in entries:
        try:
            cluster = attach(entry.cluster)
        except BackendError as exc:
            report.errors.append(f"{entry.key}: {exc}")
            continue
        failed = run_steps(cluster, entry.steps)
        cluster.close_clients()
        if failed:
            report.errors.append(f"{entry.key} ({entry.kind}): {'; '.join(failed)}")
        else:
            journal.remove(entry)
            report.healed.append(f"{entry.key}: {entry.kind} on {', '.join(entry.members)}")


def sweep_prefix(prefix: list[str], where: str, report: HealReport) -> None:
    try:
        rules = delete_labelled(prefix, FAULT_LABEL_PREFIX)
        if rules:
            report.swept.append(f"{where}: {rules} iptables rule(s)")
        for iface in shaping.shaped_interfaces(prefix):
            shaping.clear(prefix, iface)
            report.swept.append(f"{where}: qdisc on {iface}")
    except CommandFailed as exc:
        report.errors.append(f"{where}: {exc}")


def sweep_labels(report: HealReport) -> None:
    relays = relay.stop(FAULT_LABEL_PREFIX)
    if relays:
        report.swept.append(f"{relays} delay relay(s)")
    if not is_root():
        return
    for name in ns.list_namespaces():
        sweep_prefix(ns.exec_prefix(name), f"namespace {name}", report)
    try:
        client = docker_client()
    except BackendError:
        return  # no Docker here: nothing of hubchaos can be in it
    try:
        containers = client.containers.list(filters={"label": f"{LABEL}=1"})
    except DockerException as exc:
        report.errors.append(f"docker: {exc}")
        return
    for c in containers:
        if c.status == "paused":
            c.unpause()
            report.swept.append(f"container {c.name}: unpaused")
        pid = int(c.attrs["State"]["Pid"])
        if pid and have("nsenter"):
            sweep_prefix(["nsenter", "-t", str(pid), "-n"], f"container {c.name}", report)


def heal_everything(journal: Journal) -> HealReport:
    report = HealReport()
    heal_journal(journal, report)
    sweep_labels(report)
    return report
