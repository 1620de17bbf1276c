"""Live request counts per operation, for the drill's `/metrics` endpoint (chaos/monitoring/).

Each process of the workload counts the requests its users make: how many, how they ended (ok
or the error class) and a latency histogram. In distributed mode a Locust worker sends what it
counted since its last report with its stats report to the master (`drain`), and the master
adds it up (`merge`): so every worker's requests count, at Locust's report cadence.

A histogram by hand rather than prometheus_client's: a worker's counts travel to the master as
plain data, and prometheus_client has no way to add bucket counts to a histogram.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Upper bounds in seconds; 0.1 s is the guide's average latency target, 1 s its slow query.
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
OK = "ok"
# The key of a worker's report to the master that holds its tally.
REPORT_KEY = "hubchaos_requests"


@dataclass(slots=True)
class OpTally:
    """One operation's requests: by outcome (`ok` or an ErrorClass value) and by duration."""

    outcomes: Counter[str] = field(default_factory=Counter)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_S) + 1))  # not cumulative
    sum_s: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.buckets)

    def add(self, other: OpTally) -> None:
        self.outcomes.update(other.outcomes)
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        self.sum_s += other.sum_s

    def to_dict(self) -> dict[str, Any]:
        return {"outcomes": dict(self.outcomes), "buckets": self.buckets, "sum_s": self.sum_s}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpTally:
        buckets = [int(n) for n in data["buckets"]]
        if len(buckets) != len(BUCKETS_S) + 1:
            raise ValueError(f"a tally has {len(BUCKETS_S) + 1} buckets, not {len(buckets)}")
        return cls(
            Counter({str(k): int(v) for k, v in data["outcomes"].items()}), buckets, float(data["sum_s"])
        )


class RequestTally:
    """Per-operation tallies; safe to update from the users' greenlets and read from a scrape."""

    def __init__(self) -> None:
        self._ops: dict[str, OpTally] = {}
        self._lock = threading.Lock()

    def observe(self, op: str, duration_ms: float, error_class: str | None) -> None:
        seconds = duration_ms / 1000.0
        with self._lock:
            tally = self._ops.get(op)
            if tally is None:
                tally = self._ops[op] = OpTally()
            tally.outcomes[error_class or OK] += 1
            tally.buckets[bisect.bisect_left(BUCKETS_S, seconds)] += 1
            tally.sum_s += seconds

    def on_request(self, name: str, response_time: float, context: dict[str, Any] | None = None,
                   exception: BaseException | None = None, **_: Any) -> None:  # fmt: skip
        """A listener for Locust's `request` event (as `locustfiles.instrumented` fires it)."""
        error_class = (context or {}).get("error_class") or ("other" if exception is not None else None)
        self.observe(name, response_time, error_class)

    def snapshot(self) -> dict[str, OpTally]:
        with self._lock:
            return {op: OpTally(Counter(t.outcomes), list(t.buckets), t.sum_s) for op, t in self._ops.items()}

    def drain(self) -> dict[str, Any]:
        """What was counted since the last drain, as plain data, and start again from nothing."""
        with self._lock:
            ops, self._ops = self._ops, {}
        return {op: t.to_dict() for op, t in ops.items()}

    def merge(self, drained: dict[str, Any]) -> None:
        """Add another process's `drain()`."""
        incoming = {str(op): OpTally.from_dict(data) for op, data in drained.items()}
        with self._lock:
            for op, tally in incoming.items():
                self._ops.setdefault(op, OpTally()).add(tally)
