"""A campaign of ten primary kills against the members' ground truth.

    python benchmarks/campaign_calibration.py                # 2 runs x 5 kills
    python benchmarks/campaign_calibration.py --runs 5 --injections 2 --out /tmp/kills

Runs `hubchaos run` on a 3-member emulated set (short election settings, an 8 s load per
round, one primary kill per round) as a campaign, then prints the campaign's RTO distribution
(p50, p90, max, the bootstrap 95 % interval of the median) beside the median of the members'
own ground truth over the same kills (the moment the new primary became writable,
`reports.calibration`), and whether the interval contains it and each run's own ground-truth
median (exit 1 when it does not). Both come from the same runs, so
a busy machine slows both alike. Wall time: about a minute per run on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from contract import campaigndir, rundir
from reports.calibration import calibrate
from reports.campaign import CampaignSummary
from reports.summary import Summary

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = """\
name: kill-campaign
description: primary kills, short election settings
target:
  backend: local
  members: 3
  settings: {{electionTimeoutMillis: 1000, heartbeatIntervalMillis: 200}}
workload:
  users: 4
  duration: 8s
  corpus: {{users: 20, prompts: 100, stores: 2, vectors_per_store: 5, embedding_dim: 8}}
faults:
  - {{at: 2.5s, kind: kill, target: primary, heal_after: 3s}}
slos: {{profile: ai-hub-production}}
campaign: {{runs: {runs}, injections: {injections}}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--injections", type=int, default=5)
    parser.add_argument("--out", type=Path, help="the campaign directory (default: a temporary one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hubchaos-campaign-"))
    out = args.out or work / "campaign"
    scenario = work / "kills.yaml"
    scenario.write_text(SCENARIO.format(runs=args.runs, injections=args.injections))
    env = {**os.environ, "HUBCHAOS_STATE_DIR": os.environ.get("HUBCHAOS_STATE_DIR", str(work / "state"))}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "chaos", "run", str(scenario), "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall_s = time.monotonic() - started
    if not (out / campaigndir.SUMMARY).is_file():
        print(done.stdout[-2000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
        return 1
    summary = CampaignSummary.read(out / campaigndir.SUMMARY)
    per_run: dict[str, list[float]] = {}
    for run in summary.runs:
        run_dir = out / run.path
        rows = calibrate(run_dir, Summary.read(run_dir / rundir.SUMMARY)).rows
        per_run[run.run_id] = [
            r.ground_truth_s for r in rows if r.metric == "rto" and r.ground_truth_s is not None
        ]
    truths = [t for run in per_run.values() for t in run]
    rto = next(g for g in summary.groups if g.kind == "kill").figure("rto").distribution
    ci = rto.median_ci
    print(f"campaign {out}: exit {done.returncode}, {len(summary.runs)} runs, {wall_s:.0f} s wall")
    print(f"RTO over {rto.n} kills: p50 {rto.p50:.3f} s, p90 {rto.p90:.3f} s, max {rto.max:.3f} s")
    if ci is None or not truths:
        print("no interval or no ground truth to compare")
        return 1
    truth = statistics.median(truths)
    print(f"median RTO 95 % CI {ci.low:.3f}-{ci.high:.3f} s")
    print(
        f"ground truth over {len(truths)} kills: median {truth:.3f} s "
        f"(range {min(truths):.3f}-{max(truths):.3f} s); in the interval: {ci.contains(truth)}"
    )
    medians = {run_id: statistics.median(values) for run_id, values in per_run.items() if values}
    for run_id, median in medians.items():
        print(f"  {run_id}: ground-truth median {median:.3f} s; in the interval: {ci.contains(median)}")
    inside = ci.contains(truth) and all(ci.contains(m) for m in medians.values())
    return 0 if inside and len(medians) == len(per_run) else 1


if __name__ == "__main__":
    sys.exit(main())
