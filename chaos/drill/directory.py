"""Creating a run directory and keeping its `run.json` current while the drill goes on."""

from __future__ import annotations

import errno
import json
import time
from dataclasses import asdict
from pathlib import Path

import yaml

from chaos.scenario.document import scenario_document
from chaos.scenario.model import Scenario
from contract import rundir
from contract.errors import UsageError
from contract.rundir import RunInfo


def new_directory(out: Path | None, parent: Path, name: str, what: str) -> Path:
    """A new folder: `out` if given (it must not exist or be empty), else `<parent>/<name>-<time>`
    (with `-2`, `-3`, ... when that exists). Absolute."""
    if out is not None:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UsageError(f"--out {out}: exists and is not an empty folder")
        path = out
    else:
        base = parent / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the {what} {path}: {exc.strerror}") from None
    return path.resolve()


class RunDirectory:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, scenario: Scenario, out: Path | None) -> RunDirectory:
        """`out` if given (it must not exist or be empty), else `<outputs.dir>/<name>-<time>`."""
        return cls(new_directory(out, scenario.outputs.dir, scenario.name, "run directory"))

    def file(self, name: str) -> Path:
        return self.path / name

    def write_scenario(self, scenario: Scenario) -> None:
        text = yaml.safe_dump(scenario_document(scenario), sort_keys=False, allow_unicode=True)
        self.file(rundir.SCENARIO).write_text(text)

    def write_info(self, info: RunInfo) -> None:
        text = json.dumps(asdict(info), indent=2)
        path = self.file(rundir.RUN_INFO)
        try:
            rundir.write_atomic(path, text)
        except OSError as exc:
            if exc.errno != errno.ENOSPC or not path.exists():
                raise
            # A full disk: rewrite the file in place, in the blocks it already holds, so that
            # run.json still says how the run ended.
            with path.open("r+") as fh:
                fh.write(text)
                fh.truncate()
