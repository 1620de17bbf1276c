"""Detection, election and driver rediscovery on hand-built logs (times after the run's origin)."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_helpers import fault, load, probe_rounds

from contract.rundir import ErrorClass
from reports.failover import Rediscovery, detect, elect, rediscover, symptoms
from reports.synthetic.builder import RunBuilder

SLOW_MS = 1000.0


def killed_primary_run() -> RunBuilder:
    """m0 primary in term 1 until it is killed at 10.0; m1 wins term 2, seen by the 12.25 probe."""
    b = RunBuilder()
    b.series("prompts.get", 0, 20, every=0.5)
    probe_rounds(b, 0, 10, every=0.25, primary="m0", term=1)
    for t in (10.0, 10.25, 10.5, 10.75, 11.0, 11.25, 11.5, 11.75, 12.0):
        b.probe_round(t, {"m0": None, "m1": ("SECONDARY", 1), "m2": ("SECONDARY", 1)})
    for t in (12.25, 12.5, 12.75):
        b.probe_round(t, {"m0": None, "m1": ("PRIMARY", 2), "m2": ("SECONDARY", 2)})
    b.fault("f1", 10.0, heal=15.0)
    return b


def stepdown_run() -> RunBuilder:
    """m0 steps down at 10.0 (term 3), is SECONDARY at 10.5 and PRIMARY again in term 4 at 11.0."""
    b = RunBuilder()
    b.series("prompts.get", 0, 20, every=0.5)
    probe_rounds(b, 0, 10, every=0.5, primary="m0", term=3)
    b.probe_round(10.5, {"m0": ("SECONDARY", 3), "m1": ("SECONDARY", 3), "m2": ("SECONDARY", 3)})
    probe_rounds(b, 11.0, 20, every=0.5, primary="m0", term=4)
    b.fault("f1", 10.0, kind="stepdown")
    return b


def test_detection_is_the_first_failure_completing_after_injection(tmp_path: Path) -> None:
    b = RunBuilder()
    b.request(9.0, 5.0, "prompts.get", ok=False)  # before the fault: not a detection
    b.request(10.2, 300.0, "prompts.list", ok=False, error_class=ErrorClass.NETWORK)  # ends 10.5
    b.request(10.3, 100.0, "prompts.create", ok=False)  # ends 10.4: the first to complete
    b.request(10.0, 5.0, "users.login", ok=False, error_class=ErrorClass.DUPLICATE_KEY)  # answered
    b.fault("f1", 10.0)
    data = load(b, tmp_path)
    found = detect(fault(data, "f1"), symptoms(data.events, SLOW_MS))
    assert found is not None
    assert found.at.after_s == pytest.approx(0.4)
    assert (found.op, found.how, found.error_class) == ("prompts.create", "failed", "not_primary")


def test_a_stall_is_noticed_when_the_operation_becomes_slow(tmp_path: Path) -> None:
    b = RunBuilder()
    b.write(9.9, 2500.0, "canary.write")  # in flight at the kill, retried, acknowledged at 12.4
    b.request(10.5, 1200.0, "prompts.get", ok=False, error_class=ErrorClass.NETWORK)  # fails at 11.7
    b.fault("f1", 10.0)
    data = load(b, tmp_path)
    found = detect(fault(data, "f1"), symptoms(data.events, SLOW_MS))
    assert found is not None
    # The write became slow at 10.9 (1 s after it started); the read only at 11.5, failing at 11.7.
    assert found.at.after_s == pytest.approx(0.9)
    assert (found.op, found.how, found.error_class) == ("canary.write", "stalled", None)


def test_no_detection_when_clients_saw_no_failure(tmp_path: Path) -> None:
    b = RunBuilder()
    b.series("prompts.get", 0, 20, every=0.5)
    b.fault("f1", 10.0, target="secondary", members=["m2"])
    data = load(b, tmp_path)
    assert detect(fault(data, "f1"), symptoms(data.events, SLOW_MS)) is None


def test_election_is_the_new_primary_reporting_itself(tmp_path: Path) -> None:
    data = load(killed_primary_run(), tmp_path)
    assert data.probes is not None
    found = elect(fault(data, "f1"), data.probes)
    assert found is not None
    assert found.at.after_s == pytest.approx(2.25)
    assert (found.new_primary, found.term, found.old_primary, found.term_before) == ("m1", 2, "m0", 1)


def test_a_stale_view_of_the_old_primary_is_not_an_election(tmp_path: Path) -> None:
    b = RunBuilder()
    b.series("prompts.get", 0, 20, every=0.5)
    probe_rounds(b, 0, 20, every=0.5, primary="m0", term=1)  # m0 is cut off but still says PRIMARY
    b.fault("f1", 10.0, kind="partition")
    data = load(b, tmp_path)
    assert data.probes is not None
    assert elect(fault(data, "f1"), data.probes) is None


def test_the_same_member_re_elected_in_a_higher_term_is_an_election(tmp_path: Path) -> None:
    b = stepdown_run()
    data = load(b, tmp_path)
    assert data.probes is not None
    found = elect(fault(data, "f1"), data.probes)
    assert found is not None
    assert found.at.after_s == pytest.approx(1.0)
    assert (found.new_primary, found.term, found.term_before) == ("m0", 4, 3)


def rediscovery(b: RunBuilder, tmp_path: Path) -> Rediscovery | None:
    data = load(b, tmp_path)
    assert data.probes is not None and data.discovery is not None
    f = fault(data, "f1")
    return rediscover(f, data.discovery, elect(f, data.probes))


def test_rediscovery_first_client_and_last_client(tmp_path: Path) -> None:
    b = killed_primary_run()
    b.discovered(5.0, "worker-1", "m0")
    b.discovered(5.0, "worker-2", "m0")
    b.discovered(10.6, "worker-1", None)  # lost the primary
    b.discovered(12.4, "worker-2", "m1")
    b.discovered(12.9, "worker-1", "m1")
    found = rediscovery(b, tmp_path)
    assert found is not None
    assert found.first.after_s == pytest.approx(2.4) and found.client == "worker-2"
    assert found.last is not None and found.last.after_s == pytest.approx(2.9)
    assert (found.clients_found, found.clients_total) == (2, 2)


def test_rediscovery_when_a_client_never_found_the_new_primary(tmp_path: Path) -> None:
    b = killed_primary_run()
    b.discovered(5.0, "worker-1", "m0")
    b.discovered(5.0, "worker-2", "m0")
    b.discovered(12.4, "worker-2", "m1")
    found = rediscovery(b, tmp_path)
    assert found is not None and found.last is None
    assert (found.clients_found, found.clients_total) == (1, 2)


def test_rediscovery_without_a_known_election_takes_any_other_primary(tmp_path: Path) -> None:
    b = RunBuilder()
    b.series("prompts.get", 0, 20, every=0.5)
    b.fault("f1", 10.0, primary="m0")
    b.discovered(10.5, "worker-1", "m0")  # still the old one
    b.discovered(11.5, "worker-1", "m2")
    data = load(b, tmp_path)
    assert data.discovery is not None
    found = rediscover(fault(data, "f1"), data.discovery, None)
    assert found is not None and found.first.after_s == pytest.approx(1.5)


def test_rediscovery_of_a_re_elected_member_counts_only_after_it_was_lost(tmp_path: Path) -> None:
    b = stepdown_run()
    b.discovered(10.1, "worker-1", "m0")  # before the stepdown took effect
    b.discovered(10.4, "worker-1", None)
    b.discovered(11.2, "worker-1", "m0")
    found = rediscovery(b, tmp_path)
    assert found is not None and found.first.after_s == pytest.approx(1.2)
