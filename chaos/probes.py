"""The status probe: every member's `replSetGetStatus`, sampled on a fixed cadence.

Each member is asked by its own thread over a direct connection, so a frozen or cut-off member
delays only its own samples. Every answer becomes one `ProbeSample` per member it describes;
a member that does not answer becomes one row with `reachable=False`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from chaos.backends.health import optime_seconds
from reports.rundir import ProbeSample

Sink = Callable[[list[ProbeSample]], None]
# A direct client to one member with every timeout set to the given milliseconds; the cluster's
# own `admin_client` is the one to use, as it carries the cluster's credentials and TLS options.
Connect = Callable[["ProbeTarget", int], MongoClient[dict[str, Any]]]

# mongod's own wording for a member it cannot reach.
UNREACHABLE = "(not reachable/healthy)"


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    name: str  # the member's name in the run (MemberInfo.name)
    host: str  # host:port the suite reaches it at


def samples_from_status(
    observer: str, status: dict[str, Any], t: float, rtt_ms: float, names: dict[str, str]
) -> list[ProbeSample]:
    """Rows for one `replSetGetStatus` answer. `names` maps a member's host:port to its run name."""
    members = status.get("members", [])
    primary = next((m for m in members if m.get("stateStr") == "PRIMARY"), None)
    primary_optime = optime_seconds(primary.get("optime")) if primary is not None else None
    term = int(status.get("term", -1))
    rows = []
    for m in members:
        optime = optime_seconds(m.get("optime"))
        lag = None
        if primary_optime is not None and optime is not None and m.get("health", 0):
            # Whole seconds, as mongod reports lag from optimeDate.
            lag = max(0.0, float(int(primary_optime) - int(optime)))
        rows.append(
            ProbeSample(
                t=t,
                observer=observer,
                reachable=True,
                member=names.get(m.get("name", ""), m.get("name", "?")),
                state=str(m.get("stateStr", "UNKNOWN")),
                health=int(m.get("health", 0)),
                term=term,
                optime=optime if optime is not None else 0.0,
                lag_s=lag,
                primary=names.get(primary["name"], primary["name"]) if primary is not None else None,
                rtt_ms=rtt_ms,
            )
        )
    return rows


class StatusProbe:
    """Samples every target every `interval` seconds until stopped; rows go to `sink`."""

    def __init__(
        self,
        targets: Iterable[ProbeTarget],
        sink: Sink,
        connect: Connect,
        interval: float = 0.25,
    ) -> None:
        self.targets = list(targets)
        self.sink = sink
        self.interval = interval
        self.timeout = max(0.5, min(2.0, 4 * interval))
        self._connect = connect
        self._names = {t.host: t.name for t in self.targets}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for target in self.targets:
            thread = threading.Thread(
                target=self._run, args=(target,), name=f"probe-{target.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)
        self._threads.clear()

    def sample(self, target: ProbeTarget, client: MongoClient[dict[str, Any]]) -> list[ProbeSample]:
        started = time.perf_counter()
        try:
            status = client.admin.command("replSetGetStatus")
        except PyMongoError:
            return [
                ProbeSample(
                    t=time.time(),
                    observer=target.name,
                    reachable=False,
                    member=target.name,
                    state=UNREACHABLE,
                )
            ]
        rtt_ms = (time.perf_counter() - started) * 1000
        return samples_from_status(target.name, status, time.time(), rtt_ms, self._names)

    def _run(self, target: ProbeTarget) -> None:
        client = self._connect(target, int(self.timeout * 1000))
        try:
            next_at = time.monotonic()
            while not self._stop.is_set():
                self.sink(self.sample(target, client))
                next_at += self.interval
                delay = next_at - time.monotonic()
                if delay < 0:  # a slow answer: skip the missed ticks rather than burst
                    next_at = time.monotonic()
                    delay = 0
                self._stop.wait(delay)
        finally:
            client.close()
