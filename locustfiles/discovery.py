"""PyMongo's server-discovery (SDAM) events from the workload's clients, as `DiscoveryEvent`s.

The analysers measure "driver rediscovery" (fault → the driver knows the new primary) from
these. Listeners only build a record and hand it on.

Each record is dated when the driver changed its view, not when the listener heard of it:
PyMongo queues server and topology description events and hands them to listeners from a
thread that drains the queue every second, so a listener's own clock runs up to a second
late, long enough to put "the driver found the new primary" after a write that went to it.
A `ServerDescription` carries the monotonic time it was made (`last_update_time`: when the
hello reply or the error that produced it arrived), which dates the change exactly. Heartbeat
events are delivered synchronously on the monitor's thread, so their own clock is right.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pymongo import monitoring
from pymongo.server_description import ServerDescription
from pymongo.server_type import SERVER_TYPE
from pymongo.topology_description import TopologyDescription

from contract.rundir import DiscoveryEvent

Sink = Callable[[DiscoveryEvent], None]


def _address(address: tuple[str, int | None]) -> str:
    host, port = address
    return f"{host}:{port}" if port is not None else host


def emitted_at(*descriptions: ServerDescription) -> float:
    """Wall-clock time of the newest of these descriptions (when the driver made it)."""
    made = max(d.last_update_time for d in descriptions)
    return time.time() - (time.monotonic() - made)


def primary_of(description: TopologyDescription) -> str | None:
    for server in description.known_servers:
        if server.server_type == SERVER_TYPE.RSPrimary:
            return _address(server.address)
    return None


class DiscoveryListener(
    monitoring.ServerListener, monitoring.TopologyListener, monitoring.ServerHeartbeatListener
):
    """Records server type changes, primary changes and failed heartbeats of one client."""

    def __init__(self, sink: Sink, client: str) -> None:
        self.sink = sink
        self.client = client

    # servers
    def opened(self, event: monitoring.ServerOpeningEvent | monitoring.TopologyOpenedEvent) -> None:
        pass

    def closed(self, event: monitoring.ServerClosedEvent | monitoring.TopologyClosedEvent) -> None:
        pass

    def description_changed(
        self, event: monitoring.ServerDescriptionChangedEvent | monitoring.TopologyDescriptionChangedEvent
    ) -> None:
        if isinstance(event, monitoring.ServerDescriptionChangedEvent):
            old, new = event.previous_description, event.new_description
            if old.server_type != new.server_type:
                self.sink(
                    DiscoveryEvent(
                        t=emitted_at(new),
                        kind="server_changed",
                        client=self.client,
                        address=_address(event.server_address),
                        previous_type=old.server_type_name,
                        new_type=new.server_type_name,
                        error=str(new.error) if new.error is not None else None,
                    )
                )
            return
        before, after = primary_of(event.previous_description), primary_of(event.new_description)
        if before != after:
            # The change that made this topology is its newest server description.
            servers = event.new_description.server_descriptions().values()
            self.sink(
                DiscoveryEvent(
                    t=emitted_at(*servers) if servers else time.time(),
                    kind="topology_changed",
                    client=self.client,
                    previous_type=event.previous_description.topology_type_name,
                    new_type=event.new_description.topology_type_name,
                    primary=after,
                )
            )

    # heartbeats
    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        self.sink(
            DiscoveryEvent(
                t=time.time(),
                kind="heartbeat_failed",
                client=self.client,
                address=_address(event.connection_id),
                error=str(event.reply),
            )
        )
