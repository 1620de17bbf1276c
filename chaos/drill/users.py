"""The scenario as `hubchaos run` loads it: its user classes imported and checked, and its
faults checked against what this machine can do, before anything is created.

`hubchaos validate` does not import the classes (that imports Locust); `hubchaos run` does, so a
class that cannot be imported or settings its own model refuses are one ScenarioError naming the
file, line and field, as any other bad scenario; so is a network fault this machine cannot
inject (chaos/drill/preflight.py).
"""

from __future__ import annotations

from pathlib import Path

from chaos.drill import preflight
from chaos.scenario.load import field_name, validate
from chaos.scenario.model import Scenario
from contract.errors import ScenarioError
from contract.safeyaml import Source, read
from locustfiles.classes import UserClassError, resolve_user_classes


def load_for_run(path: Path, overrides: list[str] | tuple[str, ...] = ()) -> tuple[Scenario, Source]:
    """The scenario at `path`, with its user classes imported and their settings validated, and
    where each of its values came from (for the checks once its cluster is up)."""
    source = read(path)
    scenario = validate(source, overrides)
    try:
        resolve_user_classes(scenario.workload.settings)
    except UserClassError as exc:
        where = ("workload", *exc.where)
        line = source.line_of(where)
        raise ScenarioError(str(exc), file=source.file, line=line, field=field_name(where)) from None
    preflight.before_start(scenario, source)
    return scenario, source
