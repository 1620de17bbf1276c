"""`failpoint`: `configureFailPoint failCommand` presets on the target members; healed with mode off."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chaos.faults.kind import FaultContext, FaultSpec, HealStep, admin_command

FAILPOINT_COMMANDS = ["insert", "update", "delete", "find", "aggregate", "findAndModify", "getMore", "count"]


class Failpoint(FaultSpec):
    """`configureFailPoint failCommand` presets on the target members; healed with mode off.

    slow   block each matching command for `block_ms`
    drop   close the connection instead of answering
    error  answer with `error_code` (default 91 ShutdownInProgress) and `error_labels`
    Needs test commands enabled (mongod --setParameter enableTestCommands=1).
    """

    kind: Literal["failpoint"] = "failpoint"
    layer = "failpoint"
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

    def plan(self, ctx: FaultContext) -> list[HealStep]:
        return [HealStep(op="failpoint_off", member=m) for m in ctx.members]

    def apply(self, ctx: FaultContext) -> dict[str, object]:
        for name in ctx.members:
            admin_command(ctx.cluster, name, self.command_document())
        return {}
