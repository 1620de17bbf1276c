"""What the application saw of each fault, as figures: failed and stalled requests, split by error
class with the phase each happened in, and the errors an application with the production
guide's driver settings would have surfaced.

A fault's requests are the application's requests that started within its horizon (from the
injection on) or were in flight when it was injected. The canary's requests are left out: it
reads from the primary by design, to check its own writes, so it is the suite's instrument and
not the application. Of those requests:

- failed: ended with an error (any class but duplicate_key, which means the server answered).
  The workload's driver already retried what retryWrites/retryReads retry, so each one is an
  error the application surfaced: `surfaced`.
- stalled: succeeded, but slower than `slow_op_ms`.

By class, each failure counts in the phase in which it ended (its error reached the application
then), with the first and last such moment. A failure that took at least the run's
serverSelectionTimeoutMS waited out server selection, whatever its class: PyMongo raises a
retried write's first error (a network error, say) when the retry finds no server in time.
Except a write refused as not primary without mongod's RetryableWriteError label: it was sent
as a non-retryable write and never retried. PyMongo sends a write as retryable only if, once
its connection is ready, it still knows the server as primary; a connection opened to a
primary that stopped answering (a frozen one) is ready only after that primary has resumed and
stepped down, so its write is refused and surfaces however long server selection may wait.

The guide's figure: when the run used the guide's serverSelectionTimeoutMS, socketTimeoutMS,
timeoutMS and retry settings, it is `surfaced` itself (measured). When the run waited longer to
select a server, it is estimated: a request that took d ≥ the guide's serverSelectionTimeoutMS S
spent it waiting for a primary, and under the guide its user would have seen floor(d / S) errors
in that time (one per selection timeout, each followed by the user's next request); faster
failures would have failed as they did. With shorter timeouts than the guide's it is not
estimated (what failed fast might have succeeded).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from contract.driver import GUIDE, DriverOptions
from reports.availability import failed_ops
from reports.columns import matches
from reports.drivercheck import Finding
from reports.errorrates import UNCLASSIFIED
from reports.events import RETRY_LABELLED
from reports.failover import Election, Rediscovery
from reports.faults import Fault
from reports.phases import PHASES, Phase, PhaseWindow, assign
from reports.results import Moment, Result

CANARY = "canary."  # the canary's operations: canary.write, canary.read
# The options that decide whether a request surfaces an error during a failover.
_DECISIVE = ("server_selection_timeout_ms", "socket_timeout_ms", "timeout_ms", "retry_writes", "retry_reads")
# The exception an application sees for each error class (PyMongo's names).
EXCEPTION = {
    "selection_timeout": "ServerSelectionTimeoutError",
    "network": "network error (AutoReconnect)",
    "not_primary": "NotPrimaryError",
    "write_concern": "WriteConcernError",
    "other": "OperationFailure",
    UNCLASSIFIED: "unclassified error",
}


class ClassImpact(Result):
    error_class: str
    phase: Phase  # when the errors reached the application
    count: int
    first: Moment  # the first such error's completion
    last: Moment
    waited_out_selection: int  # of these, ended after the run's full serverSelectionTimeoutMS
    not_retried: int = 0  # of these, writes refused as not primary that were sent as non-retryable
    explanation: str | None = None  # the driver finding that predicts it, with the measured figures


class FaultImpact(Result):
    fault_id: str
    requests: int  # application requests started in the horizon or in flight at the injection
    failed: int
    stalled: int
    surfaced: int  # errors the application saw (its driver's retries could not absorb them)
    reads_surfaced: int
    writes_surfaced: int
    guide_surfaced: int | None  # the errors an application with the guide's settings would have seen
    guide_basis: Literal["measured", "estimated", "unknown"]
    by_class: list[ClassImpact]
    without_primary_s: float | None  # injection → a driver found the new primary (else the probes)


def impact(
    fault: Fault,
    events: pd.DataFrame,
    windows: list[PhaseWindow],
    slow_op_ms: float,
    driver: DriverOptions | None,
    *,
    election: Election | None = None,
    rediscovery: Rediscovery | None = None,
    findings: list[Finding] | None = None,
) -> FaultImpact:
    """`events` as loaded (sorted by start); `driver` the run's common profile (None: unknown)."""
    t_start = events["t_start"].to_numpy()
    t_end = events["t_end"].to_numpy()
    inside = (t_end >= fault.t_inject) & (t_start < fault.horizon_end)
    app = inside & ~matches(events["op"], lambda op: op.startswith(CANARY))
    mine = events[app]
    failed = failed_ops(mine)
    duration = mine["duration_ms"].to_numpy()
    stalled = ~failed & mine["ok"].to_numpy() & (duration > slow_op_ms)
    writes = mine["is_write"].to_numpy()
    selection_ms = driver.value("server_selection_timeout_ms") if driver is not None else None

    without = None
    if rediscovery is not None:
        without = rediscovery.first.after_s
    elif election is not None:
        without = election.at.after_s

    by_class = _by_class(fault, mine[failed], windows, selection_ms)
    retry_writes = driver is None or bool(driver.value("retry_writes"))
    by_class = [
        _explained(row, findings or [], fault, selection_ms, without, retry_writes=retry_writes)
        for row in by_class
    ]
    guide, basis = _guide(driver, failed, duration)
    return FaultImpact(
        fault_id=fault.fault_id,
        requests=len(mine),
        failed=int(failed.sum()),
        stalled=int(stalled.sum()),
        surfaced=int(failed.sum()),
        reads_surfaced=int((failed & ~writes).sum()),
        writes_surfaced=int((failed & writes).sum()),
        guide_surfaced=guide,
        guide_basis=basis,
        by_class=by_class,
        without_primary_s=without,
    )


