"""`hubchaos heal`: undo what runs that are gone left behind, and nothing of runs that still run.

    1. the journal       each entry's heal steps, if its owner is gone (HealScope)
    2. the label sweep   what no journal entry names (an entry lost with its disk, another state
                         directory's run that was killed): iptables rules labelled
                         `hubchaos:fault:`, delay relays, shaped interfaces (labelled by their
                         alias) in hubchaos namespaces and in hubchaos containers' namespaces, and
                         paused hubchaos containers; each label names its owner, so a live run's
                         are left alone, whatever state directory it uses
    3. orphaned clusters drills' registered clusters whose run is gone: stopped and unregistered,
                         found from the state directory alone (member pids and start times,
                         container ids, namespace names), even with the run directory deleted;
                         then what gone runs left registered nowhere here, by owner label:
                         member networks (the bridge's alias) and processes (their environment),
                         containers, docker networks and compose projects
    4. run ids           the claims of gone runs with nothing left on record (chaos.runclaims)

Every item gets one line in the report: healed, swept, stopped, or left alone and why.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil
from docker.errors import DockerException

import docker
from chaos.backends import STATE_FILE, ClusterState, attach, load_state
from chaos.backends import netns as ns
from chaos.backends.base import Cluster
from chaos.backends.compose import PROJECT_LABEL
from chaos.backends.containers import LABEL, LABEL_OWNER, docker_client
from chaos.faults import relay, shaping
from chaos.faults.journal import Journal, JournalEntry
from chaos.faults.netfilter import FAULT_LABEL_PREFIX, delete_labelled, label_owner
from chaos.faults.steps import run_steps
from chaos.ownership import OWNER_ENV, HealScope, Owner
from chaos.runclaims import claims
from chaos.system import CommandFailed, have, is_root
from contract.errors import BackendError, HubchaosError


@dataclass
class HealReport:
    healed: list[str] = field(default_factory=list)  # journal entries healed
    swept: list[str] = field(default_factory=list)  # leftovers the label sweep removed
    stopped: list[str] = field(default_factory=list)  # orphaned clusters stopped
    left: list[str] = field(default_factory=list)  # what belongs to live runs, and why it stays
    notes: list[str] = field(default_factory=list)  # journal files set aside, once
    errors: list[str] = field(default_factory=list)  # what could not be undone


def _describe(entry: JournalEntry) -> str:
    return f"{entry.fault_id} {entry.kind} on {', '.join(entry.members)} (cluster {entry.cluster.cluster_id})"


def _whose(owner: Owner | None) -> str:
    if owner is None:
        return "no owner on record"
    return f"run {owner.run} (pid {owner.pid}{'' if owner.alive() else ', gone'})"


def registrations(state_dir: Path) -> list[tuple[Path, ClusterState]]:
    """Every cluster registered in the state directory (unreadable ones are skipped)."""
    found = []
    for path in sorted((state_dir / "clusters").glob(f"*/{STATE_FILE}")):
        try:
            found.append((path, load_state(path)))
        except BackendError:
            continue
    return found


def _attach_entry(entry: JournalEntry, state_dir: Path) -> Cluster:
    """The entry's cluster as its registration has it now (members restarted since the fault
    have new pids), else as the entry recorded it."""
    for path, state in registrations(state_dir):
        if state.cluster_id == entry.cluster.cluster_id and state.backend == entry.cluster.backend:
            return attach(state, registration=path)
    return attach(entry.cluster)


def heal_journal(
    journal: Journal, report: HealReport, scope: HealScope | None = None, state_dir: Path | None = None
) -> None:
    """Heal the entries `scope` covers (default: those whose owner is gone); clusters are
    attached through their registration in `state_dir` (default: the journal's parent)."""
    scope = scope or HealScope()
    state_dir = state_dir or journal.directory.parent
    entries, problems = journal.entries()
    report.notes.extend(problems)
    for entry in entries:
        if not scope.covers(entry.owner):
            report.left.append(f"{_describe(entry)}: {scope.why_not(entry.owner)}")
            continue
        try:
            cluster = _attach_entry(entry, state_dir)
        except BackendError as exc:
            report.errors.append(f"{_describe(entry)}: {exc}")
            continue
        failed = run_steps(cluster, entry.steps)
        cluster.close_clients()
        if failed:
            report.errors.append(f"{_describe(entry)}: {'; '.join(failed)}")
        else:
            journal.remove(entry)
            report.healed.append(f"{_describe(entry)} of {_whose(entry.owner)}")


def _keep(scope: HealScope, left: Counter[str]) -> Callable[[str], bool]:
    """Whether to keep an item with this label (its owner is out of scope), counting why."""

    def keep(label: str) -> bool:
        owner = label_owner(label)
        if scope.covers(owner):
            return False
        left[scope.why_not(owner)] += 1
        return True

    return keep


def sweep_prefix(prefix: list[str], where: str, report: HealReport, scope: HealScope) -> None:
    left: Counter[str] = Counter()
    keep = _keep(scope, left)
    try:
        rules = delete_labelled(prefix, FAULT_LABEL_PREFIX, keep=keep)
        if rules:
            report.swept.append(f"{where}: {rules} iptables rule(s)")
        aliases = shaping.labels(prefix)
        for iface in shaping.shaped_interfaces(prefix):
            label = aliases.get(iface, "")
            if label.startswith(FAULT_LABEL_PREFIX) and keep(label):
                continue
            shaping.clear(prefix, iface)
            report.swept.append(f"{where}: qdisc on {iface}")
    except CommandFailed as exc:
        report.errors.append(f"{where}: {exc}")
    for why, count in left.items():
        report.left.append(f"{where}: {count} labelled item(s): {why}")


def sweep_labels(report: HealReport, scope: HealScope) -> None:
    left: Counter[str] = Counter()
    relays = relay.stop(FAULT_LABEL_PREFIX, keep=_keep(scope, left))
    if relays:
        report.swept.append(f"{relays} delay relay(s)")
    for why, count in left.items():
        report.left.append(f"{count} delay relay(s): {why}")
    if not is_root():
        return
    for name in ns.list_namespaces():
        sweep_prefix(ns.exec_prefix(name), f"namespace {name}", report, scope)
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
        owner = Owner.from_token(c.labels.get(LABEL_OWNER, ""))
        if c.status == "paused":
            if scope.covers(owner):
                c.unpause()
                report.swept.append(f"container {c.name}: unpaused")
            else:
                report.left.append(f"container {c.name}: paused: {scope.why_not(owner)}")
        pid = int(c.attrs["State"]["Pid"])
        if pid and have("nsenter"):
            sweep_prefix(["nsenter", "-t", str(pid), "-n"], f"container {c.name}", report, scope)


def stop_orphans(state_dir: Path, report: HealReport, scope: HealScope) -> None:
    """Stop the registered clusters of runs that are gone (a standing cluster, one with no
    owner, is never an orphan: `hubchaos cluster down` stops it)."""
    for path, state in registrations(state_dir):
        owner = state.owner
        if owner is None:
            continue
        if scope.run is not None:
            if not owner.is_run(scope.run):
                continue
        elif owner.alive():
            continue
        name = path.parent.name
        try:
            cluster = attach(state, registration=path)
            cluster.down()
            cluster.unregister()
        except (HubchaosError, DockerException, OSError) as exc:
            report.errors.append(f"cluster {name}: not stopped: {exc}")
            continue
        report.notes.extend(f"cluster {name}: {note}" for note in cluster.notes)
        members = len(state.addresses)
        report.stopped.append(f"cluster {name} ({state.backend}, {members} members) of {_whose(owner)}")


def run_owners(journal: Journal, state_dir: Path, run: str) -> tuple[Owner, ...]:
    """The processes of `run` on record in this state directory: its claim, its journal
    entries' and its registered cluster's owners."""
    entries, _ = journal.entries()
    found = [owner for path, owner in claims(state_dir) if path.name == run and owner is not None]
    found += [e.owner for e in entries if e.owner is not None and e.owner.is_run(run)]
    found += [s.owner for _, s in registrations(state_dir) if s.owner is not None and s.owner.is_run(run)]
    return tuple(found)


Gone = Callable[[Owner | None], bool]  # whether an owner is gone and in the heal's scope


def stop_unregistered(report: HealReport, scope: HealScope) -> None:
    """Remove what killed runs left with no registration here (their state directory lost, or
    another one's): local member networks, found by their bridge's label, with the processes
    inside them; processes whose environment names their owner; labelled containers and
    networks; compose projects whose members they own."""

    def gone(owner: Owner | None) -> bool:
        return owner is not None and not owner.alive() and scope.covers(owner)

    root = is_root()  # network namespaces and Docker need root; a user's own processes do not
    if root:
        _stop_member_networks(report, gone)  # first: the processes in them are counted there
    _stop_processes(report, gone)
    if not root:
        return
    try:
        client = docker_client()
    except BackendError:
        return
    try:
        _stop_containers(client, report, gone)
    except DockerException as exc:
        report.errors.append(f"docker: {exc}")


def _stop_member_networks(report: HealReport, gone: Gone) -> None:
    for iface, alias in shaping.labels([]).items():
        owner = Owner.from_token(alias.removeprefix(ns.BRIDGE_LABEL))
        if not (iface.startswith(ns.BRIDGE_PREFIX) and alias.startswith(ns.BRIDGE_LABEL) and gone(owner)):
            continue
        cluster_id = iface.removeprefix(ns.BRIDGE_PREFIX)
        members = ns.members_of(cluster_id)
        killed = 0
        for member in members:
            for pid in ns.pids_in(ns.netns_name(cluster_id, member)):
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).kill()
                    killed += 1
        ns.destroy(cluster_id, members)
        report.stopped.append(
            f"network {iface} ({len(members)} namespace(s), {killed} process(es) killed) of {_whose(owner)}"
        )


