"""The heal journal: one file per active fault, written before the fault takes effect.

    <state dir>/journal/<cluster id>.<fault id>.json    a JournalEntry

The state directory is $HUBCHAOS_STATE_DIR, else $XDG_STATE_HOME/hubchaos, else
~/.local/state/hubchaos: one place per user, so `hubchaos heal` finds what any run left,
whichever folder it ran in. An entry carries the cluster's state (backends.attach) and the
heal steps, so it heals without the process that wrote it. It is removed once healed.
Files are written atomically and readable by their owner only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from chaos.backends import AnyState
from chaos.faults.steps import HealStep

STATE_DIR_ENV = "HUBCHAOS_STATE_DIR"


def default_state_dir() -> Path:
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV])
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "hubchaos"


class JournalEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fault_id: str
    kind: str
    target: str
    members: list[str]
    params: dict[str, Any]
    label: str
    injected_at: float
    pid: int  # the process that injected it
    cluster: AnyState
    steps: list[HealStep]

    @property
    def key(self) -> str:
        return f"{self.cluster.cluster_id}.{self.fault_id}"


class Journal:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_state_dir() / "journal"

    def path(self, entry: JournalEntry) -> Path:
        return self.directory / f"{entry.key}.json"

    def record(self, entry: JournalEntry) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path(entry)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(entry.model_dump_json(indent=2))
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)

    def remove(self, entry: JournalEntry) -> None:
        self.path(entry).unlink(missing_ok=True)

    def entries(self) -> tuple[list[JournalEntry], list[str]]:
        """The active faults, oldest first, and one line for each file that could not be read."""
        found: list[JournalEntry] = []
        problems: list[str] = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                found.append(JournalEntry.model_validate_json(path.read_text()))
            except (OSError, ValidationError) as exc:
                problems.append(f"{path}: unreadable journal entry ({type(exc).__name__})")
        found.sort(key=lambda e: e.injected_at)
        return found, problems

    def fault_ids(self, cluster_id: str) -> set[str]:
        prefix = f"{cluster_id}."
        return {p.stem.removeprefix(prefix) for p in self.directory.glob(f"{prefix}*.json")}
