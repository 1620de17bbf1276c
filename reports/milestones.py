"""A fault's anatomy as the moments a reader follows, in the order the story is told:

    injected → first error → new primary elected → driver found it → first successful write
    → throughput recovered

Each moment is seconds after the injection, or None when it was not measured (the summary's
notes say why). The moments need not happen in that order: the driver may find the new primary
after a retried write already succeeded. The HTML bar and the Markdown lines both draw from here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from reports.formatting import offset, seconds
from reports.summary import FaultAnatomy


@dataclass(frozen=True, slots=True)
class Milestone:
    key: str  # stable, for styling: injected, detected, elected, rediscovered, writable, throughput
    label: str
    after_s: float | None  # after the injection; None: not measured
    detail: str  # what happened there, in a few words


def milestones(fault: FaultAnatomy) -> list[Milestone]:
    detection, election, rediscovery = fault.detection, fault.election, fault.rediscovery
    writes, throughput = fault.writes, fault.throughput
    found = writes.recovered if writes is not None else None
    regained = throughput.recovered if throughput is not None else None
    return [
        Milestone("injected", "injected", 0.0, f"{fault.kind} {fault.target} → {', '.join(fault.members)}"),
        Milestone(
            "detected",
            "first error",
            detection.at.after_s if detection else None,
            (
                f"{detection.op} {detection.how}"
                + (f" ({detection.error_class})" if detection.error_class else "")
                if detection
                else "no operation failed or stalled"
            ),
        ),
        Milestone(
            "elected",
            "new primary elected",
            election.at.after_s if election else None,
            (
                f"{election.new_primary}" + (f", term {election.term}" if election.term is not None else "")
                if election
                else "no new primary seen by the probes"
            ),
        ),
        Milestone(
            "rediscovered",
            "driver found it",
            rediscovery.first.after_s if rediscovery else None,
            (
                f"{rediscovery.clients_found} of {rediscovery.clients_total} clients"
                + (f", the last {offset(rediscovery.last.after_s)}" if rediscovery.last else "")
                if rediscovery
                else "no driver event named the new primary"
            ),
        ),
        Milestone(
            "writable",
            "first successful write",
            found.after_s if found else None,
            (
                f"RTO; writes unavailable for {seconds(writes.unavailable_s)}"
                if writes is not None and found is not None
                else "writes did not stay available within the horizon"
            ),
        ),
        Milestone(
            "throughput",
            "throughput recovered",
            regained.after_s if regained else None,
            (
                f"back to {throughput.target_per_s:.0f}/s"
                if throughput is not None and regained is not None and throughput.target_per_s is not None
                else "throughput did not recover within the horizon"
            ),
        ),
    ]


def since_previous(moments: list[Milestone]) -> list[float | None]:
    """For each moment, the time since the measured moment just before it in time (None for the
    first and for unmeasured ones): the pieces of the anatomy bar. Ties keep the listed order."""
    order = sorted(
        (i for i, m in enumerate(moments) if m.after_s is not None), key=lambda i: moments[i].after_s
    )
    gaps: list[float | None] = [None] * len(moments)
    for before, after in itertools.pairwise(order):
        gaps[after] = (moments[after].after_s or 0.0) - (moments[before].after_s or 0.0)
    return gaps