def _stop_processes(report: HealReport, gone: Gone) -> None:
    """Member processes (on loopback, say) whose environment names a gone owner."""
    for process in psutil.process_iter(["cmdline"]):
        try:
            owner = Owner.from_token(process.environ().get(OWNER_ENV, ""))
            if not gone(owner):
                continue
            process.kill()
        except psutil.Error:  # gone meanwhile, a zombie, or another user's
            continue
        command = " ".join((process.info["cmdline"] or [process.name()])[:3])
        report.stopped.append(f"process {process.pid} ({command} ...) of {_whose(owner)}")


def _stop_containers(client: docker.DockerClient, report: HealReport, gone: Gone) -> None:
    projects: dict[str, Owner | None] = {}
    for c in client.containers.list(all=True, filters={"label": f"{LABEL}=1"}):
        owner = Owner.from_token(c.labels.get(LABEL_OWNER, ""))
        if not gone(owner):
            continue
        if PROJECT_LABEL in c.labels:  # the whole project goes, as `docker compose down` does
            projects[c.labels[PROJECT_LABEL]] = owner
            continue
        c.remove(force=True, v=True)
        report.stopped.append(f"container {c.name} of {_whose(owner)}")
    for net in client.networks.list(filters={"label": f"{LABEL}=1"}):
        owner = Owner.from_token(net.attrs.get("Labels", {}).get(LABEL_OWNER, ""))
        if gone(owner):
            net.remove()
            report.stopped.append(f"docker network {net.name} of {_whose(owner)}")
    for project, owner in projects.items():
        mine = {"label": f"{PROJECT_LABEL}={project}"}
        containers = client.containers.list(all=True, filters=mine)
        for c in containers:
            c.remove(force=True, v=True)
        for net in client.networks.list(filters=mine):
            net.remove()
        count = len(containers)
        report.stopped.append(f"compose project {project} ({count} container(s)) of {_whose(owner)}")


def heal_everything(journal: Journal, state_dir: Path, scope: HealScope | None = None) -> HealReport:
    scope = scope or HealScope()
    if scope.run is not None:
        scope = replace(scope, recorded=run_owners(journal, state_dir, scope.run))
    report = HealReport()
    heal_journal(journal, report, scope, state_dir)
    sweep_labels(report, scope)
    stop_orphans(state_dir, report, scope)
    stop_unregistered(report, scope)
    release_claims(journal, state_dir, scope)
    return report


def release_claims(journal: Journal, state_dir: Path, scope: HealScope) -> None:
    """Give up the run ids of gone runs once nothing of theirs is on record (see runclaims)."""
    entries, _ = journal.entries()
    kept = {e.owner for e in entries} | {state.owner for _, state in registrations(state_dir)}
    for path, owner in claims(state_dir):
        if owner is not None and not owner.alive() and scope.covers(owner) and owner not in kept:
            path.unlink(missing_ok=True)
