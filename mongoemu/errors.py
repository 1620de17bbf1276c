"""Server errors as mongod reports them: a numeric code, its name, a message and error labels."""

from __future__ import annotations

from typing import Any

# The subset of mongod's error_codes.yml the emulator raises; any other code is one of mongod's
# assertion locations, named "Location<code>" as mongod names them.
CODE_NAMES: dict[int, str] = {
    1: "InternalError",
    2: "BadValue",
    4: "NoSuchKey",
    6: "HostUnreachable",
    9: "FailedToParse",
    11: "UserNotFound",
    13: "Unauthorized",
    14: "TypeMismatch",
    20: "IllegalOperation",
    26: "NamespaceNotFound",
    27: "IndexNotFound",
    28: "PathNotViable",
    40: "ConflictingUpdateOperators",
    43: "CursorNotFound",
    48: "NamespaceExists",
    50: "MaxTimeMSExpired",
    52: "DollarPrefixedFieldName",
    56: "EmptyFieldName",
    59: "CommandNotFound",
    64: "WriteConcernFailed",
    66: "ImmutableField",
    67: "CannotCreateIndex",
    72: "InvalidOptions",
    73: "InvalidNamespace",
    74: "NodeNotFound",
    79: "UnknownReplWriteConcern",
    85: "IndexOptionsConflict",
    86: "IndexKeySpecsConflict",
    89: "NetworkTimeout",
    91: "ShutdownInProgress",
    93: "InvalidReplicaSetConfig",
    94: "NotYetInitialized",
    96: "OperationFailed",
    100: "UnsatisfiableWriteConcern",
    103: "NewReplicaSetConfigurationIncompatible",
    109: "ConfigurationInProgress",
    112: "WriteConflict",
    115: "CommandNotSupported",
    117: "ConflictingOperationInProgress",
    121: "DocumentValidationFailure",
    133: "FailedToSatisfyReadPreference",
    134: "ReadConcernMajorityNotAvailableYet",
    136: "CappedPositionLost",
    148: "ReadConcernMajorityNotEnabled",
    166: "CommandNotSupportedOnView",
    168: "InvalidPipelineOperator",
    171: "CannotIndexParallelArrays",
    189: "PrimarySteppedDown",
    197: "InvalidIndexSpecificationOption",
    211: "KeyNotFound",
    217: "IncompleteTransactionHistory",
    224: "QueryFeatureNotAllowed",
    225: "TransactionTooOld",
    239: "SnapshotTooOld",
    246: "SnapshotUnavailable",
    251: "NoSuchTransaction",
    256: "TransactionCommitted",
    260: "InvalidResumeToken",
    262: "ExceededTimeLimit",
    263: "OperationNotSupportedInTransaction",
    280: "ChangeStreamFatalError",
    286: "ChangeStreamHistoryLost",
    290: "TransactionExceededLifetimeLimitSeconds",
    334: "TransactionTooLarge",
    352: "UnsupportedOpQueryCommand",
    10107: "NotWritablePrimary",
    11000: "DuplicateKey",
    11600: "InterruptedAtShutdown",
    11601: "Interrupted",
    11602: "InterruptedDueToReplStateChange",
    13435: "NotPrimaryNoSecondaryOk",
    13436: "NotPrimaryOrSecondary",
    17280: "KeyTooLong",
    40415: "IDLUnknownField",
    40429: "IllegalOpMsgFlag",
}

# mongod's Interruption category: the operation was ended from outside (killOp, maxTimeMS, a
# state change, shutdown); a write command fails as a whole with one of these.
INTERRUPTION_CODES = frozenset({24, 50, 237, 262, 279, 11600, 11601, 11602})

# mongod's NotPrimaryError category: replies with one carry the server's topologyVersion.
NOT_PRIMARY_CODES = frozenset({189, 10107, 11602, 13435, 13436})
SHUTDOWN_CODES = frozenset({91, 11600})  # ShutdownInProgress, InterruptedAtShutdown
# Errors after which a retryable write may be retried (mongod attaches "RetryableWriteError").
RETRYABLE_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


class CommandError(Exception):
    """A command failed as a whole: answered {ok: 0, code, codeName, errmsg}."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        code_name: str | None = None,
        labels: tuple[str, ...] = (),
        explicit_labels: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.code_name = code_name or CODE_NAMES.get(code) or f"Location{code}"
        self.labels = list(labels)
        # Labels given explicitly (a failCommand `errorLabels`) replace those mongod would add.
        self.explicit_labels = explicit_labels
        self.extra = extra or {}

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"ok": 0.0, "errmsg": str(self), "code": self.code, "codeName": self.code_name}
        if self.labels:
            doc["errorLabels"] = list(self.labels)
        doc.update(self.extra)
        return doc


class CloseConnection(Exception):
    """Raised to drop the client's connection without an answer."""


class WriteError(CommandError):
    """A single statement of a write command failed: reported in writeErrors, not as ok: 0."""

    @classmethod
    def of(cls, exc: CommandError) -> WriteError:
        if isinstance(exc, WriteError):
            return exc
        return cls(exc.code, str(exc), code_name=exc.code_name, extra=exc.extra)

    def to_write_error(self, index: int) -> dict[str, Any]:
        doc: dict[str, Any] = {"index": index, "code": self.code, "errmsg": str(self)}
        doc.update(self.extra)
        return doc


def bad_value(message: str) -> CommandError:
    return CommandError(2, message)


def not_supported(what: str) -> CommandError:
    """Something mongod does that the emulator does not implement: refused, never ignored."""
    return CommandError(115, f"{what} is not supported by the emulator")


def not_writable_primary() -> CommandError:
    return CommandError(10107, "not primary")


def interrupted_by_state_change() -> CommandError:
    return CommandError(11602, "Operation was interrupted because a replica set state change occurred")


def not_primary_no_secondary_ok() -> CommandError:
    return CommandError(13435, "not primary and secondaryOk=false")


def duplicate_key(
    ns: str, index_name: str, key_pattern: dict[str, Any], key_value: dict[str, Any]
) -> WriteError:
    shown = ", ".join(f"{k}: {v!r}" for k, v in key_value.items())
    return WriteError(
        11000,
        f"E11000 duplicate key error collection: {ns} index: {index_name} dup key: {{ {shown} }}",
        extra={"keyPattern": key_pattern, "keyValue": key_value},
    )
