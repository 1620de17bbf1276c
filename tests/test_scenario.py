"""Scenario files: parsing with line numbers, validation errors, overrides, the fault plan."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chaos.drill.schedule import plan
from chaos.scenario.document import scenario_document
from chaos.scenario.load import apply_override, load, loads
from contract.durations import parse_duration
from contract.errors import ScenarioError, UsageError
from contract.safeyaml import parse
from reports.runconfig import parse_config, timing

SCENARIOS = sorted(Path(__file__).parent.parent.joinpath("scenarios").glob("*.yaml"))

BASE = """\
name: t
target:
  backend: local
  members: 3
workload:
  users: 5
  duration: 60s
faults:
  - at: 10s
    kind: kill
    target: primary
    heal_after: 5s
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("20s", 20),
        ("2m", 120),
        ("1h30m", 5400),
        ("1m30s", 90),
        (3, 3),
        ("7", 7),
        ("1.5s", 1.5),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["abc", "-1s", "5x", "", True, None, "1s2"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_source_knows_the_line_of_every_key() -> None:
    source = parse(BASE, "t.yaml")
    assert source.line_of(("faults", 0, "heal_after")) == 12
    assert source.line_of(("workload", "users")) == 6
    # A path below a scalar falls back to its nearest known ancestor.
    assert source.line_of(("workload", "users", "deeper")) == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            BASE.replace("users: 5", "users: 0"),
            "t.yaml:6: workload.users: Input should be greater than or equal to 1",
        ),
        (BASE.replace("kind: kill", "kind: explode"), "t.yaml:9: faults[0]: unknown fault kind 'explode'"),
        (
            BASE.replace("at: 10s", "at: 90s"),
            "t.yaml:9: faults[0]: is injected at 90 s, after the load ends at 60 s",
        ),
        (BASE.replace("members: 3", "members: 3\n  colour: red"), "t.yaml:5: target.colour: unknown field"),
        (
            BASE.replace("  duration: 60s", "  corpus: {prompts: -1}\n  duration: 60s"),
            "t.yaml:7: workload.corpus.prompts",
        ),
        (
            BASE.replace("heal_after: 5s", "heal_after: soon"),
            "t.yaml:12: faults[0].heal_after: expected a number or a duration such as '30s'",
        ),
        (BASE.replace("name: t\n", ""), "t.yaml:1: name: required field is missing"),
        ("name: t\nname: u\n", "t.yaml:2: duplicate key 'name'"),
        ("name: [t\n", "t.yaml:2: invalid YAML"),
        ("- just a list\n", "t.yaml: a scenario is a mapping"),
        (BASE + "    params: {restart_after_s: -1}\n", "t.yaml:9: faults[0]: fault kill: restart_after_s"),
        (BASE + "slos: {profile: unknown}\n", "t.yaml:13: slos.profile: unknown SLO profile"),
        (
            BASE.replace("  duration: 60s", "  duration: 60s\n  locustfile: no/such/shop.py"),
            "t.yaml:8: workload.locustfile: no such file: ",
        ),
        (
            BASE.replace("  duration: 60s", "  duration: 60s\n  user_classes: [{class: 'shop:'}]"),
            "t.yaml:8: workload.user_classes[0].class: String should match pattern",
        ),
        (
            BASE.replace("  duration: 60s", "  stages: [{duration: 60s, users: 5}]"),
            "t.yaml:5: workload: users cannot be given with stages, which replace them",
        ),
    ],
)
def test_validation_errors_name_file_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        loads(text, "t.yaml")
    assert str(info.value).startswith(expected), str(info.value)


def test_overrides_reach_nested_values_and_list_items() -> None:
    scenario = loads(
        BASE, "t.yaml", ["workload.users=50", "faults.0.at=20s", "target.settings.electionTimeoutMillis=2000"]
    )
    assert scenario.workload.users == 50
    assert scenario.faults[0].at == 20
    assert scenario.target.settings.election_timeout_millis == 2000


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("novalue", "expected KEY=VALUE"),
        ("faults.3.at=1", "index 3 is out of range"),
        ("name.x=1", "is not a mapping"),
    ],
)
def test_bad_overrides(assignment: str, message: str) -> None:
    data = yaml.safe_load(BASE)
    with pytest.raises(UsageError, match=message):
        apply_override(data, assignment)


