"""Timelines: records appended as JSON lines as they happen, so a run killed mid-way still has
them. The fault timeline (`faults.jsonl`) holds a FaultEvent per inject and heal; the runbook
(`runbook.jsonl`, chaos/runbook/) uses the same writer for its RunbookEvents.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Generic, TypeVar

from contract.rundir import FaultEvent, read_jsonl, write_jsonl

R = TypeVar("R")


class Timeline(Generic[R]):
    """Records kept in memory and, given a path, appended to it at once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.events: list[R] = []
        self._lock = threading.Lock()

    def record(self, event: R) -> None:
        with self._lock:
            self.events.append(event)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_jsonl(self.path, [event])


class FaultTimeline(Timeline[FaultEvent]):
    def __init__(self, path: Path | None = None) -> None:
        super().__init__(path)
        # Fault ids already in the file (an earlier `hubchaos fault` command's): never reused.
        self.earlier_ids = {e.fault_id for e in read_jsonl(path, FaultEvent)} if path else set()

    def fault_ids(self) -> set[str]:
        return self.earlier_ids | {e.fault_id for e in self.events}
