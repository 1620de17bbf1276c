"""A campaign directory from synthetic runs, laid out as `hubchaos run --repeat` lays it out, for
tests of the campaign's analysis and page.

    write_campaign(tmp_path / "c", [kill_primary_run(o) for o in (1.5, 2.0, 2.5)])

Each run is written and analysed (summary.json; with `render`, junit.xml and report.html too) in
`runs/<campaign>-runNNN`, and recorded in campaign.json as completed with its exit code.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from contract import campaigndir
from contract.campaigndir import CampaignInfo, CampaignRun, CampaignStatus, RunStatus
from reports.analyse import analyse, write_outputs
from reports.synthetic.builder import RunBuilder

RUN_SPACING_S = 120.0  # between the starts of consecutive runs in campaign.json


def write_campaign(
    path: Path,
    runs: list[RunBuilder],
    *,
    planned: int | None = None,
    status: CampaignStatus = CampaignStatus.COMPLETED,
    render: bool = True,
) -> CampaignInfo:
    path.mkdir(parents=True, exist_ok=True)
    scenario = runs[0].scenario if runs else "synthetic"
    (path / campaigndir.SCENARIO).write_text(yaml.safe_dump({"name": scenario}))
    info = CampaignInfo(
        campaign_id=path.name,
        scenario=scenario,
        description="a synthetic campaign",
        command=["hubchaos", "run", f"scenarios/{scenario}.yaml", "--repeat", str(planned or len(runs))],
        runs_planned=planned or len(runs),
        injections=1,
        fail_fast=False,
        seed=0,
        started_at=runs[0].origin if runs else 0.0,
        ended_at=None,
        status=status,
    )
    for index, builder in enumerate(runs, 1):
        builder.run_id = info.run_id(index)
        run_dir = path / campaigndir.RUNS / builder.run_id
        builder.write_to(run_dir)
        summary = analyse(run_dir)
        if render:
            write_outputs(run_dir, summary)
        else:
            summary.write(run_dir / campaigndir.SUMMARY)
        started = info.started_at + (index - 1) * RUN_SPACING_S
        info.runs.append(
            CampaignRun(
                index=index,
                run_id=builder.run_id,
                path=str(run_dir.relative_to(path)),
                seed=info.run_seed(index),
                started_at=started,
                ended_at=started + RUN_SPACING_S / 2,
                exit_code=summary.exit_code,
                status=RunStatus.COMPLETED,
            )
        )
    info.ended_at = info.runs[-1].ended_at if info.runs else info.started_at
    campaigndir.write_campaign(path, info)
    return info
