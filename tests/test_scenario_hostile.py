"""Hostile and mistaken scenarios are refused before anything starts: one ScenarioError (exit 2)
naming the file, line and field (or the `--set` that brought the value), never a traceback,
a RecursionError or gigabytes of memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaos.scenario.load import loads
from contract.durations import parse_duration
from contract.errors import ScenarioError
from contract.safeyaml import parse

ROOT = Path(__file__).parent.parent

THREE = """\
name: t
target:
  backend: local
  members:
    - {name: eu-1, region: eu}
    - {name: eu-2, region: eu}
    - {name: us-1, region: us}
workload:
  users: 5
  duration: 60s
"""


def refused(text: str, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ScenarioError) as err:
        loads(text, "t.yaml", overrides=list(overrides))
    message = str(err.value)
    assert "\n" not in message
    return message


# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "nan", "inf", "1e999"])
def test_durations_are_finite(value: object) -> None:
    with pytest.raises(ValueError, match="finite"):
        parse_duration(value)


@pytest.mark.parametrize("field", ["at", "heal_after"])
def test_a_nan_fault_time_is_refused_with_its_line(field: str) -> None:
    text = THREE + f"faults:\n  - {{at: 10s, kind: pause, target: eu-1, heal_after: 5s, {field}: .nan}}\n"
    text = text.replace(f"{field}: 10s, ", "").replace(f"{field}: 5s, ", "")
    message = refused(text)
    assert message.startswith(f"t.yaml:12: faults[0].{field}: ") and "finite" in message


# --- safe YAML ----------------------------------------------------------------------------------

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (BILLION_LAUGHS, "expands to more than"),
        ("a: &a [*a]\n", "refers to itself"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than"),
        ("x: &x 1\n" + "".join(f"k{i}: *x\n" for i in range(500)), "aliases"),
    ],
    ids=["billion-laughs", "recursive-alias", "deep-nesting", "many-aliases"],
)
def test_hostile_yaml_is_refused(text: str, said: str) -> None:
    # How fast and in how little memory: benchmarks/hostile_yaml.py.
    with pytest.raises(ScenarioError, match=said):
        parse(text, "evil.yaml")


def test_the_billion_laughs_file_is_one_line_from_the_command(tmp_path: Path) -> None:
    evil = tmp_path / "laughs.yaml"
    evil.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 600
    done = subprocess.run(
        [sys.executable, "-m", "chaos", "validate", str(evil)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"invalid: {evil}:") and "expands to more than" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_text("name: t\n" + "# padding\n" * 200_000)
    with pytest.raises(ScenarioError, match="larger than"):
        from chaos.scenario.load import load

        load(huge)


# --- targets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("secondary:7", "secondary:7: a set of 3 members has at most 2 secondaries"),
        ("secondary:0", "secondary:<n> counts from 1"),
        ("region:ap", "targets region 'ap', which no member is in"),
        ("eu-3", "targets eu-3: not a member"),
    ],
)
def test_targets_are_checked_against_the_members(target: str, said: str) -> None:
    message = refused(THREE + f"faults:\n  - {{at: 10s, kind: pause, target: '{target}'}}\n")
    assert message.startswith("t.yaml:12: faults[0]"), message
    assert said in message


def test_one_member_has_no_secondary_nor_minority() -> None:
    one = "name: t\ntarget: {backend: local, members: 1}\nworkload: {duration: 60s}\n"
    for target in ("secondary", "secondaries", "minority"):
        assert "a set of 1 member" in refused(
            one + f"faults:\n  - {{at: 5s, kind: pause, target: {target}}}\n"
        )


EXTERNAL = """\
name: t
target:
  backend: external
  uri: mongodb://h1:27017,h2:27017/?replicaSet=rs0
workload: {duration: 60s}
faults:
  - {at: 10s, kind: kill, target: primary}
"""


def test_destructive_faults_on_an_external_target_need_an_allowlist() -> None:
    message = refused(EXTERNAL)
    assert message.startswith("t.yaml:7: faults[0]") and "allowlist" in message
    # Non-destructive kinds need none; with an allowlist, the members are checked once known.
    loads(EXTERNAL.replace("kind: kill", "kind: stepdown"), "t.yaml")
    loads(EXTERNAL.replace("uri:", "allowlist: [h1, h2]\n  uri:"), "t.yaml")


# --- overlapping faults -------------------------------------------------------------------------


def test_two_faults_of_one_layer_may_not_overlap_on_a_member() -> None:
    text = THREE + (
        "faults:\n"
        "  - {at: 10s, kind: pause, target: eu-1, heal_after: 20s}\n"
        "  - {at: 15s, kind: kill, target: 'eu-1,eu-2', heal_after: 5s}\n"
    )
    message = refused(text)
    assert message.startswith("t.yaml:13: faults[1]") and "overlaps faults[0] on eu-1" in message
    # After the first is healed, or of kinds that compose (a process and a network fault), fine.
    loads(text.replace("at: 15s", "at: 31s"), "t.yaml")
    loads(text.replace("kind: kill", "kind: failpoint"), "t.yaml")


def test_a_region_target_overlapping_a_member_is_refused() -> None:
    text = THREE + (
        "faults:\n"
        "  - {at: 10s, kind: partition, target: 'region:eu'}\n"
        "  - {at: 20s, kind: degrade, target: eu-2, heal_after: 5s, params: {latency_ms: 50}}\n"
    )
    assert "overlaps faults[0] on eu-2" in refused(text)


# --- schedules ----------------------------------------------------------------------------------


def test_a_schedule_faster_than_a_fault_can_be_injected_is_refused() -> None:
    text = THREE + "faults:\n  - {at: 1s, kind: stepdown, repeat: 1000, every: 10ms}\n"
    assert "every" in refused(text)


# --- --set --------------------------------------------------------------------------------------


def test_an_error_from_set_names_the_set_not_line_1() -> None:
    message = refused(THREE, ("workload.users=lots",))
    assert message.startswith("--set workload.users=lots: workload.users: "), message
    nan = refused(THREE + "faults:\n  - {at: 10s, kind: pause, target: eu-1}\n", ("faults.0.at=.nan",))
    assert nan.startswith("--set faults.0.at=.nan: faults[0].at: "), nan


def test_a_hostile_set_value_is_refused_too() -> None:
    value = "&a [" + ",".join(["*a"] * 3) + "]"
    assert "refers to itself" in refused(THREE, (f"description={value}",))


def test_merge_keys_are_read_as_yaml_defines_them() -> None:
    """Compose files share member settings with `<<: *anchor`; an explicit key wins."""
    data = parse("base: &b {x: 1, y: 2}\none: {<<: *b, y: 3}\nboth: {<<: [*b, {z: 4}]}\n", "m.yaml").data
    assert data["one"] == {"x": 1, "y": 3}
    assert data["both"] == {"x": 1, "y": 2, "z": 4}
    with pytest.raises(ScenarioError, match="duplicate key 'y'"):
        parse("b: &b {x: 1}\none: {<<: *b, y: 3, y: 4}\n", "m.yaml")
