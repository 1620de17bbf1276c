"""The fault anatomy of a stepdown and of a partition, on one real drill: both are causal
(no ordering refused, each client's driver found the new primary no later than its first
write, detection the earlier of the first stall and the first failure). The kill and the
freeze are checked on the drills of test_drill.py, the region losses on cloud-outage's."""

from __future__ import annotations

from pathlib import Path

from chaos_support import needs_root
from drill_support import TINY_CORPUS, hubchaos, scenario
from report_support import check_causal_anatomy

from contract import rundir
from reports.summary import Summary

pytestmark = needs_root

BODY = f"""\
target:
  backend: local
  members: 3
  settings: {{electionTimeoutMillis: 1000, heartbeatIntervalMillis: 200}}
workload:
  users: 4
  duration: 34s
  corpus: {TINY_CORPUS}
faults:
  - at: 6s
    kind: stepdown
    target: primary
    params: {{step_down_secs: 8, secondary_catch_up_period_secs: 4}}
    heal_after: 8s
  - at: 20s
    kind: partition
    target: primary
    params: {{mode: isolate, cut_clients: false}}
    heal_after: 6s
"""


def test_a_stepdown_and_a_partition_have_causal_anatomies(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = hubchaos("run", scenario(tmp_path, "anatomy", BODY), "--out", out)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    summary = Summary.read(out / rundir.SUMMARY)
    assert [f.kind for f in summary.faults] == ["stepdown", "partition"]
    assert all(f.election is not None for f in summary.faults), summary.faults
    check_causal_anatomy(summary)
