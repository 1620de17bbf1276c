"""The command table: each handler module registers its commands with `@command`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mongoemu.member import Member
    from mongoemu.server import Connection


@dataclass(slots=True)
class CommandContext:
    """Everything a handler may look at besides its own arguments."""

    member: Member
    connection: Connection
    db: str
    name: str
    body: dict[str, Any]
    lsid: dict[str, Any] | None = None
    txn_number: int | None = None
    write_concern: dict[str, Any] | None = None
    read_concern: dict[str, Any] | None = None
    read_preference: dict[str, Any] | None = None
    max_time_ms: int | None = None
    secondary_ok: bool = False

    @property
    def argument(self) -> Any:
        """The value of the command's first field, e.g. the collection name of `find`."""
        return self.body[self.name]

    @property
    def is_retryable_write(self) -> bool:
        return self.lsid is not None and self.txn_number is not None


Handler = Callable[[CommandContext], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    handler: Handler
    # A write refuses to run unless this member may accept writes for the database.
    write: bool = False
    # A read that needs a primary unless the client allows secondaries.
    read: bool = False
    admin_only: bool = False
    # Allowed before the member has a replica-set config or while it cannot serve reads.
    always_allowed: bool = False


COMMANDS: dict[str, CommandSpec] = {}


def command(
    name: str,
    *aliases: str,
    write: bool = False,
    read: bool = False,
    admin_only: bool = False,
    always_allowed: bool = False,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        spec = CommandSpec(name, handler, write, read, admin_only, always_allowed)
        for key in (name, *aliases):
            if key in COMMANDS:
                raise RuntimeError(f"command {key!r} registered twice")
            COMMANDS[key] = spec
        return handler

    return register


def lookup(name: str) -> CommandSpec | None:
    spec = COMMANDS.get(name)
    if spec is None:
        # mongod matches a few legacy names case-insensitively (ismaster, findandmodify).
        spec = COMMANDS.get(name.lower())
    return spec
