"""The member's ground-truth log: one JSON object per line for every state change it makes.

This is what drills are calibrated against, so each record carries the wall-clock time at
which the member itself made the change (not when someone observed it). The file is
`<dbpath>/groundtruth.jsonl`, appended and flushed per record so that SIGKILL loses nothing
already written.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from bson import json_util

FILE_NAME = "groundtruth.jsonl"


class GroundTruthLog:
    def __init__(self, path: Path, member: str) -> None:
        self.path = path
        self.member = member
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def record(self, event: str, **fields: Any) -> None:
        line = {"t": time.time(), "member": self.member, "pid": os.getpid(), "event": event, **fields}
        data = json.dumps(line, default=json_util.default, separators=(",", ":")) + "\n"
        os.write(self._fd, data.encode())

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read(path: Path) -> list[dict[str, Any]]:
    """Parse a ground-truth log; a torn last line (the process was killed mid-write) is skipped."""
    records: list[dict[str, Any]] = []
    with path.open() as fh:
        for line in fh:
            try:
                records.append(json_util.loads(line))
            except ValueError:
                continue
    return records
