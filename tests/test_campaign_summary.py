"""A campaign's analysis, JUnit and page, from campaign directories of synthetic runs whose
figures are known: kill_primary_run(outage) recovers its writes `outage` + 0.01 s after the kill."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from analysis_helpers import kill_primary_run
from report_support import check_self_contained

from contract import campaigndir
from contract.campaigndir import CampaignStatus, RunStatus
from contract.errors import ExitCode
from reports.campaign import CampaignSummary, campaign_exit_code, summarise_campaign
from reports.junit import campaign_junit_tree
from reports.render import write_campaign_outputs
from reports.summary import Summary
from reports.synthetic.builder import RunBuilder
from reports.synthetic.campaign import write_campaign
from reports.verdicts import Verdict

OUTAGES = (1.5, 2.0, 2.5, 3.0, 3.5)


def kills(target_s: str | None = None) -> list[RunBuilder]:
    runs = [kill_primary_run(outage) for outage in OUTAGES]
    for b in runs:
        # The failed reads each outage surfaces are not what these runs are judged on.
        b.slos = {"checks": {"failover_errors": None}}
        if target_s is not None:
            b.slos["rto_s"] = {"single_node": target_s}
    return runs


@pytest.fixture(scope="module")
def flaky_campaign(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CampaignSummary]:
    """Five kills judged against a 3 s RTO target: the two longest outages miss it."""
    path = tmp_path_factory.mktemp("campaign") / "kills"
    write_campaign(path, kills("3s"), render=False)
    return path, summarise_campaign(path)


def test_distributions_per_fault_group_are_every_runs_figures(
    flaky_campaign: tuple[Path, CampaignSummary],
) -> None:
    path, summary = flaky_campaign
    [group] = summary.groups
    assert (group.group, group.injected, group.not_injected) == ("kill · single_node", 5, 0)
    rto = group.figure("rto")
    runs = [Summary.read(path / r.path / campaigndir.SUMMARY) for r in summary.runs]
    assert rto.distribution.values == [s.faults[0].rto_s for s in runs]
    assert rto.distribution.values == pytest.approx([o + 0.01 for o in OUTAGES], abs=1e-6)
    assert rto.sources == [f"{r.run_id} f1" for r in summary.runs]
    assert rto.distribution.p50 == pytest.approx(2.51, abs=1e-6)
    assert rto.distribution.max == pytest.approx(3.51, abs=1e-6)
    ci = rto.distribution.median_ci
    assert ci is not None and ci.low <= 2.51 <= ci.high
    election = group.figure("election").distribution
    assert election.n == 5 and election.values == [s.faults[0].election.at.after_s for s in runs]  # type: ignore[union-attr]
    assert group.figure("lost_writes").distribution.values == [0.0] * 5


def test_pass_rates_name_the_flaky_slo_and_the_runs_that_failed_it(
    flaky_campaign: tuple[Path, CampaignSummary],
) -> None:
    _, summary = flaky_campaign
    rates = {r.slo: r for r in summary.slos}
    rto = rates["rto[f1]"]
    assert (rto.passed, rto.failed, rto.unknown, rto.pass_rate) == (3, 2, 0, 0.6)
    assert rto.flaky and rto.failed_in == [summary.runs[3].run_id, summary.runs[4].run_id]
    assert rto.target == 3.0 and rto.measured.n == 5
    assert "rto[f1]" in summary.flaky
    assert not rates["lost_acked_writes"].flaky and rates["lost_acked_writes"].passed == 5
    assert summary.verdict is Verdict.FAIL and summary.exit_code == ExitCode.SLO_FAILED


def test_every_run_passing_is_no_flake_and_exit_0(tmp_path: Path) -> None:
    write_campaign(tmp_path / "c", kills("30s")[:2], render=False)
    summary = summarise_campaign(tmp_path / "c")
    assert summary.flaky == [] and summary.verdict is Verdict.PASS and summary.exit_code == 0
    assert all(r.pass_rate == 1.0 for r in summary.slos)


def test_a_failed_run_counts_without_figures_and_makes_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "c"
    info = write_campaign(path, kills("30s")[:2], render=False)
    broken = path / info.runs[1].path
    (broken / campaigndir.SUMMARY).unlink()
    info.runs[1].exit_code, info.runs[1].status = 3, RunStatus.FAILED
    campaigndir.write_campaign(path, info)
    summary = summarise_campaign(path)
    assert [r.verdict for r in summary.runs] == [Verdict.PASS, None]
    assert summary.runs[1].error == "no summary.json: the run was not analysed"
    assert summary.groups[0].injected == 1
    assert summary.verdict is Verdict.UNKNOWN and summary.exit_code == ExitCode.RUN_FAILED
    junit = campaign_junit_tree(summary).getroot()
    [failed_run] = [c for c in junit.iter("testcase") if c.get("name") == info.runs[1].run_id]
    assert failed_run.find("error").get("type") == "run_failed"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("status", "codes", "expected"),
    [
        (CampaignStatus.COMPLETED, [0, 0], ExitCode.OK),
        (CampaignStatus.COMPLETED, [0, 1], ExitCode.SLO_FAILED),
        (CampaignStatus.COMPLETED, [1, 2], ExitCode.USAGE),
        (CampaignStatus.COMPLETED, [2, 3], ExitCode.RUN_FAILED),
        (CampaignStatus.STOPPED, [0, 1], ExitCode.SLO_FAILED),  # --fail-fast: the run's failure
        (CampaignStatus.INTERRUPTED, [0, 0], ExitCode.RUN_FAILED),
        (CampaignStatus.RUNNING, [0], ExitCode.RUN_FAILED),  # read while it runs, or after a crash
        (CampaignStatus.COMPLETED, [], ExitCode.RUN_FAILED),
    ],
)
def test_exit_codes_are_a_drills(
    flaky_campaign: tuple[Path, CampaignSummary], status: CampaignStatus, codes: list[int], expected: ExitCode
) -> None:
    _, summary = flaky_campaign
    info = summary.campaign
    info.status = status
    runs = [r.model_copy(update={"exit_code": c}) for r, c in zip(summary.runs, codes, strict=False)]
    assert campaign_exit_code(info, runs) is expected


def test_junit_has_one_case_per_slo_failed_where_any_run_failed(
    flaky_campaign: tuple[Path, CampaignSummary],
) -> None:
    _, summary = flaky_campaign
    root = campaign_junit_tree(summary).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "hubchaos.campaign.synthetic"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {r.slo for r in summary.slos}
    failure = cases["rto[f1]"].find("failure")
    assert failure is not None and failure.get("message", "").startswith(
        "flaky: rto[f1] passed in 3, failed in 2"
    )
    assert cases["rpo"].find("failure") is None and cases["rpo"].find("error") is None
    failures = sum(c.find("failure") is not None for c in cases.values())
    assert root.get("failures") == suite.get("failures") == str(failures) == "2"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["runs"] == "5 of 5" and properties["exit_code"] == "1"


def test_the_page_is_self_contained_and_links_the_runs_reports_that_exist(tmp_path: Path) -> None:
    path = tmp_path / "c"
    info = write_campaign(path, kills("2.2s")[:3], render=False)
    linked = path / info.runs[0].path
    (linked / campaigndir.REPORT).write_text("<html></html>")  # one run's page only (its content is not read)
    summary = summarise_campaign(path)
    written = write_campaign_outputs(path, summary)
    assert [p.name for p in written] == ["summary.json", "junit.xml", "report.html"]
    html = (path / campaigndir.REPORT).read_text()
    page = check_self_contained(html)
    assert len(page.images) == 2  # the group's ECDFs and RTO run by run
    first, *others = summary.runs
    assert f'href="{first.path}/report.html"' in html
    assert html.count("/report.html") == 1  # the others are named, not linked
    assert [row[1] for row in page.tables["runs"]] == [r.run_id for r in summary.runs]
    assert all(r.run_id in html for r in others)
    rows = {row[0]: row for row in page.tables["slos"]}
    assert rows["rto[f1]"][1:6] == ["2.2 s", "2", "1", "0", "66.7 %"]
    assert rows["rto[f1]"][8] == "flaky"
    assert "Flaky: 2 SLOs passed in some runs and failed in others" in " ".join(html.split())
    assert CampaignSummary.read(path / campaigndir.SUMMARY) == summary
    assert ET.parse(path / campaigndir.JUNIT).getroot().get("failures") == "2"
