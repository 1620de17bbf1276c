"""Turning a fault's target string into member names, at the moment the fault fires.

    primary          the member that says it is PRIMARY
    secondary        one SECONDARY, picked at random
    secondaries      every SECONDARY
    secondary:<n>    the n-th SECONDARY in member order (1-based), for rolling procedures
    any              one member, picked at random
    majority         floor(n/2)+1 members, picked at random
    minority         floor((n-1)/2) members, picked at random (never empty)
    region:<name>    every member of that region
    m1 / m1,m2       those members

A target that resolves to nothing is refused with one line (TargetError); the caller then
changes nothing. Random picks use the caller's Random, so a seeded drill repeats them.
"""

from __future__ import annotations

import random

from chaos.backends.base import Member
from chaos.backends.health import MemberStatus, current_primary
from contract.errors import TargetError

ROLES = ("primary", "secondary", "secondaries", "any", "majority", "minority")


def resolve(
    target: str, members: list[Member], statuses: list[MemberStatus], rng: random.Random
) -> list[str]:
    names = [m.name for m in members]
    target = target.strip()
    if target == "primary":
        primary = current_primary(statuses)
        if primary is None:
            raise TargetError("target primary: there is no primary right now")
        return [primary.name]
    if target in ("secondary", "secondaries"):
        secondaries = [s.name for s in statuses if s.state == "SECONDARY"]
        if not secondaries:
            raise TargetError(f"target {target}: there is no SECONDARY right now")
        return secondaries if target == "secondaries" else [rng.choice(secondaries)]
    if target.startswith("secondary:"):
        ordinal = target.removeprefix("secondary:")
        secondaries = [
            s.name for s in sorted(statuses, key=lambda s: names.index(s.name)) if s.state == "SECONDARY"
        ]
        if not ordinal.isdigit() or int(ordinal) < 1:
            raise TargetError(f"target {target}: expected secondary:<n> with n = 1, 2, ...")
        if int(ordinal) > len(secondaries):
            raise TargetError(
                f"target {target}: there are only {len(secondaries)} SECONDARY members right now"
            )
        return [secondaries[int(ordinal) - 1]]
    if target == "any":
        return [rng.choice(names)]
    if target in ("majority", "minority"):
        size = len(names) // 2 + 1 if target == "majority" else (len(names) - 1) // 2
        if size == 0:
            raise TargetError(f"target minority: a set of {len(names)} member(s) has no minority")
        return sorted(rng.sample(names, size), key=names.index)
    if target.startswith("region:"):
        region = target.removeprefix("region:")
        hit = [m.name for m in members if m.region == region]
        if not hit:
            regions = sorted({m.region for m in members if m.region}) or ["none defined"]
            known = ", ".join(regions)
            raise TargetError(f"target {target}: no member is in region {region!r} (regions: {known})")
        return hit
    wanted = [t.strip() for t in target.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in names]
    if not wanted or unknown:
        roles = ", ".join(ROLES)
        raise TargetError(
            f"unknown target {target!r}: use {roles}, region:<name> or a member ({', '.join(names)})"
        )
    return list(dict.fromkeys(wanted))
