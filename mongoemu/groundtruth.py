"""The member's ground-truth log: one JSON object per line for every state change it makes.

This is what drills are calibrated against, so each record carries the wall-clock time at
which the member itself made the change (not when someone observed it). The file is
`<dbpath>/groundtruth.jsonl`, appended and flushed per record so that SIGKILL loses nothing
already written. The record format is the suite's contract (`contract.groundtruth`), which
readers import instead of this module.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from contract.groundtruth import FILE_NAME, encode

__all__ = ["FILE_NAME", "GroundTruthLog"]


class GroundTruthLog:
    def __init__(self, path: Path, member: str) -> None:
        self.path = path
        self.member = member
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def record(self, event: str, **fields: Any) -> None:
        line = {"t": time.time(), "member": self.member, "pid": os.getpid(), "event": event, **fields}
        os.write(self._fd, encode(line).encode())

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