def _by_class(
    fault: Fault, failed: pd.DataFrame, windows: list[PhaseWindow], selection_ms: int | None
) -> list[ClassImpact]:
    if failed.empty:
        return []
    ends = failed["t_end"].to_numpy()
    phases = assign(ends, windows)
    classes = failed["error_class"].astype(object).fillna(UNCLASSIFIED).to_numpy()
    labelled = failed[RETRY_LABELLED].to_numpy()
    unretried = (classes == "not_primary") & failed["is_write"].to_numpy() & ~labelled
    waited = (
        failed["duration_ms"].to_numpy() >= selection_ms
        if selection_ms
        else np.zeros(len(failed), dtype=bool)
    ) & ~unretried
    rows = []
    for (cls, code), group in pd.DataFrame(
        {"cls": classes, "phase": phases, "end": ends, "w": waited, "u": unretried}
    ).groupby(["cls", "phase"], sort=False):
        rows.append(
            ClassImpact(
                error_class=str(cls),
                phase=PHASES[int(code)],
                count=len(group),
                first=Moment.after(float(group["end"].min()), fault.t_inject),
                last=Moment.after(float(group["end"].max()), fault.t_inject),
                waited_out_selection=int(group["w"].sum()),
                not_retried=int(group["u"].sum()),
            )
        )
    rows.sort(key=lambda r: (-r.count, r.first.t))
    return rows


def _explained(
    row: ClassImpact,
    findings: list[Finding],
    fault: Fault,
    selection_ms: int | None,
    without: float | None,
    *,
    retry_writes: bool,
) -> ClassImpact:
    """The row with the driver finding that predicts it, in the measured figures: "13
    ServerSelectionTimeoutError in f1: serverSelectionTimeoutMS 5000 < election 10.5 s"."""
    name = EXCEPTION.get(row.error_class, row.error_class)
    head = f"{row.count} {name} in {fault.fault_id}"
    if row.not_retried == row.count and retry_writes:
        text = (
            f"{head}: writes refused by a member no longer primary and never retried (sent as "
            "non-retryable: their connections became ready only after the primary stepped down)"
        )
        return row.model_copy(update={"explanation": text})
    waited = row.error_class == "selection_timeout" or row.waited_out_selection == row.count
    outlasted = selection_ms is not None and without is not None and selection_ms / 1000 < without
    for f in findings:
        if f.severity == "info":
            continue
        if f.check == "selection_vs_election" and waited and outlasted:
            tail = "" if row.error_class == "selection_timeout" else " (the retry found no primary in time)"
            text = f"{head}{tail}: {f.option} {f.value} < election {without:.1f} s"
            return row.model_copy(update={"explanation": text})
    predicted = next(
        (f for f in findings if f.severity != "info" and row.error_class in f.error_classes), None
    )
    if predicted is not None:
        text = f"{head}: {predicted.option} {predicted.value}, {predicted.figure}"
        return row.model_copy(update={"explanation": text})
    return row


def _guide(
    driver: DriverOptions | None, failed: np.ndarray, duration_ms: np.ndarray
) -> tuple[int | None, Literal["measured", "estimated", "unknown"]]:
    if driver is None:
        return None, "unknown"
    ours = {name: driver.value(name) for name in _DECISIVE}
    guide = {name: GUIDE.value(name) for name in _DECISIVE}
    if ours == guide:
        return int(failed.sum()), "measured"
    selection, guide_selection = ours["server_selection_timeout_ms"], guide["server_selection_timeout_ms"]
    if selection < guide_selection or any(
        ours[n] != guide[n] for n in _DECISIVE if n != "server_selection_timeout_ms"
    ):
        return None, "unknown"
    long = duration_ms >= guide_selection
    estimate = int((failed & ~long).sum()) + int(np.floor(duration_ms[long] / guide_selection).sum())
    return estimate, "estimated"
