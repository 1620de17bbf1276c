"""The ground-truth record format: what a member that logs its own state changes writes, and
how a reader gets the records back.

`mongoemu` writes `<dbpath>/groundtruth.jsonl` (one JSON object per line: `t` the member's
wall clock, `member`, `pid`, `event` and the event's fields, BSON values in MongoDB's extended
JSON); backends copy it into the run directory under `members/<name>/`; `reports.calibration`
reads it. Neither side imports the other: both import this.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bson import json_util

FILE_NAME = "groundtruth.jsonl"


def encode(record: dict[str, Any]) -> str:
    """One record as its line (newline included)."""
    return json_util.dumps(record, separators=(",", ":")) + "\n"


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
