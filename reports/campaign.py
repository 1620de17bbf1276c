"""A campaign's analysis: every run's summary read back and put together.

- Distributions per group of faults (kind and SLO class, `kill · single_node`): each figure of
  `reports.figures` (RTO, election, detection, rediscovery, failed and lost writes) over every
  injected fault of every run, with p50, p90, maximum and a bootstrap 95 % interval for the
  median (`reports.distribution`).
- Pass rates per SLO (matched by id, as `hubchaos compare` matches them): passed, failed and
  unknown across the runs. An SLO that passed in some runs and failed in others is *flaky*.
- The verdict composes the runs' verdicts (fail > unknown > pass; a run without a verdict is
  unknown), and the exit code is a drill's: 3 when the campaign was interrupted or a run itself
  failed, else 2 when a run was refused as bad input, else 1 when a run missed an SLO, else 0.

Only the runs recorded in campaign.json count: an interrupted run or one a crash cut short is
not a result.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from contract import campaigndir, rundir
from contract.campaigndir import CampaignInfo, CampaignRun, CampaignStatus, RunStatus
from contract.errors import AnalysisError, ExitCode, describe_validation_error
from contract.rundir import RunInfo
from reports.distribution import Distribution, distribution
from reports.figures import FIGURES, FaultPoint, fault_points
from reports.results import Result
from reports.slo import FaultClass
from reports.summary import Summary
from reports.verdicts import SLOResult, Verdict, compose

SCHEMA_VERSION = 1


class RunResult(Result):
    """One run of the campaign, as its record and its summary tell it."""

    index: int
    run_id: str
    path: str  # relative to the campaign directory
    seed: int
    status: RunStatus
    exit_code: int
    started_at: float
    ended_at: float
    verdict: Verdict | None  # None: no summary (the drill failed, or its summary is unreadable)
    error: str | None  # why the drill failed, or why its summary could not be read
    faults: list[FaultPoint]
    results: list[SLOResult]  # the run's own, as its summary has them

    @property
    def wall_s(self) -> float:
        return self.ended_at - self.started_at


class FigureDistribution(Result):
    key: str
    label: str
    unit: str
    distribution: Distribution
    sources: list[str]  # "<run id> <fault id>" of each value, in the distribution's order


class FaultGroup(Result):
    group: str  # `kill · single_node`
    kind: str
    fault_class: FaultClass
    injected: int  # faults of the group that were injected (the others broke nothing)
    not_injected: int
    figures: list[FigureDistribution]

    def figure(self, key: str) -> FigureDistribution:
        return next(f for f in self.figures if f.key == key)


class SLOPassRate(Result):
    slo: str
    category: str
    unit: str
    target: float | None  # as the last run that checked it had it
    passed: int
    failed: int
    unknown: int
    not_checked: int  # runs with a summary that did not check it
    failed_in: list[str]  # run ids
    flaky: bool  # passed in some runs and failed in others
    measured: Distribution

    @property
    def checked(self) -> int:
        return self.passed + self.failed + self.unknown

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.checked if self.checked else None


class CampaignSummary(Result):
    schema_version: Literal[1] = SCHEMA_VERSION
    generated_at: float
    campaign: CampaignInfo
    runs: list[RunResult]  # the counted runs, in index order
    groups: list[FaultGroup]
    slos: list[SLOPassRate]
    flaky: list[str]  # SLO ids
    run_wall_s: Distribution  # each run's wall time, bring-up to verdict
    verdict: Verdict
    exit_code: int
    notes: list[str]

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=1) + "\n")

    @classmethod
    def read(cls, path: Path) -> CampaignSummary:
        try:
            return cls.model_validate_json(path.read_text())
        except OSError as exc:
            raise AnalysisError(f"{path.name}: cannot be read ({exc.strerror})") from None
        except ValidationError as exc:
            raise AnalysisError(
                f"{path.name}: not a campaign summary of schema {SCHEMA_VERSION} "
                f"({describe_validation_error(exc)})"
            ) from None


def summarise_campaign(campaign_dir: Path) -> CampaignSummary:
    info = campaigndir.read_campaign(campaign_dir)
    runs = [run_result(campaign_dir, record) for record in info.counted()]
    notes = [f"{r.run_id}: {r.error}" for r in runs if r.error]
    missing = info.runs_planned - len(runs)
    if missing and info.status != CampaignStatus.COMPLETED:
        notes.insert(0, f"{missing} of {info.runs_planned} planned runs did not run ({info.status})")
    walls = [r.wall_s for r in runs]
    verdict = compose(r.verdict or Verdict.UNKNOWN for r in runs)
    return CampaignSummary(
        generated_at=time.time(),
        campaign=info,
        runs=runs,
        groups=fault_groups(runs),
        slos=(rates := pass_rates(runs)),
        flaky=[r.slo for r in rates if r.flaky],
        run_wall_s=distribution(walls),
        verdict=verdict,
        exit_code=int(campaign_exit_code(info, runs)),
        notes=notes,
    )


def run_result(campaign_dir: Path, record: CampaignRun) -> RunResult:
    run_dir = campaign_dir / record.path
    summary, error = None, None
    if (run_dir / rundir.SUMMARY).is_file():
        try:
            summary = Summary.read(run_dir / rundir.SUMMARY)
        except AnalysisError as exc:
            error = str(exc)
    else:
        error = _run_error(run_dir) or "no summary.json: the run was not analysed"
    return RunResult(
        index=record.index,
        run_id=record.run_id,
        path=record.path,
        seed=record.seed,
        status=RunStatus(record.status),
        exit_code=record.exit_code,
        started_at=record.started_at,
        ended_at=record.ended_at,
        verdict=summary.verdict if summary else None,
        error=error,
        faults=fault_points(summary) if summary else [],
        results=summary.results if summary else [],
    )


def _run_error(run_dir: Path) -> str | None:
    try:
        info = rundir.read_json(run_dir / rundir.RUN_INFO, RunInfo)
    except AnalysisError as exc:
        return str(exc)
    return f"the drill {info.status}: {info.error}" if info.error else None


def fault_groups(runs: list[RunResult]) -> list[FaultGroup]:
    by_group: dict[str, list[tuple[str, FaultPoint]]] = {}
    for run in runs:
        for point in run.faults:
            by_group.setdefault(point.group, []).append((f"{run.run_id} {point.fault_id}", point))
    groups = []
    for name, members in by_group.items():
        injected = [(source, p) for source, p in members if p.injected]
        figures = []
        for fig in FIGURES:
            measured = [(source, p.values.get(fig.key)) for source, p in injected]
            values = [(source, v) for source, v in measured if v is not None]
            figures.append(
                FigureDistribution(
                    key=fig.key,
                    label=fig.label,
                    unit=fig.unit,
                    distribution=distribution([v for _, v in values], missing=len(measured) - len(values)),
                    sources=[source for source, _ in values],
                )
            )
        first = members[0][1]
        groups.append(
            FaultGroup(
                group=name,
                kind=first.kind,
                fault_class=first.fault_class,
                injected=len(injected),
                not_injected=len(members) - len(injected),
                figures=figures,
            )
        )
    return groups


def pass_rates(runs: list[RunResult]) -> list[SLOPassRate]:
    """Per SLO id, in the order the runs list them; runs without a summary are left out."""
    judged = [(run.run_id, {r.slo: r for r in run.results}) for run in runs if run.verdict is not None]
    order = dict.fromkeys(slo for _, results in judged for slo in results)
    rates = []
    for slo in order:
        found = [(run_id, results[slo]) for run_id, results in judged if slo in results]
        last = found[-1][1]
        passed = sum(r.verdict is Verdict.PASS for _, r in found)
        failed_in = [run_id for run_id, r in found if r.verdict is Verdict.FAIL]
        rates.append(
            SLOPassRate(
                slo=slo,
                category=last.category,
                unit=last.unit,
                target=last.target,
                passed=passed,
                failed=len(failed_in),
                unknown=sum(r.verdict is Verdict.UNKNOWN for _, r in found),
                not_checked=len(judged) - len(found),
                failed_in=failed_in,
                flaky=passed > 0 and bool(failed_in),
                measured=distribution([r.measured for _, r in found if r.measured is not None]),
            )
        )
    return rates


def campaign_exit_code(info: CampaignInfo, runs: list[RunResult]) -> ExitCode:
    finished = info.status in (CampaignStatus.COMPLETED, CampaignStatus.STOPPED)
    codes = {r.exit_code for r in runs}
    if not finished or not runs or ExitCode.RUN_FAILED in codes or any(c < 0 for c in codes):
        return ExitCode.RUN_FAILED
    for code in (ExitCode.USAGE, ExitCode.SLO_FAILED):
        if code in codes:
            return code
    return ExitCode.OK
