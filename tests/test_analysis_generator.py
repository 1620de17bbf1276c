"""A generated run's analysis finds the shape it was generated with."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from contract import rundir
from reports.analyse import analyse
from reports.synthetic.generator import GeneratorSpec, generate_run
from reports.verdicts import Verdict

SPEC = GeneratorSpec(events=500_000, ops_per_s=2_000.0, first_fault_s=40.0, fault_every_s=90.0, chunk=150_000)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):
    run = generate_run(tmp_path_factory.mktemp("generated"), SPEC)
    return run, analyse(run.run_dir)


def test_the_files_hold_what_was_generated(generated) -> None:
    run, summary = generated
    assert pq.read_metadata(run.run_dir / rundir.EVENTS).num_rows == SPEC.events == run.events
    assert summary.counts.requests == SPEC.events and summary.counts.ledger_entries == run.ledger
    assert [f.fault_id for f in summary.faults] == [f.fault_id for f in run.faults]
    assert len(run.faults) == 3  # at 40, 130 and 220 s of a 250 s run


def test_each_fault_is_measured_as_generated(generated) -> None:
    run, summary = generated
    for made, found in zip(run.faults, summary.faults, strict=True):
        assert found.rto_s == pytest.approx(SPEC.outage_s, abs=0.1)
        assert found.election is not None and found.election.new_primary == made.new_primary
        assert found.election.term == made.term
        assert found.election.at.after_s == pytest.approx(SPEC.election_s, abs=SPEC.probe_interval_s + 0.01)
        assert found.rediscovery is not None and found.rediscovery.last is not None
        assert SPEC.election_s < found.rediscovery.first.after_s < SPEC.election_s + 0.5
        assert found.detection is not None and found.detection.at.after_s < 0.05
        assert found.throughput is not None and found.throughput.recovered is not None
        assert found.throughput.recovered.after_s == SPEC.outage_s


def test_the_lost_writes_are_the_rolled_back_ones(generated) -> None:
    run, summary = generated
    assert summary.data_loss is not None and summary.data_loss.lost_acked == len(run.lost) == 15
    assert sorted(w.write_id for w in summary.data_loss.lost) == sorted(run.lost)
    assert all(w.rolled_back for w in summary.data_loss.lost)
    assert summary.rollback is not None and summary.rollback.lost_in_rollback == 15
    assert summary.rollback.by_member == {"m0": 5, "m1": 5, "m2": 5}
    verdicts = {r.slo: r.verdict for r in summary.results}
    assert verdicts["lost_acked_writes"] is Verdict.FAIL and verdicts["rpo"] is Verdict.PASS
    assert summary.analyser_errors == []
