"""Where probe samples go: appended to `probes.jsonl` as they arrive (so a crash keeps them),
converted to `probes.parquet` when the drill finishes."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow.parquet as pq

from contract import rundir
from contract.rundir import PROBE_SCHEMA, ProbeSample, read_jsonl, to_table, write_jsonl

JOURNAL = "probes.jsonl"


class ProbeLog:
    def __init__(self, run_dir: Path) -> None:
        self.journal = run_dir / JOURNAL
        self.target = run_dir / rundir.PROBES
        self._lock = threading.Lock()
        self.latest: dict[str, ProbeSample] = {}  # the newest row per observer, for the live view
        self.failure: OSError | None = None  # the first write that failed (a full disk): the drill stops

    def __call__(self, samples: list[ProbeSample]) -> None:
        with self._lock:
            try:
                write_jsonl(self.journal, samples)
            except OSError as exc:  # the probes go on for the live view; the drill reads this
                self.failure = self.failure or exc
            for sample in samples:
                if sample.observer == sample.member or not sample.reachable:
                    self.latest[sample.observer] = sample

    def primary(self) -> str | None:
        """The member that most recently reported itself PRIMARY, if any still does."""
        with self._lock:
            primaries = [s for s in self.latest.values() if s.reachable and s.state == "PRIMARY"]
        return max(primaries, key=lambda s: s.term).member if primaries else None

    def finish(self) -> int:
        """Write probes.parquet from the journal; return the number of samples."""
        with self._lock:
            rows = list(read_jsonl(self.journal, ProbeSample))
            pq.write_table(to_table(rows, PROBE_SCHEMA), self.target)
            self.journal.unlink(missing_ok=True)
            return len(rows)
