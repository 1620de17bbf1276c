"""The cloud-outage drill end to end, with short election settings and delays: two regions die
while the third lags (a pause added to the shipped scenario, so that writes are surely lost), a
forced reconfig saves the survivors, the lost regions are re-added.

What it proves: the runbook runs and is recorded; the manual RTO is measured; the acknowledged
writes the suite reports lost are exactly those the members' own ground truth rolled back (an
insert-only mix makes each write one document, so the two sides can be compared write by write);
and the old majority never elects a second primary when it returns.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from drill_support import run_into
from report_support import check_causal_anatomy
from test_drill import judged

from contract import rundir
from reports.calibration import read_ground_truth
from reports.rollback import render_id
from reports.summary import Summary

ROOT = Path(__file__).parent.parent
SHIPPED = ROOT / "scenarios" / "cloud-outage.yaml"
# Inserts and reads only: every write makes its own document.
INSERT_ONLY = {
    "prompts_create": 8,
    "prompts_list_by_category": 10,
    "prompts_get": 10,
    "prompts_update": 0,
    "prompts_delete": 0,
    "prompts_text_search": 3,
    "vectors_upsert": 0,
    "vectors_query": 3,
    "usage_record": 6,
    "users_login": 0,
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]


def shortened(path: Path) -> Path:
    """The shipped scenario with acceptance-test timing: elections in ~1 s, a 4 s operator delay."""
    data = yaml.safe_load(SHIPPED.read_text())
    data["target"]["settings"] = {"electionTimeoutMillis": 1000, "heartbeatIntervalMillis": 200}
    data["workload"] = {
        "users": 6,
        "duration": "50s",
        "seed": 7,
        "corpus": {"users": 50, "prompts": 200, "stores": 5, "vectors_per_store": 10, "embedding_dim": 32},
        "hub": {"mix": INSERT_ONLY},
    }
    # The us region falls behind before the outage (its members paused), so the cut-off regions
    # hold w:majority writes the survivors never receive. 8 s ahead of the kill: when the primary
    # was in us, a busy machine's election and the drivers' rediscovery take seconds of that.
    lag = {
        "at": "6s",
        "kind": "pause",
        "target": "region:us",
        "heal_after": "12s",
        "slo_class": "cloud_provider",
    }
    data["faults"] = [lag, {**data["faults"][0], "at": "14s", "heal_after": "16s"}]
    data["runbook"][0].update(after="f2", operator_delay="4s")
    data["runbook"][2]["at"] = "33s"
    data["runbook"][3]["params"] = {"timeout": "60s"}
    # A 50 s load runs a handful of ingest batches: their average is judged by the shipped
    # scenario's long load, not by this one beside other drills.
    del data["slos"]["latency_ms"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    return run_into(tmp_path_factory.mktemp("cloud-outage"), shortened, timeout=420)


def test_the_drill_passes_and_records_the_runbook(
    drill: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, out = drill
    summary = judged(result, out)
    steps = list(rundir.read_jsonl(out / rundir.RUNBOOK, rundir.RunbookEvent))
    assert [(s.step_id, s.action, s.status) for s in steps] == [
        ("r1", "force_reconfig", "ok"),
        ("r2", "wait_healthy", "ok"),
        ("r3", "add_members", "ok"),
        ("r4", "wait_healthy", "ok"),
    ]
    forced = steps[0].findings
    assert forced["kept"] == ["us-1", "us-analytics"] and forced["removed"] == ["eu-1", "eu-2", "ap-1"]
    assert forced["version_after"] > forced["version_before"] + 10_000  # mongod's forced version jump
    assert steps[0].t_start - steps[0].t_trigger >= 4.0  # the operator delay, from the outage
    assert [a["member"] for a in steps[2].findings["added"]] == ["eu-1", "eu-2", "ap-1"]
    assert set(steps[3].findings["members"]) == {"eu-1", "eu-2", "us-1", "ap-1", "us-analytics"}

    outage = next(f for f in summary.faults if f.fault_id == "f2")
    assert outage.fault_class == "cloud_provider"
    # The manual RTO covers the operator's delay and the survivors' election.
    assert outage.rto_s is not None and 4.0 <= outage.rto_s <= 300
    check_causal_anatomy(summary)
    assert [r.step_id for r in summary.runbook] == ["r1", "r2", "r3", "r4"]
    assert 'id="runbook"' in (out / rundir.REPORT).read_text()


def test_the_lost_writes_are_exactly_those_the_members_rolled_back(
    drill: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, out = drill
    lost = set(json.loads((out / rundir.VERIFICATION).read_text())["acked_missing"])
    truth = read_ground_truth(out)
    rolled_back = {
        (e.fields["ns"].split(".", 1)[1], render_id(e.fields["_id"]))
        for e in truth
        if e.event == "rolled_back_write" and e.fields.get("_id") is not None
    }
    ledger = pq.read_table(out / rundir.LEDGER).to_pandas()
    acked = ledger[ledger["status"] == "acked"]
    expected = {
        w
        for w, c, d in zip(acked["write_id"], acked["collection"], acked["doc_id"], strict=True)
        if (c, d) in rolled_back
    }
    assert lost, "the lagging us region should have left writes only on the cut-off regions"
    assert lost == expected
    summary = Summary.read(out / rundir.SUMMARY)
    assert summary.data_loss is not None and summary.data_loss.lost_acked == len(lost)
    assert all(w.rolled_back for w in summary.data_loss.lost)  # the report says which diverged


def test_the_old_majority_never_elects_a_second_primary(
    drill: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, out = drill
    steps = {s.step_id: s for s in rundir.read_jsonl(out / rundir.RUNBOOK, rundir.RunbookEvent)}
    forced, readded = steps["r1"].t_start, steps["r3"].t_start
    truth = read_ground_truth(out)
    won: list[tuple[str, Any]] = [
        (e.member, e.fields.get("term"))
        for e in truth
        if e.event == "election" and e.fields.get("outcome") == "won" and forced < e.t < readded
    ]
    assert won and {member for member, _ in won} == {"us-1"}, won
    returned = {"eu-1", "eu-2", "ap-1"}
    # Each learned from the survivors' heartbeats that it is no longer in the set.
    removed = {
        e.member for e in truth if e.event == "state" and e.fields.get("state") == "REMOVED" and e.t > forced
    }
    assert removed == returned
