"""A MongoDB driver's connection options as the suite reasons about them, the production guide's
profile, and the drivers' own defaults.

The options that decide what an application sees when a replica set fails over: timeouts,
pools, monitoring, retries, write and read concern. Fields keep Python names and take the
drivers' spelling as aliases (`serverSelectionTimeoutMS`), which is how connection strings,
the Node.js driver and PyMongo's keyword arguments write them. `None` means "not set": the
driver's default applies (`DEFAULTS`, from PyMongo's `common.py` and the Node driver's
`connection_string.ts`, which differ on connectTimeoutMS).

The workload's driver profile (`locustfiles.settings.DriverProfile`, the scenario's
`workload.driver`) writes the same options in snake_case: `PROFILE_NAMES` maps them, so that
`hubchaos check-driver` and the analysis of a run read a scenario's driver as they read a
connection string.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Driver = Literal["pymongo", "node"]


class DriverOptions(BaseModel):
    """The failover-relevant options of one client; None leaves the driver's default."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    read_preference: str | None = Field(None, alias="readPreference")
    max_staleness_seconds: int | None = Field(None, alias="maxStalenessSeconds")
    max_pool_size: int | None = Field(None, alias="maxPoolSize", ge=0)
    min_pool_size: int | None = Field(None, alias="minPoolSize", ge=0)
    max_connecting: int | None = Field(None, alias="maxConnecting", ge=1)
    max_idle_time_ms: int | None = Field(None, alias="maxIdleTimeMS", ge=0)
    wait_queue_timeout_ms: int | None = Field(None, alias="waitQueueTimeoutMS", ge=0)
    server_selection_timeout_ms: int | None = Field(None, alias="serverSelectionTimeoutMS", ge=0)
    socket_timeout_ms: int | None = Field(None, alias="socketTimeoutMS", ge=0)
    connect_timeout_ms: int | None = Field(None, alias="connectTimeoutMS", ge=0)
    heartbeat_frequency_ms: int | None = Field(None, alias="heartbeatFrequencyMS", ge=0)
    min_heartbeat_frequency_ms: int | None = Field(None, alias="minHeartbeatFrequencyMS", ge=0)
    local_threshold_ms: int | None = Field(None, alias="localThresholdMS", ge=0)
    timeout_ms: int | None = Field(None, alias="timeoutMS", ge=0)
    server_monitoring_mode: Literal["auto", "stream", "poll"] | None = Field(
        None, alias="serverMonitoringMode"
    )
    retry_writes: bool | None = Field(None, alias="retryWrites")
    retry_reads: bool | None = Field(None, alias="retryReads")
    w: int | str | None = Field(None, alias="w")
    journal: bool | None = Field(None, alias="journal")
    wtimeout_ms: int | None = Field(None, alias="wtimeoutMS", ge=0)
    read_concern_level: str | None = Field(None, alias="readConcernLevel")
    direct_connection: bool | None = Field(None, alias="directConnection")
    load_balanced: bool | None = Field(None, alias="loadBalanced")

    def value(self, name: str, driver: Driver = "pymongo") -> Any:
        """The option in effect: as set, else the driver's default (None: no limit / unset)."""
        given = getattr(self, name)
        return given if given is not None else DEFAULTS[driver].get(name)

    def spelled(self, name: str) -> str:
        """An option's name as the drivers write it."""
        alias = type(self).model_fields[name].alias
        return alias or name

    def given(self) -> dict[str, Any]:
        """The options set, in the drivers' spelling."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def differences(self, other: DriverOptions, driver: Driver = "pymongo") -> list[tuple[str, Any, Any]]:
        """(option, this value, other value) for every option whose effective values differ."""
        names = type(self).model_fields
        return [
            (self.spelled(n), self.value(n, driver), other.value(n, driver))
            for n in names
            if self.value(n, driver) != other.value(n, driver)
        ]


# The drivers' defaults for the options above (unset ones: no limit). 0 for a timeout means
# "none" in both drivers; None here means the same.
_COMMON: dict[str, Any] = {
    "read_preference": "primary",
    "max_pool_size": 100,
    "min_pool_size": 0,
    "max_connecting": 2,
    "server_selection_timeout_ms": 30_000,
    "heartbeat_frequency_ms": 10_000,
    "min_heartbeat_frequency_ms": 500,
    "local_threshold_ms": 15,
    "server_monitoring_mode": "auto",
    "retry_writes": True,
    "retry_reads": True,
    "direct_connection": False,
    "load_balanced": False,
}
DEFAULTS: dict[Driver, dict[str, Any]] = {
    "pymongo": {**_COMMON, "connect_timeout_ms": 20_000},
    "node": {**_COMMON, "connect_timeout_ms": 30_000},
}

# The production guide's `mongoOptions`, verbatim: the hub's driver profile.
GUIDE = DriverOptions(
    readPreference="primaryPreferred",
    maxPoolSize=50,
    minPoolSize=5,
    serverSelectionTimeoutMS=5000,
    socketTimeoutMS=45000,
    retryWrites=True,
    retryReads=True,
    w="majority",
    journal=True,
)

# mongod's (and Atlas's) replica-set defaults, which production elections run with.
ELECTION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 2_000

# The workload's snake_case profile (locustfiles.settings.DriverProfile) → the drivers' names.
PROFILE_NAMES = {
    "read_preference": "readPreference",
    "max_pool_size": "maxPoolSize",
    "min_pool_size": "minPoolSize",
    "server_selection_timeout_ms": "serverSelectionTimeoutMS",
    "socket_timeout_ms": "socketTimeoutMS",
    "connect_timeout_ms": "connectTimeoutMS",
    "retry_writes": "retryWrites",
    "retry_reads": "retryReads",
    "w": "w",
    "journal": "journal",
    "wtimeout_ms": "wTimeoutMS",
    "read_concern": "readConcernLevel",
    "heartbeat_frequency_ms": "heartbeatFrequencyMS",
    "app_name": "appname",
}


def from_profile(profile: dict[str, Any]) -> DriverOptions:
    """The options of a workload driver profile as written in a scenario (snake_case, with
    `options` passed to MongoClient as they are); keys the model does not reason about
    (appname, tls, ...) are left out. ValueError naming a bad value."""
    spelled: dict[str, Any] = {}
    for key, value in profile.items():
        if key == "options" and isinstance(value, dict):
            spelled.update(value)
        elif value is not None:
            spelled[PROFILE_NAMES.get(key, key)] = value
    return options_from(spelled)


def options_from(spelled: dict[str, Any]) -> DriverOptions:
    """DriverOptions from options in the drivers' spelling, matched without regard to case as
    connection strings are (`wTimeoutMS` and `wtimeoutMS` alike); unknown names are left out."""
    by_lower = {
        (field.alias or name).lower(): field.alias or name
        for name, field in DriverOptions.model_fields.items()
    }
    known = {by_lower[k.lower()]: v for k, v in spelled.items() if k.lower() in by_lower}
    return DriverOptions.model_validate(known)
