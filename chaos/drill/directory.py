"""Creating a run directory and keeping its `run.json` current while the drill goes on."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from chaos.errors import UsageError
from chaos.redact import redact_uri
from chaos.scenario.model import Scenario
from reports import rundir
from reports.rundir import RunInfo


def scenario_document(scenario: Scenario) -> dict[str, Any]:
    """The scenario as it runs, in the file's own shape, so `hubchaos run` can run it again."""
    data = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    for step in data.get("faults", []):
        step.pop("fault", None)
    workload = data.get("workload", {})
    workload.update(workload.pop("settings", {}))
    # Credentials never reach the run directory; give the URI again (--set) to re-run.
    target = data.get("target", {})
    if "uri" in target:
        target["uri"] = redact_uri(target["uri"])
    return data


class RunDirectory:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, scenario: Scenario, out: Path | None) -> RunDirectory:
        """`out` if given (it must not exist or be empty), else `<outputs.dir>/<name>-<time>`."""
        if out is not None:
            if out.exists() and (not out.is_dir() or any(out.iterdir())):
                raise UsageError(f"--out {out}: exists and is not an empty folder")
            path = out
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            base = scenario.outputs.dir / f"{scenario.name}-{stamp}"
            path, n = base, 1
            while path.exists():
                n += 1
                path = base.with_name(f"{base.name}-{n}")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the run directory {path}: {exc.strerror}") from None
        return cls(path.resolve())

    def file(self, name: str) -> Path:
        return self.path / name

    def write_scenario(self, scenario: Scenario) -> None:
        text = yaml.safe_dump(scenario_document(scenario), sort_keys=False, allow_unicode=True)
        self.file(rundir.SCENARIO).write_text(text)

    def write_info(self, info: RunInfo) -> None:
        """Atomically, so a reader (or a crash) never leaves half a run.json."""
        target = self.file(rundir.RUN_INFO)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(info), indent=2))
        os.replace(tmp, target)
