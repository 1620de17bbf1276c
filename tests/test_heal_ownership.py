"""`hubchaos heal` heals only what belongs to runs that are gone.

Several drills run on one machine at once, each with its own state directory: a heal (in any
state directory) must never lift a live run's fault, and must still find everything a dead
run left, even with its journal entry or its run directory gone. The live owner here is this
test process; a dead one is a process started and killed for the purpose.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from chaos_support import FAST, fault_rules, gone_owner, local_cluster, needs_root

from chaos.backends import create, netns
from chaos.backends.base import Cluster
from chaos.faults.injector import FaultInjector
from chaos.faults.journal import Journal
from chaos.faults.kinds.partition import Partition
from chaos.faults.kinds.pause import Pause
from chaos.faults.netfilter import fault_label, label_owner
from chaos.ownership import HealScope, Owner
from chaos.runclaims import claim_run, claims_dir, release_run
from chaos.target import parse_target

HUBCHAOS = [sys.executable, "-m", "chaos.cli"]
pytestmark = pytest.mark.usefixtures("heals_alone")


def heal(state: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUBCHAOS_STATE_DIR": str(state), "COLUMNS": "300"}
    return subprocess.run(
        [*HUBCHAOS, "heal", "--no-wait", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


@pytest.fixture
def dead_owner() -> Owner:
    return gone_owner("dead-run")


# --- units ---------------------------------------------------------------------------------------


def test_an_owner_is_its_pid_and_start_time() -> None:
    me = Owner.current("drill-1")
    assert me.alive()
    again = Owner.from_token(me.token())
    assert again is not None and (again.run, again.pid) == (me.run, me.pid)
    assert abs(again.started - me.started) <= 0.005 and again.alive()
    # The same pid with another start time is another process (a recycled pid).
    assert not me.model_copy(update={"started": me.started - 5}).alive()
    assert Owner.from_token("no-owner-here") is None


def test_a_label_carries_its_owner_and_older_labels_have_none() -> None:
    me = Owner.current("quick start:1")  # not a safe label part: kept in a safe form
    label = fault_label("a1b2c3", "f2", me)
    owner = label_owner(label)
    assert owner is not None and owner.alive() and owner.is_run("quick start:1")
    assert label_owner(fault_label("a1b2c3", "f2")) is None
    assert not label.startswith(fault_label("a1b2c3", "f2", me).replace(":f2:", ":f20:"))


def test_the_scope_covers_gone_owners_by_default(dead_owner: Owner) -> None:
    live = Owner.current("live-run")
    default, everything = HealScope(), HealScope(everything=True)
    one = HealScope(run="live-run", recorded=(live,))
    assert default.covers(dead_owner) and default.covers(None) and not default.covers(live)
    assert "still running" in default.why_not(live) and "--run live-run" in default.why_not(live)
    assert one.covers(live) and not one.covers(dead_owner) and not one.covers(None)
    assert everything.covers(live) and everything.covers(dead_owner)
    # --run names a live run that this state directory has not on record: another of that name.
    unrecorded = HealScope(run="live-run")
    assert not unrecorded.covers(live) and "not on record" in unrecorded.why_not(live)
    assert HealScope(run="dead-run").covers(dead_owner)


def test_a_run_id_is_claimed_once_per_state_directory(tmp_path: Path, dead_owner: Owner) -> None:
    state = tmp_path / "state"
    first, second = claim_run(state, "run"), claim_run(state, "run")
    assert (first.run, second.run) == ("run", "run-2") and first.same_process(second)
    release_run(state, first)
    assert claim_run(state, "run").run == "run"
    # A killed run's claim holds its id until heal has removed all it left.
    (claims_dir(state) / "gone").write_text(dead_owner.model_copy(update={"run": "gone"}).model_dump_json())
    assert claim_run(state, "gone").run == "gone-2"
    healed = heal(state)
    assert healed.returncode == 0, healed.stderr
    assert sorted(p.name for p in claims_dir(state).iterdir()) == ["gone-2", "run", "run-2"]


# --- against real members -----------------------------------------------------------------------


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with local_cluster(tmp_path / "cluster", [{"name": "a"}, {"name": "b"}]) as c:
        yield c


@needs_root
def test_a_heal_elsewhere_never_lifts_a_live_runs_faults(
    cluster: Cluster, tmp_path: Path, dead_owner: Owner
) -> None:
    mine, theirs = tmp_path / "state-a", tmp_path / "state-b"
    live = FaultInjector(cluster, Journal(mine / "journal"), owner=Owner.current("live-run"))
    gone = FaultInjector(cluster, Journal(mine / "journal"), owner=dead_owner)
    partition = live.inject(Partition(target="a", mode="isolate"))
    pause = gone.inject(Pause(target="b"))
    process = cluster.processes["b"]  # type: ignore[attr-defined]
    assert process.paused and fault_rules(cluster) > 0

    # Another state directory: its journal is empty, and its label sweep must leave the live
    # run's rules alone.
    other = heal(theirs)
    assert other.returncode == 0, other.stderr
    assert fault_rules(cluster) > 0 and process.paused
    assert "still running" in other.stdout and "--run live-run" in other.stdout

    # The runs' own state directory: the dead run's pause is healed, the live run's partition
    # stays, each said.
    own = heal(mine)
    assert own.returncode == 0, own.stderr
    assert not process.paused
    assert fault_rules(cluster) > 0
    assert f"healed  {pause.fault_id} pause on b" in own.stdout
    assert f"left    {partition.fault_id} partition on a" in own.stdout

    # --run in another state directory: a live run of that name there is not this one.
    other = heal(theirs, "--run", "live-run")
    assert other.returncode == 0, other.stderr
    assert fault_rules(cluster) > 0 and "not on record in this state directory" in other.stdout

    # --run names the live run: healed although it still runs.
    forced = heal(mine, "--run", "live-run")
    assert forced.returncode == 0, forced.stderr
    assert fault_rules(cluster) == 0
    assert not list((mine / "journal").glob("*.json"))


@needs_root
def test_the_sweep_removes_a_dead_runs_rules_whose_journal_is_lost(
    cluster: Cluster, tmp_path: Path, dead_owner: Owner
) -> None:
    gone = FaultInjector(cluster, Journal(tmp_path / "lost" / "journal"), owner=dead_owner)
    gone.inject(Partition(target="a", mode="isolate"))
    shutil.rmtree(tmp_path / "lost")
    assert fault_rules(cluster) > 0
    swept = heal(tmp_path / "elsewhere")
    assert swept.returncode == 0, swept.stderr
    assert fault_rules(cluster) == 0
    assert "iptables rule(s)" in swept.stdout


def test_a_corrupt_journal_entry_is_set_aside_once(tmp_path: Path) -> None:
    journal = tmp_path / "state" / "journal"
    journal.mkdir(parents=True)
    (journal / "abc.f1.json").write_text("{not json")
    first = heal(tmp_path / "state")
    assert first.returncode == 0, first.stderr
    assert "unreadable journal entry" in first.stdout and "moved to" in first.stdout
    assert (journal / "unreadable" / "abc.f1.json").exists()
    again = heal(tmp_path / "state")
    assert again.returncode == 0 and "unreadable" not in again.stdout, again.stdout


def test_heal_finds_a_dead_runs_members_after_its_run_directory_is_deleted(
    tmp_path: Path, dead_owner: Owner
) -> None:
    """As a CI workspace cleanup does: the members' dbpaths (and lock files) are gone, the
    pids and start times in the state directory still find them."""
    state = tmp_path / "state"
    workdir = tmp_path / "run"
    target = parse_target({"backend": "local", "members": 2, "network": "loopback", "settings": FAST})
    cluster = create(target, workdir)
    cluster.owner = Owner.current("standing-run")  # alive: heal must not stop it yet
    cluster.registration = state / "clusters" / "drill-x" / "cluster.json"
    try:
        cluster.up()
        pids = {n: p.pid for n, p in cluster.processes.items()}  # type: ignore[attr-defined]
        FaultInjector(cluster, Journal(state / "journal"), owner=dead_owner).inject(Pause(target="m1"))
        assert psutil.Process(pids["m1"]).status() == psutil.STATUS_STOPPED
        shutil.rmtree(workdir)

        healed = heal(state)
        assert healed.returncode == 0, healed.stderr
        assert "healed  f1 pause on m1" in healed.stdout
        assert psutil.Process(pids["m1"]).status() != psutil.STATUS_STOPPED
        assert "stopped" not in healed.stdout  # its run still runs

        # The run is gone now: heal stops its cluster, found by pid and start time alone.
        registration = cluster.registration.read_text()
        cluster.registration.write_text(
            registration.replace('"run": "standing-run"', '"run": "dead-run"').replace(
                f'"pid": {os.getpid()}', f'"pid": {dead_owner.pid}'
            )
        )
        stopped = heal(state)
        assert stopped.returncode == 0, stopped.stderr
        assert "stopped cluster drill-x (local, 2 members) of run dead-run" in stopped.stdout
        assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids.values())
        assert not cluster.registration.exists()
    finally:
        cluster.down()


@needs_root
def test_heal_removes_a_killed_runs_network_that_no_state_directory_knows(
    tmp_path: Path, dead_owner: Owner
) -> None:
    """A killed drill whose state directory went too: its members' namespaces, bridge and
    processes are found by the bridge's label alone; a live run's network stays."""
    target = parse_target({"backend": "local", "members": 2, "settings": FAST})
    orphan, live = create(target, tmp_path / "orphan"), create(target, tmp_path / "live")
    orphan.owner, live.owner = dead_owner, Owner.current("live-run")
    try:
        orphan.up()
        live.up()
        pids = [p.pid for p in orphan.processes.values()]  # type: ignore[attr-defined]
        healed = heal(tmp_path / "state")
        assert healed.returncode == 0, healed.stderr
        bridge = netns.bridge_name(orphan.cluster_id)
        said = f"stopped network {bridge} (2 namespace(s), 2 process(es) killed) of run dead-run"
        assert said in healed.stdout
        assert not netns.members_of(orphan.cluster_id)
        assert subprocess.run(["ip", "link", "show", bridge], capture_output=True, check=False).returncode
        forward = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
        assert netns.FORWARD_COMMENT.format(cluster_id=orphan.cluster_id) not in forward
        assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)
        assert sorted(netns.members_of(live.cluster_id)) == ["m0", "m1"]
        live.wait_healthy()
    finally:
        orphan.down()
        live.down()


def test_heal_stops_a_killed_runs_loopback_member_that_no_state_directory_knows(
    tmp_path: Path, dead_owner: Owner
) -> None:
    """Found by the owner in its environment: no namespace, no registration, no lock file."""
    target = parse_target({"backend": "local", "members": 1, "network": "loopback", "settings": FAST})
    cluster = create(target, tmp_path / "orphan")
    cluster.owner = dead_owner
    try:
        cluster.up()
        pid = cluster.member_pid("m0")
        shutil.rmtree(tmp_path / "orphan")
        healed = heal(tmp_path / "state")
        assert healed.returncode == 0, healed.stderr
        assert f"stopped process {pid} (" in healed.stdout and "of run dead-run" in healed.stdout
        assert pid is not None and (not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie")
    finally:
        cluster.down()


def test_compose_state_names_the_file_absolutely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A heal or `cluster down` from another folder must find the compose file."""
    monkeypatch.chdir(Path(__file__).parent.parent)
    target = parse_target({"backend": "compose", "file": "docker-compose.chaos.yml"})
    state = create(target, tmp_path).state()
    assert state.target.file.is_absolute() and state.target.file.exists()  # type: ignore[attr-defined]
