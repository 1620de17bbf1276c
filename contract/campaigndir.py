"""The campaign directory: one drill repeated, what `hubchaos run --repeat` writes and
`reports.campaign` and `reports.history` read.

    <campaign>/
      campaign.json        CampaignInfo: the plan, the command, the status, one record per run
      scenario.yaml        the scenario every run runs (its `campaign:` section applied)
      campaign.lock        locked (flock) while the campaign or its current drill runs
      runs/<id>-run<NNN>/  each run a run directory (contract/rundir.py), NNN from 001;
                           `-<k>` appended for the k-th attempt at a run that was cut short
      summary.json         the campaign's analysis (reports.campaign.CampaignSummary)
      junit.xml, report.html

A run's record is written when its drill has ended. A run interrupted by a signal, or cut short
by a crash (a run directory without a record), is not a result: it stays where it is, to be
looked at, and `--resume` runs it again under a new id, since its id may still name what it
left behind (a cluster registered as `drill-<run id>`). Run `n` uses the seed `seed + n - 1`,
so that each run is reproducible alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from contract import rundir
from contract.rundir import read_json

CAMPAIGN_INFO = "campaign.json"
SCENARIO = rundir.SCENARIO
LOCK = "campaign.lock"
RUNS = "runs"
SUMMARY = rundir.SUMMARY
JUNIT = rundir.JUNIT
REPORT = rundir.REPORT


class RunStatus(StrEnum):
    COMPLETED = "completed"  # the drill ran and was judged (exit 0 or 1)
    FAILED = "failed"  # the drill itself failed (exit 2 or 3): a result, counted
    INTERRUPTED = "interrupted"  # stopped by a signal: not a result, run again on resume


class CampaignStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"  # every planned run has a result
    STOPPED = "stopped"  # --fail-fast: a run failed, the rest were not run
    INTERRUPTED = "interrupted"  # a signal stopped it; `--resume` goes on


@dataclass(slots=True)
class CampaignRun:
    index: int  # 1, 2, ...
    run_id: str  # the run directory's name, unique across campaigns
    path: str  # the run directory, relative to the campaign directory
    seed: int
    started_at: float
    ended_at: float
    exit_code: int
    status: str  # a RunStatus value


@dataclass(slots=True)
class CampaignInfo:
    campaign_id: str
    scenario: str
    description: str
    command: list[str]
    runs_planned: int
    injections: int  # each run plays the scenario's timeline this many times
    fail_fast: bool
    seed: int  # the first run's
    started_at: float
    ended_at: float | None
    status: str  # a CampaignStatus value
    runs: list[CampaignRun] = field(default_factory=list)  # every run that ended, in start order
    abandoned: list[str] = field(default_factory=list)  # run ids a crash cut short (no record)
    resumed_at: list[float] = field(default_factory=list)
    note: str | None = None  # why it stopped, when it did not complete

    def run_id(self, index: int, attempt: int = 1) -> str:
        return f"{self.campaign_id}-run{index:03d}" + (f"-{attempt}" if attempt > 1 else "")

    def run_seed(self, index: int) -> int:
        return self.seed + index - 1

    def counted(self) -> list[CampaignRun]:
        """The runs that are results (not interrupted), in index order."""
        return sorted((r for r in self.runs if r.status != RunStatus.INTERRUPTED), key=lambda r: r.index)

    def not_counted(self) -> list[str]:
        """Run ids that are not results: interrupted, or cut short by a crash."""
        return [r.run_id for r in self.runs if r.status == RunStatus.INTERRUPTED] + self.abandoned


def is_campaign(path: Path) -> bool:
    return (path / CAMPAIGN_INFO).is_file()


def read_campaign(path: Path) -> CampaignInfo:
    """The campaign's record; AnalysisError naming the file when it is missing or invalid."""
    return read_json(path / CAMPAIGN_INFO, CampaignInfo)


def write_campaign(path: Path, info: CampaignInfo) -> None:
    rundir.write_atomic(path / CAMPAIGN_INFO, json.dumps(asdict(info), indent=2))
