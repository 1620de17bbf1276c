"""The `campaign:` section, what each run of a campaign runs, and `hubchaos run`'s campaign
arguments refused before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from chaos.campaign.plan import drill_scenario
from chaos.cli import main
from chaos.scenario.load import load, loads
from contract.errors import ScenarioError

BASE = """\
name: t
target: {backend: local, members: 3}
workload:
  users: 5
  duration: 60s
faults:
  - {at: 10s, kind: kill, target: primary, heal_after: 5s}
  - {at: 40s, kind: pause, target: secondary, heal_after: 10s}
"""


def test_without_injections_each_run_runs_the_scenario_itself() -> None:
    scenario = loads(BASE + "campaign: {runs: 10}\n")
    assert scenario.campaign is not None and scenario.campaign.runs == 10
    drill = drill_scenario(scenario)
    assert drill.campaign is None
    assert drill == loads(BASE)


def test_injections_play_the_load_and_the_timeline_again_in_one_run() -> None:
    drill = drill_scenario(loads(BASE + "campaign: {injections: 3}\n"))
    assert drill.workload.total_duration == 180
    assert [(f.at, f.kind, f.heal_after) for f in drill.faults] == [
        (10, "kill", 5),
        (40, "pause", 10),
        (70, "kill", 5),
        (100, "pause", 10),
        (130, "kill", 5),
        (160, "pause", 10),
    ]


def test_injections_repeat_a_load_shape_stage_by_stage() -> None:
    text = BASE.replace(
        "  users: 5\n  duration: 60s\n", "  stages: [{duration: 20s, users: 2}, {duration: 40s, users: 5}]\n"
    )
    drill = drill_scenario(loads(text + "campaign: {injections: 2}\n"))
    assert drill.workload.stages is not None
    assert [(s.duration, s.users) for s in drill.workload.stages] == [(20, 2), (40, 5), (20, 2), (40, 5)]
    assert [f.at for f in drill.faults] == [10, 40, 70, 100]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            BASE.replace("heal_after: 10s", "heal_after: null") + "campaign: {injections: 2}\n",
            "t.yaml:8: faults[1]: has no heal_after: campaign.injections plays the timeline again",
        ),
        (
            BASE.replace("60s", "12h") + "campaign: {injections: 3}\n",
            "campaign.injections 3 x the load's 43200 s",
        ),
        (
            BASE + "campaign: {runs: 0}\n",
            "t.yaml:9: campaign.runs: Input should be greater than or equal to 1",
        ),
        (BASE + "campaign: {repeat: 2}\n", "t.yaml:9: campaign.repeat: unknown field"),
    ],
)
def test_a_campaign_that_cannot_run_is_refused_by_line(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        loads(text, "t.yaml")
    assert message in str(caught.value)


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(BASE)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["{scenario}", "--fail-fast"],
            "--fail-fast stops a campaign: give --repeat N or a campaign: section",
        ),
        (["{scenario}", "--repeat", "0"], "Invalid value for '--repeat'"),
        (
            ["{scenario}", "--resume", "{tmp}"],
            "--resume takes the campaign's own scenario and settings, not SCENARIO",
        ),
        (
            ["--resume", "{tmp}", "--repeat", "3"],
            "--resume takes the campaign's own scenario and settings, not --repeat",
        ),
        (["--resume", "{tmp}"], "not a campaign directory (no campaign.json)"),
        (
            ["{scenario}", "--set", "campaign.injections=2", "--set", "faults.0.heal_after=null"],
            "has no heal_after",
        ),
        ([], "SCENARIO is missing (or --resume CAMPAIGN_DIR)"),
    ],
)
def test_bad_campaign_arguments_are_one_line_and_exit_2(
    scenario: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, ["run", *(a.format(scenario=scenario, tmp=tmp_path) for a in args)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.glob("*campaign*"))


def test_a_scenario_campaign_section_takes_overrides(scenario: Path) -> None:
    loaded = load(scenario, ["campaign.runs=4", "campaign.fail_fast=true"])
    assert loaded.campaign is not None and (loaded.campaign.runs, loaded.campaign.fail_fast) == (4, True)
