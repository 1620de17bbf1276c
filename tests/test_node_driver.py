"""The hub's own Node.js stack against the emulator: the `mongodb` 7.x driver monitors by
streaming (awaited heartbeats, changes seen at once, a killed member noticed at once)."""

from __future__ import annotations

import time

from tests.conftest import StartSet
from tests.node_support import NodeScript
from tests.replication_support import FAST, eventually, writable_primary


def test_the_node_driver_monitors_by_streaming_and_sees_changes_at_once(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    addresses = {m.address for m in rs.members}
    with NodeScript("monitoring.mjs", rs.uri) as node:
        node.wait_for("connected", 20)
        eventually(
            lambda: {e["address"] for e in node.events("heartbeatSucceeded")} == addresses,
            10,
            "the driver to reach every member",
        )
        time.sleep(0.5)  # every monitor is now waiting in an awaitable hello
        with primary.client() as direct:
            direct.admin.command("replSetStepDown", 10)
        stepped = time.time()
        new = eventually(lambda: writable_primary(rs.members), 10, "a new primary")
        became = eventually(
            lambda: [
                e
                for e in node.events("serverDescriptionChanged")
                if e["address"] == new.address and e["to"] == "RSPrimary" and e["t"] >= stepped
            ],
            5,
            "the driver to see the new primary",
        )
        assert became[0]["t"] - stepped < 5.0
        # Each member's hello changed (a state, or the primary it names): each monitor was answered.
        eventually(
            lambda: (
                {
                    e["address"]
                    for e in node.events("heartbeatSucceeded")
                    if e["awaited"] and e["t"] >= stepped
                }
                == addresses
            ),
            3,
            "an awaited heartbeat from every member",
        )

        victim = next(m for m in rs.members if m is not new)
        killed = time.time()
        victim.kill()
        failed = eventually(
            lambda: [
                e
                for e in node.events("heartbeatFailed")
                if e["address"] == victim.address and e["t"] >= killed
            ],
            5,
            "the killed member's heartbeat to fail",
        )
        assert failed[0]["awaited"] is True and failed[0]["t"] - killed < 1.0
        node.send("stop")
        node.finish(15)
        assert node.events("closed")
