"""Error labels as mongod's `ErrorLabelBuilder` (error_labels.cpp) attaches them.

- TransientTransactionError: the command carried `autocommit` (it ran in a transaction) and
  failed with a write conflict, a snapshot error, a retryable error or NoSuchTransaction
  (for commit and abort: NoSuchTransaction without a write concern error only);
- RetryableWriteError (when the first does not apply): a retryable write (txnNumber without
  autocommit), or a transaction's commit or abort, failed with a retryable code, or its write
  concern did;
- ResumableChangeStreamError: an `aggregate` or `getMore` of a change stream failed with a
  retryable or network error; NonResumableChangeStreamError: any command failed with
  ChangeStreamFatalError or ChangeStreamHistoryLost.

Labels a `failCommand` fail point names replace all of these, as in mongod.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mongoemu.errors import RETRYABLE_CODES

TRANSIENT = "TransientTransactionError"
RETRYABLE_WRITE = "RetryableWriteError"
RESUMABLE_CHANGE_STREAM = "ResumableChangeStreamError"
NON_RESUMABLE_CHANGE_STREAM = "NonResumableChangeStreamError"

COMMIT_OR_ABORT = frozenset({"commitTransaction", "abortTransaction"})
_ALWAYS_TRANSIENT = frozenset({112, 24, 267})  # WriteConflict, LockTimeout, PreparedTransactionInProgress
_SNAPSHOT_ERRORS = frozenset({239, 246, 241, 245})  # SnapshotTooOld, SnapshotUnavailable, ...
_NO_SUCH_TRANSACTION = 251
# RetryChangeStream, FailedToSatisfyReadPreference, and the re-targeting errors (StaleShardVersion,
# StaleEpoch, StaleConfig) mongod labels too.
_CHANGE_STREAM_RETRY = frozenset({234, 133, 63, 150, 13388})
_CHANGE_STREAM_FATAL = frozenset({280, 286})  # ChangeStreamFatalError, ChangeStreamHistoryLost


def is_transient(code: int, has_write_concern_error: bool, commit_or_abort: bool) -> bool:
    if code in _ALWAYS_TRANSIENT or code in _SNAPSHOT_ERRORS:
        return True
    if commit_or_abort:
        return code == _NO_SUCH_TRANSACTION and not has_write_concern_error
    return code in RETRYABLE_CODES or code == _NO_SUCH_TRANSACTION


def labels_for(
    body: Mapping[str, Any],
    command: str,
    code: int | None,
    wc_code: int | None,
    change_stream: bool = False,
) -> list[str]:
    """The labels mongod attaches to a reply with this error `code` (None: the command did
    not fail) and write concern error code."""
    has_txn_number = "txnNumber" in body
    in_transaction = has_txn_number and "autocommit" in body
    commit_or_abort = command in COMMIT_OR_ABORT
    labels: list[str] = []
    if in_transaction and code is not None and is_transient(code, wc_code is not None, commit_or_abort):
        labels.append(TRANSIENT)
    elif ((has_txn_number and not in_transaction) or (in_transaction and commit_or_abort)) and (
        code in RETRYABLE_CODES or wc_code in RETRYABLE_CODES
    ):
        labels.append(RETRYABLE_WRITE)
    resumable = code in RETRYABLE_CODES or code in _CHANGE_STREAM_RETRY
    if not labels and change_stream and wc_code is None and resumable:
        labels.append(RESUMABLE_CHANGE_STREAM)
    elif code in _CHANGE_STREAM_FATAL:
        labels.append(NON_RESUMABLE_CHANGE_STREAM)
    return labels
