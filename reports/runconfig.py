"""What a run was configured with, read back from its scenario.yaml: the replica set's election
settings, the workload's driver options and the load's shape, and whether its timing is
production's.

A drill's failover figures depend on two clocks: mongod's election (`electionTimeoutMillis`,
`heartbeatIntervalMillis`; mongod and Atlas default to 10000 and 2000) and the driver's
(`heartbeatFrequencyMS`, default 10000, and the timeouts). A run that shortens either measures a
faster failover than production would see: `Timing` says so, and what was shortened, so that the
report can show a "timing: shortened" badge beside its verdict. Options that differ from the
production guide's driver profile are listed as well.

Only the fields read here are validated; the rest of the scenario belongs to `chaos/`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract.driver import (
    ELECTION_TIMEOUT_MS,
    GUIDE,
    HEARTBEAT_INTERVAL_MS,
    DriverOptions,
    from_profile,
)
from contract.errors import AnalysisError, describe_validation_error
from reports.results import Result

# The workload sections whose `driver:` overrides single options for one user class.
CLASS_SECTIONS = ("hub", "canary", "ingest")
# How a scenario says its timing is not production's, in its name or description.
DECLARED = re.compile(r"\bshort(ened)?\b|\bfast\b", re.IGNORECASE)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ClusterSettings(_Lenient):
    election_timeout_ms: int = Field(ELECTION_TIMEOUT_MS, alias="electionTimeoutMillis")
    heartbeat_interval_ms: int = Field(HEARTBEAT_INTERVAL_MS, alias="heartbeatIntervalMillis")
    catch_up_timeout_ms: int | None = Field(None, alias="catchUpTimeoutMillis")


class _Target(_Lenient):
    backend: str = "local"
    members: list[Any] | int = 3
    settings: ClusterSettings = Field(default_factory=ClusterSettings)


class _Stage(_Lenient):
    users: int = 0


class _Workload(_Lenient):
    users: int = 20
    workers: int = 0
    stages: list[_Stage] | None = None
    driver: dict[str, Any] = Field(default_factory=dict)


class _Scenario(_Lenient):
    name: str = ""
    description: str = ""
    target: _Target = Field(default_factory=_Target)
    workload: _Workload = Field(default_factory=_Workload)


class RunConfig(Result):
    name: str
    description: str
    backend: str
    members: int
    cluster: ClusterSettings
    driver: DriverOptions  # the workload's common profile
    class_drivers: dict[str, DriverOptions]  # user-class sections that override single options
    users: int  # the most users the load ran at once
    workers: int


def run_config(scenario: dict[str, Any] | None) -> RunConfig | None:
    """The configuration of a run's scenario.yaml as `contract.rundir.read_scenario` read it (None
    without one). AnalysisError naming the field when a value read here is invalid."""
    from contract.rundir import SCENARIO  # noqa: PLC0415 - `hubchaos validate` needs no Arrow types

    if scenario is None:
        return None
    try:
        return parse_config(scenario)
    except ValueError as exc:
        raise AnalysisError(f"{SCENARIO}: {exc}") from None


def parse_config(raw: dict[str, Any]) -> RunConfig:
    """The configuration of a scenario as data (a run's scenario.yaml); ValueError naming the
    field when a value read here is invalid."""
    try:
        scenario = _Scenario.model_validate(raw)
        workload = raw.get("workload") if isinstance(raw.get("workload"), dict) else {}
        driver = from_profile(scenario.workload.driver)
        class_drivers = {}
        for section in CLASS_SECTIONS:
            overrides = (workload.get(section) or {}).get("driver") if isinstance(workload, dict) else None
            if overrides:
                class_drivers[section] = from_profile({**scenario.workload.driver, **overrides})
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc)) from None
    members = scenario.target.members
    stages = scenario.workload.stages
    return RunConfig(
        name=scenario.name,
        description=scenario.description,
        backend=scenario.target.backend,
        members=members if isinstance(members, int) else len(members),
        cluster=scenario.target.settings,
        driver=driver,
        class_drivers=class_drivers,
        users=max(s.users for s in stages) if stages else scenario.workload.users,
        workers=scenario.workload.workers,
    )


class Timing(Result):
    """Whether a run's failover clocks are production's."""

    production: bool  # nothing shortened
    shortened: list[str]  # each shortened setting, with production's value
    driver_changes: list[str]  # options that differ from the guide's driver profile
    declared: bool  # the scenario's name or description says its timing is shortened
    election_timeout_ms: int
    heartbeat_interval_ms: int


def timing(config: RunConfig) -> Timing:
    cluster = config.cluster
    shortened = []
    if cluster.election_timeout_ms < ELECTION_TIMEOUT_MS:
        shortened.append(
            f"electionTimeoutMillis {cluster.election_timeout_ms} (production {ELECTION_TIMEOUT_MS})"
        )
    if cluster.heartbeat_interval_ms < HEARTBEAT_INTERVAL_MS:
        shortened.append(
            f"heartbeatIntervalMillis {cluster.heartbeat_interval_ms} (production {HEARTBEAT_INTERVAL_MS})"
        )
    default_beat = DriverOptions().value("heartbeat_frequency_ms")
    common_beat = config.driver.value("heartbeat_frequency_ms")
    for section, options in [("", config.driver), *config.class_drivers.items()]:
        beat = options.value("heartbeat_frequency_ms")
        if beat < default_beat and (not section or beat != common_beat):
            where = f" ({section} users)" if section else ""
            shortened.append(f"heartbeatFrequencyMS {beat}{where} (driver default {default_beat})")
    # The application's profile; the user classes' own overrides (the canary reads from the
    # primary by design) are the suite's instruments, not the application's settings.
    changes = [
        f"{name} {_show(ours)} (guide: {_show(guide)})"
        for name, ours, guide in config.driver.differences(GUIDE)
        if name != "heartbeatFrequencyMS"
    ]
    return Timing(
        production=not shortened,
        shortened=shortened,
        driver_changes=changes,
        declared=bool(DECLARED.search(f"{config.name} {config.description}")),
        election_timeout_ms=cluster.election_timeout_ms,
        heartbeat_interval_ms=cluster.heartbeat_interval_ms,
    )


def _show(value: Any) -> str:
    return "unset" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
