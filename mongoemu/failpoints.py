"""Fail points, as `configureFailPoint` sets them in mongod's test builds.

`failCommand` follows the semantics drivers' test suites rely on: it matches external
clients' commands by name (and optionally appName), then blocks, closes the connection,
fails with `errorCode` or attaches a `writeConcernError`. Other fail point names are stored
so that subsystems can look them up with `FailPoints.get(name)`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from bson import Int64

from mongoemu.errors import CommandError, bad_value


@dataclass(slots=True)
class FailPoint:
    name: str
    mode: str = "off"  # off | alwaysOn | times | skip | activationProbability
    remaining: int = 0
    skip: int = 0
    probability: float = 1.0
    data: dict[str, Any] = field(default_factory=dict)
    times_entered: int = 0

    @property
    def active(self) -> bool:
        return self.mode != "off"

    def fire(self) -> bool:
        """Count one evaluation and say whether the fail point triggers for it."""
        if self.mode == "off":
            return False
        if self.mode == "skip":
            if self.skip > 0:
                self.skip -= 1
                return False
            self.mode = "alwaysOn"
        if self.mode == "activationProbability" and random.random() >= self.probability:
            return False
        if self.mode == "times":
            if self.remaining <= 0:
                self.mode = "off"
                return False
            self.remaining -= 1
            if self.remaining == 0:
                self.mode = "off"
        self.times_entered += 1
        return True


@dataclass(frozen=True, slots=True)
class CommandFault:
    """What `failCommand` decided for one command."""

    block_ms: int = 0
    close_connection: bool = False
    error: CommandError | None = None
    write_concern_error: dict[str, Any] | None = None


class FailPoints:
    def __init__(self) -> None:
        self._points: dict[str, FailPoint] = {}

    def configure(self, name: str, mode: Any, data: dict[str, Any] | None) -> int:
        """Apply a `configureFailPoint` request; return the previous hit count (mongod's `count`)."""
        point = self._points.setdefault(name, FailPoint(name))
        previous = point.times_entered
        point.data = dict(data or {})
        point.times_entered = 0
        if mode in ("off", "alwaysOn"):
            point.mode = mode
        elif isinstance(mode, dict) and len(mode) == 1:
            ((key, value),) = mode.items()
            if key == "times":
                point.mode, point.remaining = "times", int(value)
            elif key == "skip":
                point.mode, point.skip = "skip", int(value)
            elif key == "activationProbability":
                p = float(value)
                if not 0.0 <= p <= 1.0:
                    raise bad_value("activationProbability must be between 0 and 1")
                point.mode, point.probability = "activationProbability", p
            else:
                raise bad_value(f"unknown fail point mode {key!r}")
        else:
            raise bad_value(f"invalid fail point mode {mode!r}")
        return previous

    def get(self, name: str) -> FailPoint | None:
        return self._points.get(name)

    def check_command(self, command_name: str, app_name: str | None, internal: bool) -> CommandFault | None:
        point = self._points.get("failCommand")
        if point is None or not point.active:
            return None
        data = point.data
        if command_name not in data.get("failCommands", ()):
            return None
        if internal and not data.get("failInternalCommands", False):
            return None
        if "appName" in data and data["appName"] != app_name:
            return None
        if not point.fire():
            return None
        error = None
        if "errorCode" in data:
            code = int(data["errorCode"])
            error = CommandError(
                code,
                f"Failing command {command_name!r} via 'failCommand' failpoint",
                labels=tuple(data.get("errorLabels", ())),
                explicit_labels="errorLabels" in data,
            )
        return CommandFault(
            block_ms=int(data.get("blockTimeMS", 0)) if data.get("blockConnection") else 0,
            close_connection=bool(data.get("closeConnection")),
            error=error,
            write_concern_error=data.get("writeConcernError"),
        )


def count_document(count: int) -> dict[str, Any]:
    return {"count": Int64(count), "ok": 1.0}
