"""A managed set starts with a primary of the highest priority, as the target's topology has it,
before any load: mongod's own priority takeover would come later, in the middle of the load."""

from __future__ import annotations

from pathlib import Path

from chaos.backends import create
from chaos.target import parse_target

MEMBERS = [{"name": "low-1"}, {"name": "top", "priority": 2}, {"name": "low-2"}]


def test_the_preferred_member_takes_over_at_once_before_the_load(tmp_path: Path) -> None:
    # mongod's default election settings: a priority takeover would wait an election timeout
    # (10 s) and more, so a primary of priority 2 within 5 s is replSetStepUp's doing.
    target = parse_target({"backend": "local", "members": MEMBERS, "network": "loopback"})
    with create(target, tmp_path / "c") as cluster:
        assert cluster.primary().name == "top"  # type: ignore[union-attr]
        # The preferred member steps down and may not stand for a minute: a lower one takes over.
        cluster.admin_command("top", {"replSetStepDown": 60, "secondaryCatchUpPeriodSecs": 5})
        assert cluster.wait_primary().name != "top"
        cluster.admin_command("top", {"replSetFreeze": 0})  # free to stand again, as after a restart
        assert cluster.elect_preferred(timeout=5).name == "top"
