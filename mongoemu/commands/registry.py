"""The command table: each handler module registers its commands with `@command`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mongoemu.operation import Operation

if TYPE_CHECKING:
    from bson import Timestamp

    from mongoemu.member import Member
    from mongoemu.server import Connection
    from mongoemu.transactions import Transaction


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
    # OP_MSG exhaustAllowed: the client reads further replies flagged moreToCome (exhaust.py).
    exhaust_allowed: bool = False
    # The multi-document transaction the command runs in (`autocommit: false`).
    transaction: Transaction | None = None
    # The cluster time a snapshot read outside transactions reads at.
    read_at: Timestamp | None = None
    # The command in progress: its deadline, interruption and turns on the event loop.
    op: Operation = field(default_factory=lambda: Operation("command"))

    @property
    def argument(self) -> Any:
        """The value of the command's first field, e.g. the collection name of `find`."""
        return self.body[self.name]

    @property
    def is_retryable_write(self) -> bool:
        """A retryable write's session fields: lsid and txnNumber without autocommit."""
        return self.lsid is not None and self.txn_number is not None and "autocommit" not in self.body


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

# Arguments any command may carry (drivers add them); not the command's own options.
GENERIC_ARGUMENTS = frozenset(
    {"$db", "lsid", "txnNumber", "autocommit", "startTransaction", "stmtId", "$clusterTime",
     "$readPreference", "readConcern", "writeConcern", "maxTimeMS", "comment", "apiVersion", "apiStrict",
     "apiDeprecationErrors", "$audit", "$client", "$configServerState", "$oplogQueryData", "$queryOptions",
     "$replData", "clientOperationKey", "databaseVersion", "shardVersion", "tracking_info", "coordinator",
     "maxTimeMSOpOnly", "allowImplicitCollectionCreation", "mayBypassWriteBlocking", "txnRetryCounter",
     "$configTime", "$topologyTime", "usesDefaultMaxTimeMS", "help"}
)  # fmt: skip

# mongod 6.0's commands (db/commands/*), so that one the emulator lacks is refused naming that.
MONGOD_COMMANDS = frozenset(
    """abortTransaction aggregate appendOplogNote applyOps authenticate autoSplitVector buildInfo
    checkShardingIndex cleanupOrphaned clearLog cloneCollectionAsCapped collMod collStats
    commitTransaction compact configureFailPoint connPoolStats connPoolSync connectionStatus
    convertToCapped count create createIndexes createRole createUser currentOp dataSize dbHash
    dbStats delete distinct driverOIDTest drop dropAllRolesFromDatabase dropAllUsersFromDatabase
    dropConnections dropDatabase dropIndexes dropRole dropUser emptycapped endSessions explain
    features filemd5 find findAndModify fsync fsyncUnlock getCmdLineOpts getDefaultRWConcern
    getDiagnosticData getFreeMonitoringStatus getLog getMore getParameter godinsert
    grantPrivilegesToRole grantRolesToRole grantRolesToUser hello hostInfo insert
    invalidateUserCache isMaster killAllSessions killAllSessionsByPattern killCursors killOp
    killSessions listCollections listCommands listDatabases listIndexes lockInfo logRotate logout
    mapReduce ping planCacheClear planCacheClearFilters planCacheListFilters planCacheSetFilter
    prepareTransaction profile reIndex refreshLogicalSessionCacheNow refreshSessions
    renameCollection replSetAbortPrimaryCatchUp replSetFreeze replSetGetConfig replSetGetRBID
    replSetGetStatus replSetHeartbeat replSetInitiate replSetMaintenance replSetReconfig
    replSetRequestVotes replSetResizeOplog replSetStepDown replSetStepUp replSetSyncFrom
    replSetUpdatePosition revokePrivilegesFromRole revokeRolesFromRole revokeRolesFromUser
    rolesInfo rotateCertificates saslContinue saslStart serverStatus setDefaultRWConcern
    setFeatureCompatibilityVersion setFreeMonitoring setIndexCommitQuorum setParameter
    setProfilingLevel shutdown sleep startSession top update updateRole updateUser usersInfo
    validate validateDBMetadata waitForFailPoint whatsmyuri""".split()  # noqa: SIM905
)


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


def not_found_message(name: str) -> str:
    """mongod's CommandNotFound message, saying so when mongod has the command and the emulator
    does not implement it."""
    if name in MONGOD_COMMANDS or name.lower() in {c.lower() for c in MONGOD_COMMANDS}:
        return f"no such command: '{name}' (mongod has it; the emulator does not implement it)"
    return f"no such command: '{name}'"


def lookup(name: str) -> CommandSpec | None:
    spec = COMMANDS.get(name)
    if spec is None:
        # mongod matches a few legacy names case-insensitively (ismaster, findandmodify).
        spec = COMMANDS.get(name.lower())
    return spec
