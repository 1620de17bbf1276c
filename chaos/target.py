"""The `target:` section of a scenario: which replica set a drill acts on, and how to reach it.

One pydantic model per backend, told apart by `backend:` and found through the backend
registry `BACKENDS` (built-ins below, entry points `hubchaos.backends`, or `module:Class`), so
that a wrong key is refused with the field's name. Each model names the `Cluster` class that
runs it (`cluster`), imported only when a cluster is made, so that reading a scenario imports
no Docker SDK. Replica-set settings keep MongoDB's spelling
(`electionTimeoutMillis`, ...) because they are sent as they are in `replSetInitiate`.

    target:
      backend: local               # local | docker | compose | external
      set_name: rs0
      members:                     # or a count: `members: 3`
        - {name: eu-1, region: eu, priority: 2}
        - {name: eu-2, region: eu, priority: 2}
        - {name: us-1, region: us}
      settings: {electionTimeoutMillis: 2000, heartbeatIntervalMillis: 500}
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pymongo.errors import ConfigurationError, InvalidURI
from pymongo.uri_parser import parse_uri

from chaos.redact import redact_text, uri_secrets
from contract.errors import ScenarioError, UsageError
from contract.registry import Registry, subclass_of
from contract.safeyaml import read

# Member names end up in network namespace, container and interface-free labels: keep them tame.
MEMBER_NAME = r"^[a-z0-9][a-z0-9-]{0,30}$"

EMULATOR_IMAGE = "hubchaos/mongoemu:latest"
MONGO_IMAGE = "mongo:7.0"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ReplSetSettings(_Model):
    """`settings` of the replica-set configuration document, in MongoDB's names."""

    election_timeout_millis: int = Field(10_000, alias="electionTimeoutMillis", ge=1)
    heartbeat_interval_millis: int = Field(2_000, alias="heartbeatIntervalMillis", ge=1)
    heartbeat_timeout_secs: int | None = Field(None, alias="heartbeatTimeoutSecs", ge=1)
    catch_up_timeout_millis: int | None = Field(None, alias="catchUpTimeoutMillis", ge=-1)
    chaining_allowed: bool | None = Field(None, alias="chainingAllowed")

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class MemberSpec(_Model):
    name: str = Field(pattern=MEMBER_NAME)
    region: str | None = None
    priority: float = Field(1.0, ge=0, le=1000)
    votes: Literal[0, 1] = 1
    tags: dict[str, str] = Field(default_factory=dict)
    # compose: the service that runs this member (default: the name); external: the member's
    # host:port as the replica set knows it, used to attach a name and region to it.
    service: str | None = None
    host: str | None = None

    def config_options(self) -> dict[str, Any]:
        """This member's fields in a replSetInitiate member document (besides _id and host)."""
        tags = dict(self.tags)
        if self.region is not None:
            tags.setdefault("region", self.region)
        doc: dict[str, Any] = {"priority": self.priority, "votes": self.votes}
        if tags:
            doc["tags"] = tags
        return doc


