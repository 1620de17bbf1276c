"""The discovery listener dates SDAM events when the driver changed its view, not when PyMongo's
event queue got round to delivering them: a killed primary's successor is found before the
first write it acknowledges, under a real PyMongo against a real emulator set."""

from __future__ import annotations

import threading
import time

from pymongo.errors import PyMongoError

from contract.rundir import DiscoveryEvent
from locustfiles.discovery import DiscoveryListener
from tests.conftest import StartSet
from tests.replication_support import FAST


def test_the_new_primary_is_dated_before_the_first_write_it_acknowledges(
    start_replica_set: StartSet,
) -> None:
    rs = start_replica_set(3, settings=FAST)
    old = rs.primary()
    delivered: list[tuple[float, DiscoveryEvent]] = []
    listener = DiscoveryListener(lambda e: delivered.append((time.time(), e)), "test")
    acked: list[float] = []
    stop = threading.Event()

    with rs.client(event_listeners=[listener], serverSelectionTimeoutMS=15_000) as client:
        coll = client.hub.discovery
        coll.insert_one({"warm": True})

        def loop() -> None:
            deadline = time.monotonic() + 20
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    coll.insert_one({"t": time.time()})
                    acked.append(time.time())
                except PyMongoError:
                    pass
                time.sleep(0.01)

        writer = threading.Thread(target=loop, daemon=True)
        writer.start()
        time.sleep(0.5)
        killed = time.time()
        old.kill()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(t > killed + 0.5 for t in acked):
            time.sleep(0.05)
        time.sleep(1.5)  # PyMongo delivers queued events within a second
        stop.set()
        writer.join(25)

    found = [
        (at, e)
        for at, e in delivered
        if e.kind == "server_changed" and e.new_type == "RSPrimary" and e.address != old.address
    ]
    assert found, "the driver never reported a new primary"
    heard, event = found[0]
    first_write = min(t for t in acked if t > killed)
    # Causal: the driver knew the new primary before it could send a write there.
    assert event.t <= first_write, f"found {event.t - killed:.3f} s, first write {first_write - killed:.3f} s"
    assert event.t <= heard
    assert found[0][1].t > killed
    lost = [e for _, e in delivered if e.kind == "server_changed" and e.previous_type == "RSPrimary"]
    assert lost and lost[0].address == old.address and lost[0].t >= killed
