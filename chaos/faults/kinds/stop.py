"""`stop`: graceful shutdown (SIGTERM / docker stop); started again when healed."""

from __future__ import annotations

from typing import Literal

from chaos.faults.kind import FaultContext
from chaos.faults.kinds.kill import Kill


class Stop(Kill):
    """Graceful shutdown (SIGTERM / docker stop); restarted after `restart_after_s` if given,
    else when healed. Planned and healed as a kill is: the member is started again."""

    kind: Literal["stop"] = "stop"  # type: ignore[assignment]

    def apply(self, ctx: FaultContext) -> dict[str, object]:
        for name in ctx.members:
            ctx.cluster.stop(name)
        return {}
