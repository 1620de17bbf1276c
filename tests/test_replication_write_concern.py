"""Write concern over a real set: w:N, majority, tag modes, wtimeout, unsatisfiable and unknown
modes, and a primary that steps down while a write waits."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pymongo import WriteConcern
from pymongo.errors import AutoReconnect, NotPrimaryError, OperationFailure, WriteConcernError

from chaos.backends.processes import MemberProcess
from tests.conftest import ReplicaSet, StartSet
from tests.replication_support import CLIENT, FAST, events

TAGGED = {
    "m0": {"tags": {"region": "eu"}},
    "m1": {"tags": {"region": "eu"}},
    "m2": {"tags": {"region": "us"}},
}
MODES = {**FAST, "getLastErrorModes": {"twoRegions": {"region": 2}, "threeRegions": {"region": 3}}}


@contextmanager
def replication_stopped(members: list[MemberProcess]) -> Iterator[None]:
    for m in members:
        with m.client() as direct:
            direct.admin.command("configureFailPoint", "stopReplProducer", mode="alwaysOn")
    try:
        yield
    finally:
        for m in members:
            with m.client() as direct:
                direct.admin.command("configureFailPoint", "stopReplProducer", mode="off")


def insert(rs: ReplicaSet, doc: dict[str, Any], **wc: Any) -> None:
    with rs.client(**CLIENT) as client:
        client.test.get_collection("wc", write_concern=WriteConcern(**wc)).insert_one(doc)


def test_numbered_majority_and_tagged_write_concerns_are_met(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=MODES, member_options=TAGGED)
    insert(rs, {"_id": 1}, w=3, wtimeout=5000)
    insert(rs, {"_id": 2}, w="majority", j=True)
    insert(rs, {"_id": 3}, w="twoRegions", wtimeout=5000)
    insert(rs, {"_id": 4}, w=0)
    with rs.client(**CLIENT) as client:
        assert client.test.wc.count_documents({}) == 4


def test_impossible_write_concerns_fail_but_the_write_applies(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=MODES, member_options=TAGGED)
    cases = [({"w": 5}, 100), ({"w": "threeRegions"}, 100), ({"w": "noSuchMode"}, 79)]
    for i, (wc, code) in enumerate(cases):
        with pytest.raises(WriteConcernError) as err:
            insert(rs, {"_id": i}, **wc)
        assert err.value.code == code, wc
    with rs.client(**CLIENT) as client:
        assert client.test.wc.count_documents({}) == len(cases)


def test_wtimeout_reports_write_concern_failed_with_errinfo(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    with replication_stopped([m for m in rs.members if m is not primary]):
        started = time.monotonic()
        with pytest.raises(WriteConcernError) as err:
            insert(rs, {"_id": "slow"}, w="majority", wtimeout=300)
        assert 0.25 <= time.monotonic() - started < 5
    details = err.value.details
    assert details["code"] == 64 and details["codeName"] == "WriteConcernFailed"
    assert details["errmsg"] == "waiting for replication timed out"
    assert details["errInfo"]["wtimeout"] is True


def test_a_write_waiting_for_majority_fails_with_primary_stepped_down(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    outcome: dict[str, Any] = {}

    def waiting_write() -> None:
        with primary.client(retryWrites=False) as direct:
            try:
                direct.test.wc.insert_one({"_id": "waits"})
            except WriteConcernError as exc:
                outcome["error"] = exc.details

    with replication_stopped([m for m in rs.members if m is not primary]):
        writer = threading.Thread(target=waiting_write)
        writer.start()
        time.sleep(0.5)
        with primary.client() as direct:
            direct.admin.command("replSetStepDown", 10, secondaryCatchUpPeriodSecs=0, force=True)
        writer.join(10)
    assert outcome["error"]["code"] == 189
    assert outcome["error"]["codeName"] == "PrimarySteppedDown"


def test_a_secondary_refuses_writes_with_not_writable_primary(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    secondary = next(m for m in rs.members if m is not rs.primary())
    with secondary.client() as direct, pytest.raises(NotPrimaryError) as err:
        direct.test.wc.insert_one({"_id": 1})
    assert err.value.details["code"] == 10107


def test_shutdown_of_a_primary_waits_for_a_caught_up_secondary_unless_forced(
    start_replica_set: StartSet,
) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    with replication_stopped([m for m in rs.members if m is not primary]):
        insert(rs, {"_id": "behind"}, w=1)
        with primary.client() as direct:
            with pytest.raises(OperationFailure) as refused:
                direct.admin.command("shutdown", timeoutSecs=1)
            assert refused.value.code == 262
            assert direct.admin.command("hello")["isWritablePrimary"] is True
            with contextlib.suppress(AutoReconnect):
                direct.admin.command("shutdown", force=True, timeoutSecs=1)
        primary.proc.wait(10)  # type: ignore[union-attr]
    assert events(primary, "shutdown")[-1]["clean"] is True
