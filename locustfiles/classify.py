"""What a PyMongo exception means: its error class, and whether a write it ended happened.

Error classes tell failover from bugs (`contract.rundir.ErrorClass`). Write outcomes follow
Jepsen: a write is *failed* only when it certainly did not happen (no server was selected, or
the server answered with an error before applying it); when the answer was lost after the
request may have been sent, or the write was applied but not replicated as asked, it is
*indeterminate*.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WriteConcernError,
)

from contract.rundir import ErrorClass, WriteStatus


class UnexpectedResult(Exception):
    """The server answered, but not as the workload expects (a missing document, nothing
    matched): a write that ends so did not happen."""


# "not primary" and "node is recovering/shutting down" codes of the SDAM specification.
NOT_PRIMARY_CODES = frozenset({10058, 10107, 13435, 13436, 11602, 189, 91, 11600})
DUPLICATE_KEY_CODES = frozenset({11000, 11001, 12582})
WRITE_CONCERN_CODES = frozenset({64, 79, 100})  # WriteConcernFailed, UnknownReplWriteConcern, Unsatisfiable


def _code_class(code: int | None) -> ErrorClass | None:
    if code in NOT_PRIMARY_CODES:
        return ErrorClass.NOT_PRIMARY
    if code in DUPLICATE_KEY_CODES:
        return ErrorClass.DUPLICATE_KEY
    if code in WRITE_CONCERN_CODES:
        return ErrorClass.WRITE_CONCERN
    return None


def _bulk_class(details: Mapping[str, Any]) -> ErrorClass:
    for err in details.get("writeErrors", ()):
        found = _code_class(err.get("code"))
        if found is not None:
            return found
    if details.get("writeConcernErrors"):
        return ErrorClass.WRITE_CONCERN
    return ErrorClass.OTHER


def error_class(exc: BaseException) -> ErrorClass:
    # Order matters: selection timeouts and not-primary errors are AutoReconnect subclasses.
    if isinstance(exc, ServerSelectionTimeoutError):
        return ErrorClass.SELECTION_TIMEOUT
    if isinstance(exc, NotPrimaryError):
        return ErrorClass.NOT_PRIMARY
    if isinstance(exc, ConnectionFailure):
        return ErrorClass.NETWORK
    if isinstance(exc, DuplicateKeyError):
        return ErrorClass.DUPLICATE_KEY
    if isinstance(exc, WriteConcernError):
        return ErrorClass.WRITE_CONCERN
    if isinstance(exc, BulkWriteError):
        return _bulk_class(exc.details)
    if isinstance(exc, OperationFailure):
        details = exc.details or {}
        found = _code_class(exc.code)
        if found is None and "writeConcernError" in details:
            found = ErrorClass.WRITE_CONCERN
        return found or ErrorClass.OTHER
    return ErrorClass.OTHER


def write_status(exc: BaseException | None) -> WriteStatus:
    """The outcome of a single-document write that ended with `exc` (None: acknowledged)."""
    if exc is None:
        return WriteStatus.ACKED
    klass = error_class(exc)
    if klass in (ErrorClass.SELECTION_TIMEOUT, ErrorClass.NOT_PRIMARY):
        # Nothing was sent (PyMongo raises the first attempt's error when a retry finds no
        # server), or the member refused the write. A retried write whose lost first attempt did
        # apply can also end here; verification then lists it as failed but present.
        return WriteStatus.FAILED
    if klass in (ErrorClass.NETWORK, ErrorClass.WRITE_CONCERN):
        return WriteStatus.INDETERMINATE  # the answer was lost, or it is applied but not replicated
    if isinstance(exc, OperationFailure | UnexpectedResult):
        return WriteStatus.FAILED  # the server answered with an error
    # Anything else (an interruption, a bug in the caller) may have happened after sending.
    return WriteStatus.INDETERMINATE


def bulk_statuses(exc: BaseException | None, n: int, ordered: bool) -> list[WriteStatus]:
    """Per-document outcomes of an `insert_many` of `n` documents that ended with `exc`."""
    if not isinstance(exc, BulkWriteError):
        return [write_status(exc)] * n
    details = exc.details
    failed = {int(err["index"]) for err in details.get("writeErrors", ())}
    done = WriteStatus.INDETERMINATE if details.get("writeConcernErrors") else WriteStatus.ACKED
    # An ordered bulk stops at its first error: what follows was never attempted.
    stop = min(failed) if ordered and failed else n
    return [WriteStatus.FAILED if i in failed or i > stop else done for i in range(n)]
