"""The drill's live metrics: request tallies as a Locust worker sends them and the master adds
them up, and the endpoint's exposition as Prometheus' own parser reads it, served on loopback."""

from __future__ import annotations

import threading

import gevent
import pytest
import requests
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from chaos.monitoring.cluster import ClusterView, LiveCluster, ServerStatus
from chaos.monitoring.exporter import FaultView, MetricsEndpoint, Sources
from contract.rundir import UNREACHABLE, ProbeSample
from locustfiles.tally import BUCKETS_S, RequestTally


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_worker_s_drained_tally_adds_up_at_the_master() -> None:
    worker, master = RequestTally(), RequestTally()
    worker.on_request(name="prompts.get", response_time=4.0, context={"error_class": None})
    worker.on_request(
        name="prompts.get", response_time=1500.0, context={"error_class": "network"}, exception=OSError()
    )
    master.merge(worker.drain())
    worker.on_request(name="prompts.get", response_time=80.0)
    master.merge(worker.drain())
    assert worker.drain() == {}
    get = master.snapshot()["prompts.get"]
    assert get.count == 3 and get.outcomes == {"ok": 2, "network": 1}
    assert get.sum_s == pytest.approx(1.584)
    assert get.buckets[BUCKETS_S.index(0.005)] == 1  # 4 ms
    assert get.buckets[BUCKETS_S.index(0.1)] == 1  # 80 ms
    assert get.buckets[BUCKETS_S.index(2.5)] == 1  # 1.5 s


def test_a_malformed_worker_report_is_refused() -> None:
    with pytest.raises(ValueError, match="buckets"):
        RequestTally().merge({"x": {"outcomes": {}, "buckets": [1, 2], "sum_s": 0.0}})


def probe(
    observer: str, member: str, state: str, lag: float | None = None, primary: str | None = "m0"
) -> ProbeSample:
    return ProbeSample(
        t=100.0, observer=observer, reachable=True, member=member, state=state, lag_s=lag, primary=primary
    )


def cluster_view() -> ClusterView:
    live = LiveCluster(["m0", "m1", "m2"])
    live.on_probe([probe("m0", "m0", "PRIMARY", 0.0), probe("m0", "m1", "SECONDARY", 12.5)])
    live.on_probe([probe("m1", "m1", "SECONDARY", primary="m0"), probe("m1", "m0", "PRIMARY", primary="m0")])
    live.on_probe([ProbeSample(t=100.0, observer="m2", reachable=False, member="m2", state=UNREACHABLE)])
    doc = {"connections": {"current": 8, "available": 2, "totalCreated": 30}, "opcounters": {"insert": 5}}
    live.on_server_status("m0", ServerStatus.of(doc))
    return live.view(now=101.0)


def test_the_exposition_is_what_the_rules_read() -> None:
    tally = RequestTally()
    for ms in (20.0, 30.0, 1200.0):
        tally.observe("prompts.get", ms, None)
    tally.observe("prompts.get", 5000.0, "selection_timeout")
    sources = Sources(tally.snapshot, cluster_view, lambda: [FaultView("f1", "kill", ("m2",))])
    endpoint = MetricsEndpoint(sources)
    got = samples(generate_latest(endpoint.registry).decode())

    assert got[("hubchaos_requests_total", (("op", "prompts.get"), ("outcome", "ok")))] == 3
    assert got[("hubchaos_requests_total", (("op", "prompts.get"), ("outcome", "selection_timeout")))] == 1
    assert got[("hubchaos_request_duration_seconds_bucket", (("le", "1.0"), ("op", "prompts.get")))] == 2
    assert got[("hubchaos_request_duration_seconds_bucket", (("le", "+Inf"), ("op", "prompts.get")))] == 4
    assert got[("hubchaos_request_duration_seconds_count", (("op", "prompts.get"),))] == 4
    assert got[("hubchaos_member_is_primary", (("member", "m0"),))] == 1
    assert got[("hubchaos_member_is_primary", (("member", "m1"),))] == 0
    assert got[("hubchaos_member_up", (("member", "m2"),))] == 0
    assert got[("hubchaos_member_state", (("member", "m1"), ("state", "SECONDARY")))] == 1
    # Lag as the primary (m0) reports it; the primary itself has no lag row.
    assert got[("hubchaos_member_replication_lag_seconds", (("member", "m1"),))] == 12.5
    assert ("hubchaos_member_replication_lag_seconds", (("member", "m0"),)) in got
    assert got[("hubchaos_member_connections_current", (("member", "m0"),))] == 8
    assert got[("hubchaos_member_connections_available", (("member", "m0"),))] == 2
    assert got[("hubchaos_member_opcounters_total", (("member", "m0"), ("type", "insert")))] == 5
    assert got[("hubchaos_fault_active", (("fault_id", "f1"), ("kind", "kill"), ("member", "m2")))] == 1


def test_a_lag_reported_by_a_member_no_longer_primary_is_not_shown() -> None:
    live = LiveCluster(["m0", "m1"])
    live.on_probe([probe("m0", "m0", "PRIMARY"), probe("m0", "m1", "SECONDARY", 3.0)])
    live.on_probe([ProbeSample(t=101.0, observer="m0", reachable=False, member="m0", state=UNREACHABLE)])
    assert {m.name: m.lag_s for m in live.view(now=101.0).members} == {"m0": None, "m1": None}


def test_the_endpoint_serves_on_loopback_and_stops() -> None:
    tally = RequestTally()
    tally.observe("canary.write", 12.0, None)
    endpoint = MetricsEndpoint(Sources(tally.snapshot, lambda: ClusterView(()), list))
    info = endpoint.start()
    assert info.url == f"http://127.0.0.1:{info.port}/metrics"
    answer: dict[str, requests.Response] = {}
    # The server is gevent's: the client asks from an OS thread while this one runs the hub.
    client = threading.Thread(target=lambda: answer.update(r=requests.get(info.url, timeout=5)))
    client.start()
    while client.is_alive():
        gevent.sleep(0.01)
    stopped = endpoint.stop()
    assert answer["r"].status_code == 200
    assert answer["r"].headers["Content-Type"].startswith("text/plain")
    assert (
        samples(answer["r"].text)[("hubchaos_requests_total", (("op", "canary.write"), ("outcome", "ok")))]
        == 1
    )
    assert stopped is not None and stopped.stopped_at is not None and stopped.requests_counted == 1
    with pytest.raises(requests.ConnectionError):
        requests.get(info.url, timeout=2)
