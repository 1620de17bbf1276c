"""The heal journal: one file per active fault, written before the fault takes effect.

    <state dir>/journal/<cluster id>.<fault id>.json    a JournalEntry

The state directory is $HUBCHAOS_STATE_DIR, else $XDG_STATE_HOME/hubchaos, else
~/.local/state/hubchaos: one place per user, so `hubchaos heal` finds what any run left,
whichever folder it ran in. An entry carries the cluster's state (backends.attach), the heal
steps and its owner (the run and process that injected it), so it heals without the process
that wrote it, and `hubchaos heal` leaves it alone while that process runs. It is removed once
healed. Files are written atomically and readable by their owner only; one that cannot be read
is moved to `journal/unreadable/` once, named, so it does not fail every later heal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SerializeAsAny, ValidationError, field_validator

from chaos.backends import ClusterState, parse_state
from chaos.faults.steps import HealStep
from chaos.ownership import Owner
from contract.errors import FaultError, HubchaosError

STATE_DIR_ENV = "HUBCHAOS_STATE_DIR"


UNREADABLE = "unreadable"


def default_state_dir() -> Path:
    """Absolute, so what is kept there names the same place from any folder."""
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV]).expanduser().resolve()
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return (base / "hubchaos").resolve()


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
    owner: Owner | None = None  # None in entries of older versions
    cluster: SerializeAsAny[ClusterState]  # as its backend's own state model
    steps: list[HealStep]

    @field_validator("cluster", mode="before")
    @classmethod
    def _backend_state(cls, data: Any) -> Any:
        if isinstance(data, dict):
            try:
                return parse_state(data, "cluster")
            except HubchaosError as exc:
                raise ValueError(str(exc)) from None
        return data

    @property
    def key(self) -> str:
        return f"{self.cluster.cluster_id}.{self.fault_id}"


class Journal:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_state_dir() / "journal"

    def path(self, entry: JournalEntry) -> Path:
        return self.directory / f"{entry.key}.json"

    def record(self, entry: JournalEntry) -> None:
        """Write the entry (before the fault takes effect); FaultError naming the state
        directory when it cannot be written, so the fault is not injected unjournalled."""
        path = self.path(entry)
        tmp = path.with_suffix(".tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(entry.model_dump_json(indent=2))
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise FaultError(
                f"cannot write the heal journal in {self.directory} ({exc.strerror}): the fault "
                f"was not injected; free space there or set {STATE_DIR_ENV}"
            ) from None

    def remove(self, entry: JournalEntry) -> None:
        self.path(entry).unlink(missing_ok=True)

    def entries(self) -> tuple[list[JournalEntry], list[str]]:
        """The active faults, oldest first, and one line for each file that could not be read
        (moved aside to `unreadable/`, so that it is reported once, not by every heal)."""
        found: list[JournalEntry] = []
        problems: list[str] = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                found.append(JournalEntry.model_validate_json(path.read_text()))
            except (OSError, ValidationError, UnicodeDecodeError) as exc:
                reason = "not an entry" if isinstance(exc, ValidationError) else type(exc).__name__
                problems.append(self._set_aside(path, reason))
        found.sort(key=lambda e: e.injected_at)
        return found, problems

    def _set_aside(self, path: Path, reason: str) -> str:
        aside = self.directory / UNREADABLE / path.name
        try:
            aside.parent.mkdir(exist_ok=True, mode=0o700)
            path.replace(aside)
        except OSError:
            return f"{path}: unreadable journal entry ({reason}); inspect it, then delete it"
        return f"{path}: unreadable journal entry ({reason}), moved to {aside}: undo its fault by hand"

    def fault_ids(self, cluster_id: str) -> set[str]:
        prefix = f"{cluster_id}."
        return {p.stem.removeprefix(prefix) for p in self.directory.glob(f"{prefix}*.json")}
