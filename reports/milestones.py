"""A fault's anatomy as the moments a reader follows, in the order they happened:

    injected → detected → new primary elected → driver found it → writes recovered (RTO)
    → throughput recovered

Each moment is seconds after the injection, or None when it was not measured (the summary's
notes say why). The moments are listed in time order (ties keep the order above), unmeasured
ones last; the analysis has already checked that the ones that must follow each other do
(`reports.failover.causal_errors`) and left out a moment that broke that order. The HTML bar
and the Markdown lines both draw from here.
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
    """The fault's moments in time order, unmeasured ones last."""
    detection, election, rediscovery = fault.detection, fault.election, fault.rediscovery
    writes, throughput = fault.writes, fault.throughput
    found = writes.recovered if writes is not None else None
    regained = throughput.recovered if throughput is not None else None
    story = [
        Milestone("injected", "injected", 0.0, f"{fault.kind} {fault.target} → {', '.join(fault.members)}"),
        Milestone(
            "detected",
            "detected",
            detection.at.after_s if detection else None,
            _detection(fault) if detection else "no request failed or stalled",
        ),
        Milestone(
            "elected",
            "new primary elected",
            election.at.after_s if election else None,
            _election(fault) if election else "no new primary seen by the probes",
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
            "writes recovered",
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
    measured = [m for m in story if m.after_s is not None]
    measured.sort(key=lambda m: m.after_s or 0.0)  # stable: ties keep the story's order
    return measured + [m for m in story if m.after_s is None]


def _detection(fault: FaultAnatomy) -> str:
    """Both candidates: the first stall and the first failure, each with its request's start."""
    detection = fault.detection
    assert detection is not None
    parts = []
    for how, symptom in (("stalled", detection.first_stalled), ("failed", detection.first_failed)):
        if symptom is None:
            continue
        cls = f", {symptom.error_class}" if symptom.error_class else ""
        started = offset(symptom.started.after_s)
        parts.append(f"first {how} {offset(symptom.at.after_s)}: {symptom.op} (started {started}{cls})")
    if not parts:  # a summary written before both were recorded
        cls = f" ({detection.error_class})" if detection.error_class else ""
        return f"{detection.op} {detection.how}{cls}"
    return "; ".join(parts)


def _election(fault: FaultAnatomy) -> str:
    election = fault.election
    assert election is not None
    text = election.new_primary + (f", term {election.term}" if election.term is not None else "")
    if election.not_before is not None:
        text += f", between {offset(election.not_before.after_s)} and {offset(election.at.after_s)}"
    if election.witnessed == "driver" and election.probed is not None:
        text += f" (a driver found it first; the probes saw it {offset(election.probed.after_s)})"
    return text


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
