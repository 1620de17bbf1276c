"""The drill's live metrics on `http://127.0.0.1:<port>/metrics`, in Prometheus' exposition
format, written by prometheus_client from a custom collector that reads the drill's state at
each scrape:

    hubchaos_requests_total{op, outcome}                 outcome: ok, or the error class
    hubchaos_request_duration_seconds{op}                histogram (buckets: locustfiles/tally.py)
    hubchaos_member_up{member}                           1 when the member's own probe answers
    hubchaos_member_state{member, state}                 1 for the state the member reports
    hubchaos_member_is_primary{member}                   1 when the member says it is primary
    hubchaos_member_replication_lag_seconds{member}      as the primary reports it
    hubchaos_member_connections_current{member}          serverStatus.connections
    hubchaos_member_connections_available{member}
    hubchaos_member_connections_created_total{member}
    hubchaos_member_opcounters_total{member, type}       serverStatus.opcounters
    hubchaos_member_opcounters_repl_total{member, type}  serverStatus.opcountersRepl
    hubchaos_fault_active{fault_id, kind, member}        1 while the fault is injected

It listens on loopback only, on a port the kernel picks; `exporter.json` in the run directory
says which.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate

from gevent.pywsgi import WSGIServer
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from chaos.monitoring.cluster import ClusterView
from contract.rundir import ExporterInfo
from locustfiles.tally import BUCKETS_S, OpTally

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class FaultView:
    fault_id: str
    kind: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Sources:
    """Where a scrape reads the drill's state; each is asked at every scrape."""

    requests: Callable[[], dict[str, OpTally]]
    cluster: Callable[[], ClusterView]
    faults: Callable[[], list[FaultView]]


class DrillCollector(Collector):
    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        yield from self._requests(self.sources.requests())
        yield from self._cluster(self.sources.cluster())
        yield self._faults(self.sources.faults())

    @staticmethod
    def _requests(ops: dict[str, OpTally]) -> Iterator[Metric]:
        total = CounterMetricFamily(
            "hubchaos_requests", "Workload requests by operation and outcome (ok or the error class)",
            labels=["op", "outcome"],
        )  # fmt: skip
        duration = HistogramMetricFamily(
            "hubchaos_request_duration_seconds", "Workload request round trips", labels=["op"]
        )
        # Written as prometheus_client writes its own (1.0, not 1), which Prometheus 3 normalises to.
        bounds = [*(floatToGoString(b) for b in BUCKETS_S), "+Inf"]
        for op, tally in sorted(ops.items()):
            for outcome, n in sorted(tally.outcomes.items()):
                total.add_metric([op, outcome], n)
            duration.add_metric([op], list(zip(bounds, accumulate(tally.buckets), strict=True)), tally.sum_s)
        yield total
        yield duration

    @staticmethod
    def _cluster(view: ClusterView) -> Iterator[Metric]:
        def gauge(name: str, doc: str, *labels: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"hubchaos_member_{name}", doc, labels=["member", *labels])

        def counter(name: str, doc: str, *labels: str) -> CounterMetricFamily:
            return CounterMetricFamily(f"hubchaos_member_{name}", doc, labels=["member", *labels])

        up = gauge("up", "1 when the member's own status probe answers")
        state = gauge("state", "1 for the replica-set state the member reports", "state")
        primary = gauge("is_primary", "1 when the member reports itself primary")
        lag = gauge("replication_lag_seconds", "How far the member is behind, as the primary reports it")
        current = gauge("connections_current", "serverStatus connections.current")
        available = gauge("connections_available", "serverStatus connections.available")
        created = counter("connections_created", "serverStatus connections.totalCreated")
        ops = counter("opcounters", "serverStatus opcounters", "type")
        repl = counter("opcounters_repl", "serverStatus opcountersRepl", "type")
        for m in view.members:
            up.add_metric([m.name], int(m.up))
            primary.add_metric([m.name], int(m.up and m.state == "PRIMARY"))
            if m.state is not None:
                state.add_metric([m.name, m.state], 1)
            if m.lag_s is not None:
                lag.add_metric([m.name], m.lag_s)
            if m.server is not None:
                current.add_metric([m.name], m.server.connections_current)
                available.add_metric([m.name], m.server.connections_available)
                created.add_metric([m.name], m.server.connections_created)
                for kind, n in sorted(m.server.opcounters.items()):
                    ops.add_metric([m.name, kind], n)
                for kind, n in sorted(m.server.opcounters_repl.items()):
                    repl.add_metric([m.name, kind], n)
        yield from (up, state, primary, lag, current, available, created, ops, repl)

    @staticmethod
    def _faults(faults: list[FaultView]) -> Metric:
        active = GaugeMetricFamily(
            "hubchaos_fault_active", "1 while a fault is injected, per member it hit",
            labels=["fault_id", "kind", "member"],
        )  # fmt: skip
        for f in faults:
            for member in f.members or ("",):
                active.add_metric([f.fault_id, f.kind, member], 1)
        return active


class MetricsEndpoint:
    """prometheus_client's WSGI app for one collector, on loopback, on a port the kernel picks,
    served by gevent's server: the drill runs under gevent, whose patched threads do not
    survive prometheus_client's thread-per-request server."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(DrillCollector(sources))
        self._server: WSGIServer | None = None
        self.info: ExporterInfo | None = None

    def start(self) -> ExporterInfo:
        self._server = WSGIServer((LOOPBACK, 0), make_wsgi_app(self.registry), log=None)
        self._server.start()
        port = int(self._server.server_port)
        self.info = ExporterInfo(url=f"http://{LOOPBACK}:{port}/metrics", port=port, started_at=time.time())
        return self.info

    def stop(self) -> ExporterInfo | None:
        if self._server is not None:
            self._server.stop(timeout=1.0)
            self._server = None
            if self.info is not None:
                self.info.stopped_at = time.time()
                self.info.requests_counted = sum(t.count for t in self.sources.requests().values())
        return self.info
