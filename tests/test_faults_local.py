"""Faults against real member processes in their own network namespaces (as root).

Each test injects a fault through the injector, checks its effect through PyMongo, heals it
and checks the effect is gone and nothing labelled hubchaos is left.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from chaos_support import fault_rules, injector, local_cluster, needs_root, rtt_ms, wait_until
from pymongo.errors import OperationFailure, PyMongoError

from chaos.faults.kinds.degrade import Degrade
from chaos.faults.kinds.failpoint import Failpoint
from chaos.faults.kinds.kill import Kill
from chaos.faults.kinds.partition import Partition
from chaos.faults.kinds.pause import Pause
from chaos.faults.kinds.restart import Restart
from chaos.faults.kinds.stop import Stop
from contract.errors import TargetError

pytestmark = needs_root


def answers(cluster, member: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        with cluster.admin_client(member, serverSelectionTimeoutMS=800, socketTimeoutMS=800) as c:
            c.admin.command("ping")
        return True
    except PyMongoError:
        return False


def test_one_member_set_fault_kinds(tmp_path: Path) -> None:
    with local_cluster(tmp_path / "c", 1) as cluster:
        inj = injector(cluster, tmp_path)
        m0 = cluster.members[0].name
        process = cluster.processes[m0]  # type: ignore[attr-defined]

        # pause: reported unreachable, answers again once resumed
        fault = inj.inject(Pause(target="primary"))
        assert process.paused
        assert cluster.status()[0].state == "(not reachable)"
        inj.heal(fault)
        assert not process.paused and answers(cluster, m0)

        # kill: gone, then started again by the heal
        fault = inj.inject(Kill(target=m0))
        assert not process.alive and not answers(cluster, m0)
        inj.heal(fault)
        assert process.alive and answers(cluster, m0)

        # graceful stop and restart: a new process each time
        pid = process.pid
        inj.heal(inj.inject(Stop(target=m0)))
        assert process.pid != pid and answers(cluster, m0)
        pid = process.pid
        inj.heal(inj.inject(Restart(target=m0, graceful=False)))
        assert process.pid != pid and answers(cluster, m0)

        # every inject and heal is on the timeline, with the members it hit
        kinds = [(e.kind, e.action, e.outcome) for e in inj.timeline.events]
        assert kinds == [
            ("pause", "inject", "ok"),
            ("pause", "heal", "ok"),
            ("kill", "inject", "ok"),
            ("kill", "heal", "ok"),
            ("stop", "inject", "ok"),
            ("stop", "heal", "ok"),
            ("restart", "inject", "ok"),
            ("restart", "heal", "ok"),
        ]
        assert all(e.members == [m0] for e in inj.timeline.events)
        assert inj.timeline.events[0].primary == m0
        assert not list((tmp_path / "journal").glob("*.json"))


def test_kill_with_restart_after_heals_itself(tmp_path: Path) -> None:
    with local_cluster(tmp_path / "c", 1) as cluster:
        inj = injector(cluster, tmp_path)
        fault = inj.inject(Kill(target="primary", restart_after_s=0.5))
        wait_until(lambda: fault.healed, 15, "the timed restart")
        inject, heal = inj.timeline.events
        assert 0.45 <= heal.t_mono - inject.t_mono < 3.0
        assert answers(cluster, "m0")


def test_failpoint_error_and_slow_presets(tmp_path: Path) -> None:
    with local_cluster(tmp_path / "c", 1) as cluster:
        inj = injector(cluster, tmp_path)
        with cluster.client() as client:
            coll = client.hub.things
            fault = inj.inject(Failpoint(preset="error", error_code=2, commands=["ping"]))
            with pytest.raises(OperationFailure) as err:
                client.admin.command("ping")
            assert err.value.code == 2
            inj.heal(fault)
            client.admin.command("ping")

            fault = inj.inject(Failpoint(preset="slow", block_ms=300, commands=["ping"]))
            assert rtt_ms(cluster, "m0", rounds=3) >= 280
            inj.heal(fault)
            assert rtt_ms(cluster, "m0", rounds=3) < 150
            del coll


def test_isolating_a_member_cuts_clients_until_healed(tmp_path: Path) -> None:
    with local_cluster(tmp_path / "c", 1) as cluster:
        inj = injector(cluster, tmp_path)
        fault = inj.inject(Partition(mode="isolate", target="primary"))
        assert fault_rules(cluster) > 0
        assert not answers(cluster, "m0")
        inj.heal(fault)
        assert fault_rules(cluster) == 0
        assert answers(cluster, "m0")


def test_degrade_adds_the_configured_latency(tmp_path: Path) -> None:
    with local_cluster(tmp_path / "c", 1) as cluster:
        inj = injector(cluster, tmp_path)
        before = rtt_ms(cluster, "m0")
        fault = inj.inject(Degrade(target="m0", latency_ms=120))
        during = rtt_ms(cluster, "m0")
        assert 120 * 0.9 <= during - before <= 120 * 1.3, (before, during)
        assert inj.timeline.events[-1].params["via"] in (["netem"], ["fallback"])
        inj.heal(fault)
        after = rtt_ms(cluster, "m0")
        assert after - before < 20, (before, after)
        assert fault_rules(cluster) == 0


def test_degrade_loss_and_bandwidth_through_the_fallback(tmp_path: Path) -> None:
    with local_cluster(tmp_path / "c", 1) as cluster:
        inj = injector(cluster, tmp_path)
        fault = inj.inject(Degrade(target="m0", loss_pct=5, rate_kbit=800, method="fallback"))
        prefix = cluster.netns_prefix("m0")
        from chaos.faults import shaping

        assert shaping.shaped_interfaces(prefix) == ["eth0"]
        assert fault_rules(cluster) == 1
        # Through 5 % loss a ping may need a TCP retransmit (1 s) beyond one attempt's 800 ms.
        wait_until(lambda: answers(cluster, "m0"), 10, "m0 to answer through the lossy link")
        inj.heal(fault)
        assert shaping.shaped_interfaces(prefix) == []
        assert fault_rules(cluster) == 0


def test_wrong_targets_are_refused_and_change_nothing(tmp_path: Path) -> None:
    with local_cluster(tmp_path / "c", [{"name": "a", "region": "eu"}]) as cluster:
        inj = injector(cluster, tmp_path)
        for spec, message in [
            (Kill(target="b"), "unknown target 'b'"),
            (Pause(target="region:us"), "no member is in region 'us'"),
            (Kill(target="minority"), "no minority"),
        ]:
            with pytest.raises(TargetError) as err:
                inj.inject(spec)
            assert message in str(err.value) and "\n" not in str(err.value)
        assert cluster.processes["a"].alive and not cluster.processes["a"].paused  # type: ignore[attr-defined]
        assert not list((tmp_path / "journal").glob("*.json"))
        assert [e.outcome for e in inj.timeline.events] == ["error"] * 3


def test_loopback_members_refuse_network_faults(tmp_path: Path) -> None:
    with local_cluster(tmp_path / "c", 1, network="loopback") as cluster:
        inj = injector(cluster, tmp_path)
        with pytest.raises(TargetError) as err:
            inj.inject(Partition(target="primary"))
        assert "share loopback" in str(err.value)
        assert cluster.members[0].address.startswith("127.0.0.1:")


def test_an_exception_inside_healing_heals_everything(tmp_path: Path) -> None:
    from chaos.faults.session import healing

    with local_cluster(tmp_path / "c", 1) as cluster:
        inj = injector(cluster, tmp_path)
        process = cluster.processes["m0"]  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError, match="drill failed"), healing(inj):
            inj.inject(Pause(target="m0"))
            inj.inject(Partition(target="m0", mode="isolate"))
            assert process.paused and fault_rules(cluster) > 0
            raise RuntimeError("drill failed")
        assert not process.paused and fault_rules(cluster) == 0
        assert not inj.active and not list((tmp_path / "journal").glob("*.json"))
        assert [e.action for e in inj.timeline.events] == ["inject", "inject", "heal", "heal"]


def test_a_second_fault_of_one_layer_on_a_member_is_refused_and_others_compose(tmp_path: Path) -> None:
    """Two pauses on one member would end together (the inner heal resumes the outer fault too),
    so the second is refused and recorded; a network fault on the same member composes."""
    with local_cluster(tmp_path / "c", 1) as cluster:
        inj = injector(cluster, tmp_path)
        process = cluster.processes["m0"]  # type: ignore[attr-defined]
        outer = inj.inject(Pause(target="m0"))
        with pytest.raises(TargetError, match=f"m0 is still under pause {outer.fault_id}"):
            inj.inject(Kill(target="m0"))
        network = inj.inject(Partition(target="m0", mode="isolate"))
        assert process.paused and fault_rules(cluster) > 0
        inj.heal(network)
        assert process.paused and fault_rules(cluster) == 0
        inj.heal(outer)
        assert not process.paused
        events = [(e.fault_id, e.action, e.outcome) for e in inj.timeline.events]
        assert events[1][1:] == ("inject", "error")
