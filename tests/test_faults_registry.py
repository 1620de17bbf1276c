"""Fault kinds from outside the package: found by reference or registration, validated by their
own model, injected, journalled and healed (also from another process) like built-in ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from chaos_support import injector, local_cluster

from chaos.faults.journal import Journal
from chaos.faults.kinds import FAULT_KINDS, parse_fault
from chaos.faults.kinds.kill import Kill
from chaos.faults.steps import HealStep
from chaos.scenario.load import loads
from contract.errors import UsageError
from tests.plugin_faults import HEAL_OP, Hold

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = "tests.plugin_faults:Hold"
SCENARIO = f"""\
name: t
target: {{backend: local, members: 3}}
workload: {{duration: 30s}}
faults:
  - at: 5s
    kind: {REFERENCE}
    target: secondary
    params: {{seconds: 2}}
"""


def test_builtin_kinds_load_lazily_by_name() -> None:
    assert FAULT_KINDS.get("kill") is Kill
    assert {"kill", "partition", "failpoint"} <= set(FAULT_KINDS.names())


def test_a_reference_is_a_kind_validated_by_its_own_model() -> None:
    spec = parse_fault({"kind": REFERENCE, "target": "m1", "seconds": 3})
    assert isinstance(spec, Hold) and spec.kind == "hold" and spec.params() == {"seconds": 3.0}
    with pytest.raises(UsageError, match=f"fault {REFERENCE}: seconds: Input should be greater than 0"):
        parse_fault({"kind": REFERENCE, "seconds": 0})


def test_a_scenario_names_a_kind_by_reference() -> None:
    scenario = loads(SCENARIO, "t.yaml")
    assert isinstance(scenario.faults[0].fault, Hold)
    bad = SCENARIO.replace("seconds: 2", "minutes: 2")
    with pytest.raises(UsageError, match=r"t\.yaml:5: faults\[0\]: fault tests\.plugin_faults:Hold: minutes"):
        loads(bad, "t.yaml")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("tests.no_such_module:Hold", "cannot import tests.no_such_module"),
        ("tests.plugin_faults:Nope", "tests.plugin_faults has no Nope"),
        ("tests.plugin_faults:thaw", "expected a chaos.faults.kind.FaultSpec subclass"),
        ("teleport", "unknown fault kind 'teleport' (known: degrade, "),
    ],
)
def test_bad_references_are_one_line(kind: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_fault({"kind": kind})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_registered_kind_is_found_by_its_name() -> None:
    FAULT_KINDS.register("hold", Hold)
    try:
        assert isinstance(parse_fault({"kind": "hold"}), Hold)
        assert "hold" in FAULT_KINDS.names()
    finally:
        FAULT_KINDS._registered.pop("hold")


def test_third_party_kind_injects_journals_and_heals_from_another_process(tmp_path: Path) -> None:
    with local_cluster(tmp_path / "c", 1) as cluster:
        inj = injector(cluster, tmp_path)
        m0 = cluster.members[0].name
        process = cluster.processes[m0]  # type: ignore[attr-defined]

        # In-process heal: the injector runs the kind's own heal step.
        fault = inj.inject(parse_fault({"kind": REFERENCE, "target": m0}))
        assert process.paused
        inject = inj.timeline.events[-1]
        assert (inject.kind, inject.colour, inject.params) == (
            "hold",
            Hold.colour,
            {"seconds": 5.0, "held": 1},
        )
        inj.heal(fault)
        assert not process.paused

        # As if the injecting process were killed: the journal entry alone heals it elsewhere.
        inj.inject(parse_fault({"kind": REFERENCE, "target": m0}))
        entries, problems = Journal(tmp_path / "journal").entries()
        assert not problems and [s.op for s in entries[0].steps] == [HEAL_OP]
        assert process.paused
        heal = (
            "from pathlib import Path\n"
            "from chaos.faults.journal import Journal\n"
            "from chaos.faults.sweep import HealReport, heal_journal\n"
            "from chaos.ownership import HealScope\n"
            "report = HealReport()\n"
            # The injecting process (this test) still runs: heal its entry anyway.
            f"journal = Journal(Path({str(tmp_path / 'journal')!r}))\n"
            "heal_journal(journal, report, HealScope(everything=True))\n"
            "print(report.healed, report.errors)\n"
        )
        # Only the journal: the label sweep of `hubchaos heal` reaches every hubchaos namespace.
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", heal], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert "hold on m0" in out.stdout and "[]" in out.stdout, out.stdout + out.stderr
        assert not process.paused
        assert not list((tmp_path / "journal").glob("*.json"))


def test_heal_steps_journalled_before_args_existed_still_read() -> None:
    step = HealStep.model_validate(
        {"op": "clear_network", "member": "m0", "label": "hubchaos:fault:x", "shaped": True}
    )
    assert step.args == {"label": "hubchaos:fault:x", "shaped": True}
