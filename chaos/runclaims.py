"""Run ids that are unique on the machine: a drill claims its id in the state directory.

    <state dir>/runs/<run id>     the claiming Owner (JSON), created exclusively

A run id is the run directory's name, which two drills can share (`--out a/run` and `--out
b/run`, two CI jobs on one runner). Everything a run leaves is named by its id: its cluster's
registration (`clusters/drill-<id>`), its fault labels, `hubchaos heal --run <id>`. So the second
run takes `run-2`, and `heal --run run` never lifts the other's faults. A claim is released when
its run ends with nothing left; a killed run's claim goes when `hubchaos heal` has removed all
that run left.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from chaos.ownership import Owner
from contract.errors import RunError

CLAIMS = "runs"
_MAX_TRIES = 1000


def claims_dir(state_dir: Path) -> Path:
    return state_dir / CLAIMS


def claim_run(state_dir: Path, wanted: str) -> Owner:
    """This process as the owner of `wanted`, or of `wanted-2`, `wanted-3`, ... when another
    run (live, or killed and not yet healed) holds it."""
    folder = claims_dir(state_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for n in range(1, _MAX_TRIES + 1):
            run = wanted if n == 1 else f"{wanted}-{n}"
            try:
                fd = os.open(folder / run, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            owner = Owner.current(run)
            with os.fdopen(fd, "w") as fh:
                fh.write(owner.model_dump_json())
            return owner
    except OSError as exc:
        raise RunError(f"cannot claim a run id in {folder}: {exc.strerror}") from None
    raise RunError(
        f"{folder}: {_MAX_TRIES} runs named {wanted}-N are on record: `hubchaos heal` removes gone ones"
    )


def release_run(state_dir: Path, owner: Owner) -> None:
    """Give the run id up (its run ended with nothing left on the machine)."""
    path = claims_dir(state_dir) / owner.run
    if claim_owner(path) == owner:
        path.unlink(missing_ok=True)


def claim_owner(path: Path) -> Owner | None:
    """Who holds this claim; None while it is being written or when it cannot be read."""
    try:
        return Owner.model_validate_json(path.read_text())
    except (OSError, ValidationError):
        return None


def claims(state_dir: Path) -> Iterator[tuple[Path, Owner | None]]:
    folder = claims_dir(state_dir)
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            yield path, claim_owner(path)
