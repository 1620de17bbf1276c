"""Server parameters: what `getParameter` reports and the few that `setParameter` changes.

Only parameters the emulator has an answer for are listed: their values describe what the
emulator does (e.g. `authenticationMechanisms` is empty: it has no authentication). Changing
one at runtime is allowed only where a part of the emulator reads the new value; the others are
refused as mongod refuses a startup-only parameter, so no setting is accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mongoemu.errors import CommandError


@dataclass(frozen=True, slots=True)
class Parameter:
    default: Any
    parse: Callable[[Any], Any]
    runtime: bool = False  # settable with setParameter (something reads the current value)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() in ("1", "true"):
            return True
        if value.lower() in ("0", "false"):
            return False
        raise ValueError(f"{value!r} is not a boolean")
    if isinstance(value, bool | int | float):
        return bool(value)
    raise ValueError(f"{value!r} is not a boolean")


def _positive_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    number = int(value)
    if number <= 0 or number != float(value):
        raise ValueError(f"{value!r} is not a positive integer")
    return number


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    number = int(value)
    if number < 0 or number != float(value):
        raise ValueError(f"{value!r} is not a non-negative integer")
    return number


def _fixed(value: Any) -> Any:
    return value


PARAMETERS: dict[str, Parameter] = {
    "featureCompatibilityVersion": Parameter({"version": "6.0"}, _fixed),
    "enableTestCommands": Parameter(True, _bool),
    "requireApiVersion": Parameter(False, _bool),
    "authenticationMechanisms": Parameter([], _fixed),
    "transactionLifetimeLimitSeconds": Parameter(60, _positive_int, runtime=True),
    "minSnapshotHistoryWindowInSeconds": Parameter(300, _positive_int, runtime=True),
    "localLogicalSessionTimeoutMinutes": Parameter(30, _positive_int),
    "cursorTimeoutMillis": Parameter(600_000, _positive_int),
    "ttlMonitorEnabled": Parameter(True, _bool, runtime=True),
    "ttlMonitorSleepSecs": Parameter(60, _positive_int, runtime=True),
    "notablescan": Parameter(False, _bool),
    "maxBSONDepth": Parameter(200, _positive_int),
    # A signalled shutdown: a primary's stepdown and then a secondary's quiesce period (member.py).
    "shutdownTimeoutMillisForSignaledShutdown": Parameter(15_000, _non_negative_int, runtime=True),
}


class ServerParameters:
    def __init__(self, startup: Mapping[str, str]) -> None:
        self._values = {name: p.default for name, p in PARAMETERS.items()}
        for name, raw in startup.items():
            if name in PARAMETERS:
                try:
                    self._values[name] = PARAMETERS[name].parse(raw)
                except ValueError as exc:
                    raise SystemExit(f"mongoemu: --setParameter {name}={raw}: {exc}") from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def get(self, body: Mapping[str, Any], command_name: str) -> dict[str, Any]:
        """mongod's getParameter: `'*'` for all, else the fields named with a value other than
        the command's own; InvalidOptions when none of them is a known parameter."""
        if body.get(command_name) == "*" or (
            isinstance(body.get(command_name), Mapping) and body[command_name].get("allParameters")
        ):
            return dict(self._values)
        names = [k for k in body if k != command_name and not k.startswith("$")]
        found = {name: self._values[name] for name in names if name in self._values}
        if not found:
            raise CommandError(72, "no option found to get")
        return found

    def set(self, body: Mapping[str, Any], command_name: str) -> dict[str, Any]:
        """mongod's setParameter: one or more `name: value`; replies with the old value in `was`."""
        names = [k for k in body if k != command_name and not k.startswith("$") and k != "comment"]
        if not names:
            raise CommandError(72, "no option found to set, use help:true to see options ")
        updates: dict[str, Any] = {}
        for name in names:
            spec = PARAMETERS.get(name)
            if spec is None:
                raise CommandError(
                    72, f"attempted to set unrecognized parameter [{name}], use help:true to see options "
                )
            if not spec.runtime:
                raise CommandError(
                    72, f"not allowed to change [{name}] at runtime (the emulator only reads it at startup)"
                )
            try:
                updates[name] = spec.parse(body[name])
            except (TypeError, ValueError) as exc:
                raise CommandError(2, f"error setting parameter {name} to {body[name]!r}: {exc}") from None
        was = self._values[names[0]]
        self._values.update(updates)
        return {"was": was}