def _expand_members(value: Any) -> Any:
    """`members: 3` is shorthand for three default members m0, m1, m2."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 50:
            raise ValueError("a replica set has 1 to 50 members")
        return [{"name": f"m{i}"} for i in range(value)]
    return value


class TargetBase(_Model):
    """What every backend's target has. A backend's model adds `backend: Literal["name"]`, its
    own fields, and `cluster`, the `module:Class` of its chaos.backends.base.Cluster."""

    backend: str
    cluster: ClassVar[str]
    set_name: str = Field("rs0", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    members: list[MemberSpec] = Field(default_factory=lambda: [MemberSpec(name=f"m{i}") for i in range(3)])
    settings: ReplSetSettings = Field(default_factory=ReplSetSettings)
    # wait-until-healthy: how long, and the replication lag a SECONDARY may have.
    healthy_timeout_s: float = Field(90.0, gt=0)
    max_lag_s: float = Field(10.0, gt=0)

    @field_validator("members", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return _expand_members(value)

    def destructive_refusal(self) -> str | None:
        """Why destructive faults (kill, pause, partitions, ...) may not run against this
        target at all, or None; which members they may hit is checked when the cluster is known."""
        return None

    @field_validator("members")
    @classmethod
    def _unique_names(cls, members: list[MemberSpec]) -> list[MemberSpec]:
        seen: set[str] = set()
        for m in members:
            if m.name in seen:
                raise ValueError(f"member name {m.name!r} appears twice")
            seen.add(m.name)
        return members


class LocalTarget(TargetBase):
    """Member processes on this machine."""

    backend: Literal["local"] = "local"
    cluster = "chaos.backends.local:LocalCluster"
    # The member program: None runs `mongoemu` with this Python; otherwise e.g. ["/usr/bin/mongod"].
    binary: list[str] | None = None
    # namespaces: one network namespace and address per member (needs root), so partitions are
    # real; loopback: members share 127.0.0.1 and network faults are refused; auto: by privilege.
    network: Literal["auto", "namespaces", "loopback"] = "auto"
    # Address space carved into one /24 per cluster, for the members' namespaces.
    subnet: ipaddress.IPv4Network = ipaddress.IPv4Network("10.213.0.0/16")


class DockerTarget(TargetBase):
    """Members as containers on a user-defined Docker network, through testcontainers."""

    backend: Literal["docker"] = "docker"
    cluster = "chaos.backends.docker:DockerCluster"
    image: str = MONGO_IMAGE
    # Address space for the cluster's Docker network (one /24 is carved out per cluster); the
    # members get fixed addresses in it, which the replica set advertises (see docs/docker.md).
    subnet: ipaddress.IPv4Network = ipaddress.IPv4Network("10.214.0.0/16")
    # Ryuk removes the containers if the process that started them dies; "auto" uses it when its
    # image is present locally (no registry can be assumed) and never for `hubchaos cluster up`.
    reaper: Literal["auto", "on", "off"] = "auto"


class ComposeTarget(TargetBase):
    """The members of a Compose project (docker-compose.chaos.yml), attached to by service name."""

    backend: Literal["compose"] = "compose"
    cluster = "chaos.backends.compose:ComposeCluster"
    # The members come from the compose file (services labelled hubchaos.member), not from here.
    members: list[MemberSpec] = Field(default_factory=list)
    file: Path = Path("docker-compose.chaos.yml")
    project: str = Field("hubchaos", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    # Bring the stack up (and down afterwards), or attach to a stack someone else runs.
    manage: bool = True
    # The service that initiates the replica set and then exits (compose's init step).
    init_service: str | None = "rs-init"


class ExternalTarget(TargetBase):
    """An existing replica set reached through a URI: only non-destructive faults by default."""

    backend: Literal["external"] = "external"
    cluster = "chaos.backends.external:ExternalCluster"
    uri: str
    # Members (host or host:port) on which destructive faults (kill, stop, ...) are allowed.
    allowlist: list[str] = Field(default_factory=list)
    # Annotations (name, region) for the discovered members, matched by `host`.
    members: list[MemberSpec] = Field(default_factory=list)

    def destructive_refusal(self) -> str | None:
        if not self.allowlist:
            return (
                "the external target has no allowlist: list the members it may take down in "
                "target.allowlist (and nothing else of that cluster is touched)"
            )
        return None

    @field_validator("uri")
    @classmethod
    def _mongodb_uri(cls, uri: str) -> str:
        if not uri.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("uri must start with mongodb:// or mongodb+srv://")
        if uri.startswith("mongodb://"):
            # Parsing checks hosts, ports and options without connecting (an srv URI would
            # need a DNS look-up, so it is left to the connection).
            try:
                parse_uri(uri)
            except (InvalidURI, ConfigurationError, ValueError) as exc:
                raise ValueError(
                    f"not a valid MongoDB URI: {redact_text(str(exc), uri_secrets(uri))}"
                ) from None
        return uri


BACKENDS: Registry[type[TargetBase]] = Registry(
    "backend",
    "hubchaos.backends",
    {
        "local": "chaos.target:LocalTarget",
        "docker": "chaos.target:DockerTarget",
        "compose": "chaos.target:ComposeTarget",
        "external": "chaos.target:ExternalTarget",
    },
    check=subclass_of(TargetBase),
)


def target_model(data: Any) -> type[TargetBase]:
    """The model of a `target:` mapping, by its `backend` (default local); ValueError if unknown."""
    backend = data.get("backend", "local") if isinstance(data, dict) else "local"
    try:
        return BACKENDS.get(str(backend))
    except UsageError as exc:
        raise ValueError(str(exc)) from None


def validate_target(data: Any) -> Any:
    """For a pydantic field of type TargetBase: a mapping becomes its backend's model, so errors
    carry the field's own location."""
    if isinstance(data, dict):
        return target_model(data).model_validate(data)
    return data


def parse_target(data: Any, source: str = "<target>") -> TargetBase:
    """A target from plain data; a bad field is one ScenarioError naming the source and field."""
    try:
        return target_model(data).model_validate(data)
    except ValueError as exc:
        if not isinstance(exc, ValidationError):
            raise ScenarioError(str(exc), file=source, field="target.backend") from None
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ScenarioError(err["msg"], file=source, field=f"target.{loc}" if loc else "target") from None


def load_target(path: Path) -> TargetBase:
    """A target from a YAML file holding either a bare target or a scenario with `target:`."""
    data = read(path).data
    if isinstance(data, dict) and "target" in data:
        data = data["target"]
    return parse_target(data, str(path))
