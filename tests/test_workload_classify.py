"""Error classes and write outcomes of PyMongo's exceptions, as the driver raises them."""

from __future__ import annotations

import pytest
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    CursorNotFound,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
    WriteConcernError,
    WTimeoutError,
)

from contract.rundir import ErrorClass, WriteStatus
from locustfiles.classify import UnexpectedResult, bulk_statuses, error_class, write_status
from locustfiles.errortext import describe

NOT_PRIMARY_REPLY = {"ok": 0, "code": 10107, "errmsg": "not primary", "codeName": "NotWritablePrimary"}


@pytest.mark.parametrize(
    ("exc", "klass", "status"),
    [
        (ServerSelectionTimeoutError("no primary"), ErrorClass.SELECTION_TIMEOUT, WriteStatus.FAILED),
        (NotPrimaryError("not primary", NOT_PRIMARY_REPLY), ErrorClass.NOT_PRIMARY, WriteStatus.FAILED),
        (OperationFailure("stepped down", 189), ErrorClass.NOT_PRIMARY, WriteStatus.FAILED),
        (OperationFailure("interrupted", 11602), ErrorClass.NOT_PRIMARY, WriteStatus.FAILED),
        (OperationFailure("shutting down", 91), ErrorClass.NOT_PRIMARY, WriteStatus.FAILED),
        (AutoReconnect("connection reset"), ErrorClass.NETWORK, WriteStatus.INDETERMINATE),
        (NetworkTimeout("timed out"), ErrorClass.NETWORK, WriteStatus.INDETERMINATE),
        (ConnectionFailure("refused"), ErrorClass.NETWORK, WriteStatus.INDETERMINATE),
        (WaitQueueTimeoutError("pool"), ErrorClass.NETWORK, WriteStatus.INDETERMINATE),
        (
            WTimeoutError("waiting for replication timed out", 64),
            ErrorClass.WRITE_CONCERN,
            WriteStatus.INDETERMINATE,
        ),
        (WriteConcernError("wc", 100), ErrorClass.WRITE_CONCERN, WriteStatus.INDETERMINATE),
        (
            OperationFailure("wce", 1, {"ok": 1, "writeConcernError": {"code": 91, "errmsg": "x"}}),
            ErrorClass.WRITE_CONCERN,
            WriteStatus.INDETERMINATE,
        ),
        (DuplicateKeyError("E11000 duplicate key", 11000), ErrorClass.DUPLICATE_KEY, WriteStatus.FAILED),
        (OperationFailure("E11000", 11000), ErrorClass.DUPLICATE_KEY, WriteStatus.FAILED),
        (ExecutionTimeout("maxTimeMS", 50), ErrorClass.OTHER, WriteStatus.FAILED),
        (CursorNotFound("cursor", 43), ErrorClass.OTHER, WriteStatus.FAILED),
        (OperationFailure("bad value", 2), ErrorClass.OTHER, WriteStatus.FAILED),
        (UnexpectedResult("nothing matched"), ErrorClass.OTHER, WriteStatus.FAILED),
        (RuntimeError("a bug in the caller"), ErrorClass.OTHER, WriteStatus.INDETERMINATE),
    ],
)
def test_error_class_and_write_status(exc: Exception, klass: ErrorClass, status: WriteStatus) -> None:
    assert error_class(exc) is klass
    assert write_status(exc) is status


def test_no_exception_is_an_acknowledged_write() -> None:
    assert write_status(None) is WriteStatus.ACKED
    assert bulk_statuses(None, 3, ordered=True) == [WriteStatus.ACKED] * 3


def test_ordered_bulk_stops_at_its_first_error() -> None:
    exc = BulkWriteError(
        {
            "writeErrors": [{"index": 2, "code": 11000, "errmsg": "dup"}],
            "writeConcernErrors": [],
            "nInserted": 2,
        }
    )
    assert error_class(exc) is ErrorClass.DUPLICATE_KEY
    assert bulk_statuses(exc, 5, ordered=True) == [
        WriteStatus.ACKED,
        WriteStatus.ACKED,
        WriteStatus.FAILED,
        WriteStatus.FAILED,
        WriteStatus.FAILED,
    ]


def test_unordered_bulk_fails_only_the_failed_documents() -> None:
    exc = BulkWriteError(
        {"writeErrors": [{"index": 1, "code": 11000, "errmsg": "dup"}], "writeConcernErrors": []}
    )
    assert bulk_statuses(exc, 3, ordered=False) == [WriteStatus.ACKED, WriteStatus.FAILED, WriteStatus.ACKED]


def test_bulk_with_a_write_concern_error_is_indeterminate() -> None:
    exc = BulkWriteError({"writeErrors": [], "writeConcernErrors": [{"code": 64, "errmsg": "wtimeout"}]})
    assert error_class(exc) is ErrorClass.WRITE_CONCERN
    assert bulk_statuses(exc, 2, ordered=True) == [WriteStatus.INDETERMINATE] * 2


def test_a_network_error_settles_every_document_of_a_bulk_as_indeterminate() -> None:
    assert bulk_statuses(AutoReconnect("reset"), 3, ordered=True) == [WriteStatus.INDETERMINATE] * 3


def test_describe_is_one_line_without_the_servers_reply() -> None:
    signed = {"$clusterTime": {"clusterTime": 1, "signature": {"hash": b"\x00" * 20, "keyId": 0}}}
    reply = {"ok": 0, "errmsg": "not primary", "code": 10107, "codeName": "NotWritablePrimary", **signed}
    failure = OperationFailure("not primary", 10107, reply)
    assert describe(failure) == "not primary (NotWritablePrimary, 10107)"
    duplicates = [{"index": i, "code": 11000, "errmsg": f"E11000 duplicate key {i}"} for i in range(100)]
    bulk = BulkWriteError({"writeErrors": duplicates, "writeConcernErrors": [], "nInserted": 0, **signed})
    assert describe(bulk) == "bulk write failed: write error: E11000 duplicate key 0 (11000) (and 99 more)"
    lost = ServerSelectionTimeoutError("h:1: [Errno 111] refused, Timeout: 1.0s, Topology Description: <...>")
    assert describe(lost) == "ServerSelectionTimeoutError: h:1: [Errno 111] refused"
