"""`hubchaos history`: stored runs and campaigns as a trend per scenario, from synthetic runs
whose RTO is known (kill_primary_run(outage) recovers `outage` + 0.01 s after the kill), a
month apart; the fourth run's RTO is 4 s worse than the third's, a regression by compare's rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from analysis_helpers import kill_primary_run
from click.testing import CliRunner
from report_support import check_self_contained

from chaos.cli import main
from reports.analyse import analyse
from reports.history import History, history
from reports.synthetic.builder import ORIGIN, RunBuilder
from reports.synthetic.campaign import write_campaign

MONTH = 30 * 86_400.0
OUTAGES = (1.5, 2.0, 1.8, 6.0)  # monthly runs; then a campaign of two runs in the fifth month


def kill(outage: float, origin: float) -> RunBuilder:
    b = kill_primary_run(outage, origin=origin)
    # Judged on RTO: the reads each outage fails would regress failover_errors as well.
    b.slos = {"checks": {"failover_errors": None}}
    return b


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("history")
    for month, outage in enumerate(OUTAGES):
        b = kill(outage, ORIGIN + month * MONTH)
        b.run_id = f"kill-{month}"
        b.write_to(root / "runs" / b.run_id)
        analyse(root / "runs" / b.run_id).write(root / "runs" / b.run_id / "summary.json")
    (root / "runs" / "kill-0" / "report.html").write_text("<html></html>")  # one run's report, to link
    campaign = [kill(o, ORIGIN + 4 * MONTH + i * 86_400) for i, o in enumerate((2.0, 2.2))]
    write_campaign(root / "runs" / "monthly-campaign", campaign, render=False)
    kill_primary_run(1.0, origin=ORIGIN + 5 * MONTH).write_to(root / "runs" / "not-analysed")
    return root


def test_each_run_is_compared_with_the_previous_one_of_its_scenario(stored: Path) -> None:
    found = history([stored / "runs"])
    [scenario] = found.scenarios
    points = scenario.points
    assert [p.run_id for p in points] == [
        "kill-0", "kill-1", "kill-2", "kill-3", "monthly-campaign-run001", "monthly-campaign-run002",
    ]  # fmt: skip
    assert [len(p.rto_s) for p in points] == [1] * 6
    assert [p.rto_s[0] for p in points] == pytest.approx([o + 0.01 for o in (*OUTAGES, 2.0, 2.2)], abs=1e-6)
    assert [p.previous for p in points] == [None, *(p.run_id for p in points[:-1])]
    assert [p.regressed for p in points] == [False, False, False, True, False, False]
    assert any(r.startswith("rto[f1]: worse by +4.2 s") for r in points[3].regressions), points[3].regressions
    assert [p.campaign for p in points[4:]] == ["monthly-campaign"] * 2
    assert all(p.lost_writes == 0 and p.error_rate is not None and p.error_rate > 0 for p in points)
    assert [s.split(":")[0] for s in found.skipped] == [str(stored / "runs" / "not-analysed")]


def test_since_and_scenario_filter_before_comparing(stored: Path) -> None:
    since = history([stored / "runs"], since=ORIGIN + 2 * MONTH)
    points = since.scenarios[0].points
    assert [p.run_id for p in points][:2] == ["kill-2", "kill-3"] and points[0].previous is None
    assert history([stored / "runs"], scenarios=("another",)).scenarios == []
    # A campaign and a run given directly, and the same run twice, are read once each.
    direct = history(
        [stored / "runs" / "monthly-campaign", stored / "runs" / "kill-3", stored / "runs" / "kill-3"]
    )
    assert [p.run_id for p in direct.scenarios[0].points] == [
        "kill-3",
        "monthly-campaign-run001",
        "monthly-campaign-run002",
    ]


def test_the_command_writes_the_trend_page(stored: Path, tmp_path: Path) -> None:
    out = tmp_path / "pages" / "history.html"
    out.parent.mkdir()
    result = CliRunner().invoke(
        main, ["history", str(stored / "runs"), "--out", str(out)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    assert "regressed: rto[f1]: worse by +4.2 s" in " ".join(result.output.split())
    html = out.read_text()
    page = check_self_contained(html)
    assert len(page.images) == 1
    rows = page.tables["scenario-synthetic"]
    assert [row[1] for row in rows][:2] == ["kill-0", "kill-1"]
    assert rows[3][7].startswith("regressed rto[f1]: worse by +4.2 s")
    link = os.path.relpath(stored / "runs" / "kill-0" / "report.html", out.parent)
    assert html.count("report.html") == 1 and f'href="{link}"' in html  # only kill-0 has a report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{runs}", "--since", "last month"], "--since 'last month': expected a date such as 2026-01-31"),
        (["{tmp}"], "no analysed run to show ("),
        (["{runs}", "--out", "{tmp}/h.pdf"], "--out {tmp}/h.pdf: expected a .html file"),
        (["{runs}", "--since", "2100-01-01"], "no other run matched --since/--scenario"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    stored: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    fill = {"runs": stored / "runs", "tmp": tmp_path}
    result = CliRunner().invoke(main, ["history", *(a.format(**fill) for a in args)])
    assert result.exit_code == 2, result.output
    assert message.format(**fill) in result.output and "Traceback" not in result.output


def test_history_round_trips_as_json(stored: Path) -> None:
    found = history([stored / "runs"])
    assert History.model_validate_json(found.model_dump_json()) == found
