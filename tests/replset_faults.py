"""Fault effects on a 3-member replica set, shared by the local and the docker backend tests.

Each check injects one fault kind through the injector, asserts its effect through PyMongo
and replSetGetStatus, heals it and waits until the set is healthy again.
"""

from __future__ import annotations

import time
from pathlib import Path

from chaos_support import fault_rules, rtt_ms, wait_until
from pymongo.errors import OperationFailure

from chaos.backends import Cluster
from chaos.faults.injector import FaultInjector
from chaos.faults.journal import Journal
from chaos.faults.kinds.degrade import Degrade
from chaos.faults.kinds.failpoint import Failpoint
from chaos.faults.kinds.freeze import Freeze
from chaos.faults.kinds.kill import Kill
from chaos.faults.kinds.partition import Partition
from chaos.faults.kinds.pause import Pause
from chaos.faults.kinds.stepdown import StepDown

MEMBERS = [{"name": "m0", "region": "eu"}, {"name": "m1", "region": "eu"}, {"name": "m2", "region": "us"}]
SETTINGS = {"electionTimeoutMillis": 1000, "heartbeatIntervalMillis": 250}


def state_of(cluster: Cluster, name: str) -> str:
    return cluster.member_status(name).state


def new_primary_other_than(cluster: Cluster, old: str, timeout: float = 30) -> str:
    found: list[str] = []

    def elected() -> bool:
        p = cluster.primary()
        if p is not None and p.name != old:
            found.append(p.name)
            return True
        return False

    wait_until(elected, timeout, f"a primary other than {old}")
    return found[-1]


def check_all_fault_kinds(cluster: Cluster, journal_dir: Path) -> None:
    inj = FaultInjector(cluster, Journal(journal_dir))
    cluster.wait_healthy(timeout=60)

    # Isolating the primary from the other members (clients still reach it): the majority
    # side elects a new primary and the old one steps down.
    old = cluster.wait_primary().name
    fault = inj.inject(Partition(mode="isolate", target="primary", cut_clients=False))
    new = new_primary_other_than(cluster, old)
    wait_until(lambda: state_of(cluster, old) != "PRIMARY", 30, f"{old} to step down")
    inj.heal(fault)
    assert fault_rules(cluster) == 0
    cluster.wait_healthy(timeout=60)

    # A killed member returns as SECONDARY once healed.
    fault = inj.inject(Kill(target="secondary"))
    (killed,) = fault.members
    assert not cluster.is_running(killed)
    inj.heal(fault)
    wait_until(lambda: state_of(cluster, killed) == "SECONDARY", 60, f"{killed} back as SECONDARY")

    # A paused member is reported unreachable (by the others too) and recovers.
    fault = inj.inject(Pause(target="secondary"))
    (paused,) = fault.members
    # `docker pause` can return a moment before the container's cgroup is frozen.
    wait_until(lambda: state_of(cluster, paused) == "(not reachable)", 30, f"{paused} to stop answering")
    primary = cluster.wait_primary().name
    address = cluster.member(paused).address

    def others_see_it_down() -> bool:
        doc = cluster.admin_command(primary, {"replSetGetStatus": 1})
        entry = next(m for m in doc["members"] if m["name"] == address)
        return entry["health"] == 0

    wait_until(others_see_it_down, 30, f"{primary} to report {paused} down")
    inj.heal(fault)
    cluster.wait_healthy(timeout=60)

    # replSetStepDown: another member becomes primary.
    old = cluster.wait_primary().name
    fault = inj.inject(StepDown(target="primary", step_down_secs=30, secondary_catch_up_period_secs=5))
    new = new_primary_other_than(cluster, old)
    inj.heal(fault)  # replSetFreeze 0: the old primary may stand again
    cluster.wait_healthy(timeout=60)

    # replSetFreeze: a frozen secondary does not win the next election.
    primary = cluster.wait_primary().name
    fault = inj.inject(Freeze(target="secondary", seconds=60))
    (frozen,) = fault.members
    stepdown = inj.inject(StepDown(target="primary", step_down_secs=20))
    new = new_primary_other_than(cluster, primary)
    assert new != frozen
    inj.heal(stepdown)
    inj.heal(fault)
    cluster.wait_healthy(timeout=60)

    # failCommand presets: errors, then normal service once healed.
    fault = inj.inject(Failpoint(preset="error", error_code=2, commands=["ping"], target="primary"))
    (fp,) = fault.members
    try:
        cluster.admin_command(fp, {"ping": 1})
        raise AssertionError("the failpoint did not fire")
    except OperationFailure as exc:
        assert exc.code == 2
    inj.heal(fault)
    cluster.admin_command(fp, {"ping": 1})

    # Degradation raises the measured round trip by the configured latency.
    target = cluster.wait_primary().name
    before = rtt_ms(cluster, target)
    fault = inj.inject(Degrade(target=target, latency_ms=100, jitter_ms=5))
    during = rtt_ms(cluster, target)
    assert 85 <= during - before <= 140, (before, during)
    inj.heal(fault)
    assert rtt_ms(cluster, target) - before < 20
    cluster.wait_healthy(timeout=60)

    # A split leaves the majority side with the primary; a bridge keeps one primary.
    fault = inj.inject(Partition(mode="split", target="minority"))
    (cut,) = fault.members
    time.sleep(3)
    primary = cluster.wait_primary().name
    assert primary != cut
    inj.heal(fault)
    fault = inj.inject(Partition(mode="bridge", target="any"))
    time.sleep(2)
    cluster.wait_primary()
    inj.heal(fault)
    assert fault_rules(cluster) == 0
    cluster.wait_healthy(timeout=60)
    assert not inj.active
    assert all(e.outcome == "ok" for e in inj.timeline.events)