def test_a_constant_load_set_beside_stages_is_refused_naming_the_set() -> None:
    # Sizing a staged scenario down takes each stage's users; workload.users would do nothing.
    staged = BASE.replace("  users: 5\n  duration: 60s", "  stages: [{duration: 60s, users: 5}]")
    with pytest.raises(ScenarioError, match=r"--set workload.users=2: workload: users cannot be given"):
        loads(staged, "t.yaml", ["workload.users=2"])
    assert loads(staged, "t.yaml", ["workload.stages.0.users=2"]).workload.stages[0].users == 2  # type: ignore[index]


@pytest.mark.parametrize(
    "text", [BASE, BASE.replace("  users: 5\n  duration: 60s", "  stages: [{duration: 60s, users: 5}]")]
)
def test_resolved_scenario_round_trips(tmp_path: Path, text: str) -> None:
    scenario = loads(text, "t.yaml", ["workload.seed=9"])
    path = tmp_path / "resolved.yaml"
    path.write_text(yaml.safe_dump(scenario_document(scenario)))
    assert load(path) == scenario


def test_plan_orders_injections_and_heals_with_ids_by_time() -> None:
    scenario = loads(
        BASE
        + """\
  - at: 5s
    kind: pause
    target: secondary
    every: 20s
    repeat: 2
    heal_after: 10s
""",
        "t.yaml",
    )
    actions = [(a.at, a.fault_id, "heal" if a.heal else a.step.kind) for a in plan(scenario.faults)]
    assert actions == [
        (5, "f1", "pause"),
        (10, "f2", "kill"),
        (15, "f1", "heal"),
        (15, "f2", "heal"),
        (25, "f3", "pause"),
        (35, "f3", "heal"),
    ]


def test_repeat_needs_every() -> None:
    with pytest.raises(ScenarioError, match="repeat needs every"):
        loads(BASE + "    repeat: 3\n", "t.yaml")


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_validate(path: Path) -> None:
    scenario = load(path)
    assert scenario.name == path.stem
    assert scenario.description.strip(), "each scenario says what it proves"


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_run_production_timing_and_the_guide_driver_or_say_so(path: Path) -> None:
    clock = timing(parse_config(scenario_document(load(path))))
    if not clock.production:  # only the quickstart is short, and it says so
        assert path.stem == "quickstart" and clock.declared, clock.shortened
    # The guide's driver profile verbatim, but where a scenario exists to change one option.
    changed = {"primary-kill-selection-30s": ["serverSelectionTimeoutMS 30000 (guide: 5000)"]}
    assert clock.driver_changes == changed.get(path.stem, [])


def test_a_malformed_uri_is_refused_without_echoing_its_password() -> None:
    text = 'name: t\ntarget: {backend: external, uri: "mongodb://u:s3cret@db 1:99999/"}\n'
    with pytest.raises(ScenarioError, match=r"t.yaml:2: target.uri: not a valid MongoDB URI") as info:
        loads(text, "t.yaml")
    assert "s3cret" not in str(info.value)


def test_the_resolved_scenario_holds_no_credentials() -> None:
    scenario = loads('name: t\ntarget: {backend: external, uri: "mongodb://u:s3cret@db1:27017/"}\n', "t.yaml")
    assert scenario_document(scenario)["target"]["uri"] == "mongodb://***@db1:27017/"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("m7", "t.yaml:9: faults[0]: targets m7: not a member (m0, m1, m2)"),
        ("region:ap", "t.yaml:9: faults[0]: targets region 'ap', which no member is in (regions: none)"),
    ],
)
def test_unknown_fault_targets_are_refused_before_anything_runs(target: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        loads(BASE.replace("target: primary", f"target: {target}"), "t.yaml")
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize("target", ["m1", "m0,m2", "secondary:2", "majority"])
def test_known_targets_pass(target: str) -> None:
    assert loads(BASE.replace("target: primary", f"target: {target}"), "t.yaml").faults[0].target == target
