"""A scenario's `alerts:` section: which alerting rules a real Prometheus evaluates during the
drill, and what the drill expects of them.

    alerts:
      rules: [../alerts/ai-hub.rules.yml]      # default: the guide's rules, shipped
      for: {PrimaryUnavailable: 5s, "*": 10s}  # the drill's own `for:`, shown in the report
      expect:                                  # a fault kind (or id) -> alerts it must fire
        kill: [PrimaryUnavailable]
        f2: [ReplicationLagCritical]

`hubchaos run --prometheus` gives a scenario without the section the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chaos.monitoring.rules import ALL_ALERTS, read_rule_files
from contract.durations import Duration
from contract.errors import UsageError

SHIPPED_RULES = Path(__file__).resolve().parents[2] / "alerts" / "ai-hub.rules.yml"


class AlertsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    enabled: bool = True
    rules: list[Path] = Field(default_factory=lambda: [SHIPPED_RULES], min_length=1)
    # An alert's `for:` in this drill, by alert name ("*": every alert not named).
    for_: dict[str, Duration] = Field(default_factory=dict, alias="for")
    expect: dict[str, list[str]] = Field(default_factory=dict)
    # Debian's binary, found on PATH (or a path to it).
    prometheus: str = "prometheus"
    scrape_interval: Annotated[Duration, Field(ge=0.1, le=60)] = 1.0

    @field_validator("rules")
    @classmethod
    def _readable(cls, rules: list[Path]) -> list[Path]:
        try:
            read_rule_files(rules)  # a missing or malformed file is refused with the scenario
        except UsageError as exc:
            raise ValueError(str(exc)) from None
        return rules

    @model_validator(mode="after")
    def _known_alerts(self) -> AlertsSpec:
        names = {rule.name for rule in read_rule_files(self.rules)}
        named = [(f"for.{n}", n) for n in self.for_ if n != ALL_ALERTS]
        named += [(f"expect.{key}", n) for key, alerts in self.expect.items() for n in alerts]
        for where, name in named:
            if name not in names:
                raise ValueError(
                    f"{where}: no alerting rule {name!r} in {', '.join(map(str, self.rules))} "
                    f"(alerts: {', '.join(sorted(names))})"
                )
        return self
