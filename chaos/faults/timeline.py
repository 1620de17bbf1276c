"""The fault timeline: a FaultEvent (reports/rundir.py) for every inject and heal.

Events are kept in memory and, given a path, appended to it as JSON lines at once
(`faults.jsonl` in a run directory), so a run killed mid-way still has its timeline.
"""

from __future__ import annotations

import threading
from pathlib import Path

from reports.rundir import FaultEvent, read_jsonl, write_jsonl


class FaultTimeline:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.events: list[FaultEvent] = []
        self._lock = threading.Lock()
        # Fault ids already in the file (an earlier `hubchaos fault` command's): never reused.
        self.earlier_ids = {e.fault_id for e in read_jsonl(path, FaultEvent)} if path else set()

    def fault_ids(self) -> set[str]:
        return self.earlier_ids | {e.fault_id for e in self.events}

    def record(self, event: FaultEvent) -> None:
        with self._lock:
            self.events.append(event)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_jsonl(self.path, [event])
