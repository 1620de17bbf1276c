"""What a fault is, as data: one pydantic model per kind, told apart by `kind:`.

The scenario's fault timeline embeds these (adding `at`, `every`, `heal_after`); the CLI builds
them from `hubchaos fault <kind> --target ... --param value`. Targets are strings resolved
when the fault fires (see targeting.py): primary, secondary, secondaries, any, majority,
minority, region:<name>, or member names separated by commas.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from chaos.errors import UsageError


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = "primary"

    def params(self) -> dict[str, Any]:
        """The kind's parameters (everything but kind and target), for the fault timeline."""
        return self.model_dump(exclude={"kind", "target"}, exclude_none=True)


class Kill(_Fault):
    """SIGKILL (docker kill); restarted after `restart_after_s` if given, else when healed."""

    kind: Literal["kill"] = "kill"
    restart_after_s: float | None = Field(None, ge=0)


class Stop(_Fault):
    """Graceful shutdown (SIGTERM / docker stop); started again when healed."""

    kind: Literal["stop"] = "stop"
    restart_after_s: float | None = Field(None, ge=0)


class Restart(_Fault):
    """Stop (gracefully, or SIGKILL with graceful: false) and start again at once."""

    kind: Literal["restart"] = "restart"
    graceful: bool = True


class Pause(_Fault):
    """SIGSTOP (docker pause): the member is there but answers nothing until resumed."""

    kind: Literal["pause"] = "pause"


class StepDown(_Fault):
    """replSetStepDown on the target (normally the primary); healed with replSetFreeze 0."""

    kind: Literal["stepdown"] = "stepdown"
    step_down_secs: int = Field(60, ge=1)
    secondary_catch_up_period_secs: int = Field(10, ge=0)
    force: bool = False


class Freeze(_Fault):
    """replSetFreeze: the target may not stand for election for `seconds`; healed with 0."""

    kind: Literal["freeze"] = "freeze"
    target: str = "secondary"
    seconds: int = Field(60, ge=1)


class Partition(_Fault):
    """Cut network links with iptables in the members' namespaces.

    isolate  each target member loses its links to every other member, and to the clients too
             unless `cut_clients: false` (isolating the primary from the set while the clients
             still reach it is `{mode: isolate, target: primary, cut_clients: false}`)
    split    the targets on one side, the other members on the other; clients reach both
    bridge   the target member alone sees both halves of the others, which do not see each other
    """

    kind: Literal["partition"] = "partition"
    mode: Literal["isolate", "split", "bridge"] = "isolate"
    cut_clients: bool | None = None

    @property
    def clients_cut(self) -> bool:
        return self.cut_clients if self.cut_clients is not None else self.mode == "isolate"


class Degrade(_Fault):
    """Slow or lossy links: added latency (with jitter), packet loss, a bandwidth cap.

    Everything the target members send is affected, as netem on their interfaces would do.
    `method: auto` uses netem where the kernel has it and otherwise the userspace relay
    (latency, jitter), iptables `statistic` (loss) and tbf (bandwidth) - see degrade.py.
    """

    kind: Literal["degrade"] = "degrade"
    latency_ms: float = Field(0.0, ge=0, le=60_000)
    jitter_ms: float = Field(0.0, ge=0, le=60_000)
    loss_pct: float = Field(0.0, ge=0, le=100)
    rate_kbit: int | None = Field(None, ge=8)
    method: Literal["auto", "netem", "fallback"] = "auto"

    @model_validator(mode="after")
    def _something(self) -> Degrade:
        if not (self.latency_ms or self.loss_pct or self.rate_kbit):
            raise ValueError("degrade needs latency_ms, loss_pct or rate_kbit")
        if self.jitter_ms > self.latency_ms:
            raise ValueError("jitter_ms may not exceed latency_ms")
        return self


FAILPOINT_COMMANDS = ["insert", "update", "delete", "find", "aggregate", "findAndModify", "getMore", "count"]


class Failpoint(_Fault):
    """`configureFailPoint failCommand` presets on the target members; healed with mode off.

    slow   block each matching command for `block_ms`
    drop   close the connection instead of answering
    error  answer with `error_code` (default 91 ShutdownInProgress) and `error_labels`
    Needs test commands enabled (mongod --setParameter enableTestCommands=1).
    """

    kind: Literal["failpoint"] = "failpoint"
    preset: Literal["slow", "drop", "error"] = "slow"
    commands: list[str] = Field(default_factory=lambda: list(FAILPOINT_COMMANDS), min_length=1)
    block_ms: int = Field(1000, ge=0)
    error_code: int = 91
    error_labels: list[str] | None = None
    times: int | None = Field(None, ge=1)
    probability: float | None = Field(None, gt=0, le=1)
    app_name: str | None = None

    def command_document(self) -> dict[str, Any]:
        if self.times is not None:
            mode: Any = {"times": self.times}
        elif self.probability is not None:
            mode = {"activationProbability": self.probability}
        else:
            mode = "alwaysOn"
        data: dict[str, Any] = {"failCommands": list(self.commands)}
        if self.preset == "slow":
            data.update(blockConnection=True, blockTimeMS=self.block_ms)
        elif self.preset == "drop":
            data["closeConnection"] = True
        else:
            data["errorCode"] = self.error_code
            if self.error_labels is not None:
                data["errorLabels"] = list(self.error_labels)
        if self.app_name is not None:
            data["appName"] = self.app_name
        return {"configureFailPoint": "failCommand", "mode": mode, "data": data}


FaultSpec = Annotated[
    Kill | Stop | Restart | Pause | StepDown | Freeze | Partition | Degrade | Failpoint,
    Field(discriminator="kind"),
]
FAULT_ADAPTER: TypeAdapter[FaultSpec] = TypeAdapter(FaultSpec)
KINDS = ("kill", "stop", "restart", "pause", "stepdown", "freeze", "partition", "degrade", "failpoint")
# Faults that take a member down or cut it off: refused on external members off the allowlist.
DESTRUCTIVE = frozenset({"kill", "stop", "restart", "pause", "partition", "degrade"})
NETWORK = frozenset({"partition", "degrade"})


def parse_fault(data: dict[str, Any]) -> FaultSpec:
    """A fault spec from plain data; a bad parameter is one UsageError naming it."""
    try:
        return FAULT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"][1:]) or "kind"
        raise UsageError(f"fault {data.get('kind', '?')}: {loc}: {err['msg']}") from None
