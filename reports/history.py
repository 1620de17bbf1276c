"""Many runs over time (`hubchaos history DIR...`): a year of monthly drills, say, as a trend
per scenario.

The directories given are run directories, campaign directories (each counted run of the
campaign, `contract/campaigndir.py`) or folders holding either (`runs/`, one level down). Each
analysed run is one point: when it started, its verdict, each injected fault's RTO, the share of
requests that surfaced an error and the lost acknowledged writes. Each point is compared with
the previous point of the same scenario by `reports.compare`'s rules, so a point is *regressed*
exactly when `hubchaos compare PREVIOUS THIS` would say so. A directory that holds no analysed
run is listed as skipped, with why.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from contract import campaigndir, rundir
from contract.errors import AnalysisError
from reports.compare import Status, Tolerance, compare
from reports.results import Result
from reports.summary import Summary
from reports.verdicts import Verdict


class HistoryPoint(Result):
    run_id: str
    scenario: str
    started_at: float
    path: str  # the run directory
    campaign: str | None  # the campaign it belongs to
    verdict: Verdict
    rto_s: list[float]  # each injected fault's, where measured
    requests: int
    error_rate: float | None  # requests that surfaced an error, of all requests
    lost_writes: int | None  # None: the ledger was not verified
    previous: str | None  # the run it was compared with
    regressions: list[str]  # "<slo>: <why>", as `hubchaos compare previous this` has them

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)


class ScenarioHistory(Result):
    scenario: str
    points: list[HistoryPoint]  # oldest first


class History(Result):
    generated_at: float
    since: float | None
    scenarios: list[ScenarioHistory]
    skipped: list[str]  # "<dir>: why"
    tolerance: Tolerance


def history(
    paths: list[Path],
    since: float | None = None,
    scenarios: tuple[str, ...] = (),
    tolerance: Tolerance | None = None,
) -> History:
    tolerance = tolerance or Tolerance()
    skipped: list[str] = []
    found: dict[Path, tuple[Summary, str | None]] = {}
    for run_dir, campaign in _run_dirs(paths, skipped):
        try:
            summary = Summary.read(run_dir / rundir.SUMMARY)
        except AnalysisError as exc:
            skipped.append(f"{run_dir}: {exc}")
            continue
        found.setdefault(run_dir.resolve(), (summary, campaign))
    kept = [
        (path, summary, campaign)
        for path, (summary, campaign) in found.items()
        if (since is None or summary.run.started_at >= since)
        and (not scenarios or summary.run.scenario in scenarios)
    ]
    kept.sort(key=lambda item: item[1].run.started_at)
    by_scenario: dict[str, list[HistoryPoint]] = {}
    previous: dict[str, Summary] = {}
    for path, summary, campaign in kept:
        name = summary.run.scenario
        before = previous.get(name)
        by_scenario.setdefault(name, []).append(_point(path, summary, campaign, before, tolerance))
        previous[name] = summary
    return History(
        generated_at=time.time(),
        since=since,
        scenarios=[ScenarioHistory(scenario=s, points=p) for s, p in sorted(by_scenario.items())],
        skipped=skipped,
        tolerance=tolerance,
    )


def _run_dirs(paths: list[Path], skipped: list[str]) -> Iterator[tuple[Path, str | None]]:
    for path in paths:
        if not path.is_dir():
            skipped.append(f"{path}: not a folder")
        elif campaigndir.is_campaign(path) or (path / rundir.RUN_INFO).is_file():
            yield from _one(path, skipped)
        else:
            children = [c for c in sorted(path.iterdir()) if c.is_dir()]
            inside = [c for c in children if campaigndir.is_campaign(c) or (c / rundir.RUN_INFO).is_file()]
            if not inside:
                skipped.append(f"{path}: neither a run or campaign directory nor a folder of them")
            for child in inside:
                yield from _one(child, skipped)


def _one(path: Path, skipped: list[str]) -> Iterator[tuple[Path, str | None]]:
    if not campaigndir.is_campaign(path):
        if (path / rundir.SUMMARY).is_file():
            yield path, None
        else:
            skipped.append(f"{path}: no summary.json (run `hubchaos report` first)")
        return
    try:
        info = campaigndir.read_campaign(path)
    except AnalysisError as exc:
        skipped.append(f"{path}: {exc}")
        return
    for run in info.counted():
        if (path / run.path / rundir.SUMMARY).is_file():
            yield path / run.path, info.campaign_id
        else:
            skipped.append(f"{path / run.path}: no summary.json (the run failed)")


def _point(
    path: Path, summary: Summary, campaign: str | None, before: Summary | None, tolerance: Tolerance
) -> HistoryPoint:
    counts = summary.counts
    regressions = []
    if before is not None:
        rows = compare(before, summary, tolerance).rows
        regressions = [f"{r.slo}: {r.reason}" for r in rows if r.status is Status.REGRESSED]
    return HistoryPoint(
        run_id=summary.run.run_id,
        scenario=summary.run.scenario,
        started_at=summary.run.started_at,
        path=str(path),
        campaign=campaign,
        verdict=summary.verdict,
        rto_s=[f.rto_s for f in summary.faults if f.injected and f.rto_s is not None],
        requests=counts.requests,
        error_rate=counts.failed / counts.requests if counts.requests else None,
        lost_writes=summary.data_loss.lost_acked if summary.data_loss else None,
        previous=before.run.run_id if before else None,
        regressions=regressions,
    )
