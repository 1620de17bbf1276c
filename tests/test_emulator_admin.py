"""Admin, catalog and validation commands on a live member, as mongod answers them: server
parameters, document validators, collMod and renameCollection (replicated)."""

from __future__ import annotations

from typing import Any

import pytest
from bson import Timestamp
from pymongo import WriteConcern
from pymongo.errors import (
    ExecutionTimeout,
    NotPrimaryError,
    OperationFailure,
    WriteConcernError,
    WriteError,
)

from tests.conftest import StartSet
from tests.replication_support import QUICK_SHUTDOWN


def test_get_parameter_all_and_by_name(shared_client: Any) -> None:
    admin = shared_client.admin
    everything = admin.command("getParameter", "*")
    assert everything["featureCompatibilityVersion"] == {"version": "6.0"}
    assert everything["enableTestCommands"] is True
    assert everything["requireApiVersion"] is False
    assert everything["transactionLifetimeLimitSeconds"] == 60
    one = admin.command({"getParameter": 1, "transactionLifetimeLimitSeconds": 1})
    assert set(one) - {"ok", "$clusterTime", "operationTime"} == {"transactionLifetimeLimitSeconds"}
    with pytest.raises(OperationFailure) as err:
        admin.command({"getParameter": 1, "noSuchParameter": 1})
    assert err.value.code == 72


def test_set_parameter_refuses_what_nothing_reads(shared_client: Any) -> None:
    admin = shared_client.admin
    with pytest.raises(OperationFailure) as err:
        admin.command({"setParameter": 1, "noSuchParameter": 5})
    assert err.value.code == 72
    assert "unrecognized parameter" in str(err.value)
    with pytest.raises(OperationFailure) as err:
        admin.command({"setParameter": 1, "localLogicalSessionTimeoutMinutes": 5})
    assert err.value.code == 72


def test_json_schema_validator_refuses_with_err_info(fresh_db: Any) -> None:
    schema = {
        "bsonType": "object",
        "required": ["name", "age"],
        "properties": {"name": {"bsonType": "string"}, "age": {"bsonType": "int", "minimum": 0}},
    }
    coll = fresh_db.create_collection("people", validator={"$jsonSchema": schema})
    coll.insert_one({"_id": 1, "name": "ada", "age": 36})
    with pytest.raises(WriteError) as err:
        coll.insert_one({"_id": 2, "name": "bob", "age": -1})
    assert err.value.code == 121
    info = err.value.details["errInfo"]
    assert info["failingDocumentId"] == 2
    assert info["details"]["operatorName"] == "$jsonSchema"
    (rule,) = info["details"]["schemaRulesNotSatisfied"]
    assert rule["operatorName"] == "properties"
    assert rule["propertiesNotSatisfied"][0]["propertyName"] == "age"
    with pytest.raises(WriteError) as err:
        coll.insert_one({"_id": 3, "name": "cy"})
    missing = err.value.details["errInfo"]["details"]["schemaRulesNotSatisfied"][0]
    assert missing == {
        "operatorName": "required",
        "specifiedAs": {"required": ["name", "age"]},
        "missingProperties": ["age"],
    }
    # Updates and findAndModify are validated too; the document is unchanged.
    with pytest.raises(WriteError) as err:
        coll.update_one({"_id": 1}, {"$set": {"age": "old"}})
    assert err.value.code == 121
    with pytest.raises(OperationFailure) as err:
        coll.find_one_and_update({"_id": 1}, {"$unset": {"name": 1}})
    assert err.value.code == 121
    with pytest.raises(WriteError):
        coll.replace_one({"_id": 1}, {"name": "ada"})
    assert coll.find_one({"_id": 1}) == {"_id": 1, "name": "ada", "age": 36}
    # bypassDocumentValidation lets it through.
    coll.insert_one({"_id": 4}, bypass_document_validation=True)
    assert coll.count_documents({}) == 2


def test_query_operator_validator_levels_and_actions(fresh_db: Any) -> None:
    coll = fresh_db.create_collection("items", validator={"qty": {"$gte": 0}, "sku": {"$type": "string"}})
    with pytest.raises(WriteError) as err:
        coll.insert_one({"_id": 1, "qty": -1, "sku": "a"})
    details = err.value.details["errInfo"]["details"]
    assert details["operatorName"] == "$gte"
    coll.insert_one({"_id": 2, "qty": 1}, bypass_document_validation=True)  # invalid: no sku
    # moderate: an update of a document that already failed is not checked
    fresh_db.command("collMod", "items", validationLevel="moderate")
    coll.update_one({"_id": 2}, {"$set": {"qty": -5}})
    coll.insert_one({"_id": 3, "qty": 1, "sku": "b"})
    with pytest.raises(WriteError):
        coll.update_one({"_id": 3}, {"$set": {"qty": -5}})
    # warn: the write goes through
    fresh_db.command("collMod", "items", validationLevel="strict", validationAction="warn")
    coll.insert_one({"_id": 4, "qty": -1})
    # off
    fresh_db.command("collMod", "items", validationLevel="off", validationAction="error")
    coll.insert_one({"_id": 5, "qty": -1})
    assert coll.count_documents({}) == 4
    options = coll.options()
    assert options["validationLevel"] == "off"
    assert options["validator"] == {"qty": {"$gte": 0}, "sku": {"$type": "string"}}


def test_bad_validators_are_refused(fresh_db: Any) -> None:
    cases = [
        ({"validator": {"$jsonSchema": {"bsonType": "object", "nope": 1}}}, 9),
        ({"validator": {"$jsonSchema": {"$ref": "#/x"}}}, 9),
        ({"validator": {"$jsonSchema": {"bsonType": "integer"}}}, 2),
        ({"validator": {"$where": "true"}}, 72),
        ({"validator": {"a": {"$bogus": 1}}}, 2),
        ({"validator": {"a": 1}, "validationLevel": "sometimes"}, 2),
        ({"validator": {"a": 1}, "validationAction": "shout"}, 2),
    ]
    for options, code in cases:
        with pytest.raises(OperationFailure) as err:
            fresh_db.command("create", "c", **options)
        assert err.value.code == code, options
    assert fresh_db.list_collection_names() == []


def test_create_refuses_options_the_emulator_lacks(fresh_db: Any) -> None:
    for option in (
        {"storageEngine": {"wiredTiger": {}}},
        {"clusteredIndex": {"key": {"_id": 1}, "unique": True}},
    ):
        with pytest.raises(OperationFailure) as err:
            fresh_db.command("create", "c", **option)
        assert err.value.code == 115
        assert "emulator" in str(err.value)


def test_coll_mod_index_hidden_and_ttl(fresh_db: Any) -> None:
    coll = fresh_db.events
    coll.create_index("at", name="at_1")
    coll.create_index("kind", name="kind_1", expireAfterSeconds=3600)
    reply = fresh_db.command("collMod", "events", index={"name": "at_1", "hidden": True})
    assert (reply["hidden_old"], reply["hidden_new"]) == (False, True)
    reply = fresh_db.command("collMod", "events", index={"keyPattern": {"kind": 1}, "expireAfterSeconds": 60})
    assert (reply["expireAfterSeconds_old"], reply["expireAfterSeconds_new"]) == (3600, 60)
    info = coll.index_information()
    assert info["at_1"]["hidden"] is True
    assert info["kind_1"]["expireAfterSeconds"] == 60
    for bad, code in [({"name": "nope", "hidden": True}, 27), ({"name": "_id_", "hidden": True}, 2)]:
        with pytest.raises(OperationFailure) as err:
            fresh_db.command("collMod", "events", index=bad)
        assert err.value.code == code
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("collMod", "missing", validator={"a": 1})
    assert err.value.code == 26
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("collMod", "events", viewOn="x", pipeline=[])
    assert err.value.code == 115


def test_rename_collection_is_replicated(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3)
    with rs.client() as client:
        db = client.get_database("r", write_concern=WriteConcern(w=3))
        db.a.insert_many([{"_id": i} for i in range(5)])
        db.a.create_index("x")
        db.b.insert_one({"_id": "old"})
        with pytest.raises(OperationFailure) as err:
            db.a.rename("b")
        assert err.value.code == 48
        with pytest.raises(OperationFailure) as err:
            db.nope.rename("c")
        assert err.value.code == 26
        db.a.rename("b", dropTarget=True)
        assert sorted(db.list_collection_names()) == ["b"]
        assert db.b.count_documents({}) == 5
        assert "x_1" in db.b.index_information()
        client.admin.command("renameCollection", "r.b", to="other.moved", writeConcern={"w": 3})
        for member in rs.members:
            with member.client() as direct:
                assert direct.other.moved.count_documents({}) == 5
                assert direct.r.list_collection_names() == []


def test_host_info_and_connection_status(shared_client: Any) -> None:
    info = shared_client.admin.command("hostInfo")
    assert info["system"]["numCores"] >= 1
    assert info["system"]["memSizeMB"] > 0
    assert info["os"]["type"] == "Linux"
    status = shared_client.admin.command("connectionStatus", showPrivileges=True)
    assert status["authInfo"] == {
        "authenticatedUsers": [],
        "authenticatedUserRoles": [],
        "authenticatedUserPrivileges": [],
    }


def test_default_rw_concern_is_stored_and_honoured(start_replica_set: StartSet) -> None:
    rs = start_replica_set(1, extra_args=QUICK_SHUTDOWN)
    with rs.client() as client:
        admin = client.admin
        implicit = admin.command("getDefaultRWConcern")
        assert implicit["defaultWriteConcern"] == {"w": "majority", "wtimeout": 0}
        assert implicit["defaultReadConcern"] == {"level": "local"}
        assert implicit["defaultWriteConcernSource"] == "implicit"
        with pytest.raises(OperationFailure) as err:
            admin.command("setDefaultRWConcern")
        assert err.value.code == 2
        with pytest.raises(OperationFailure) as err:
            admin.command("setDefaultRWConcern", defaultReadConcern={"level": "snapshot"})
        assert err.value.code == 2
        # A default that one member cannot meet: writes sent without a write concern fail it.
        reply = admin.command("setDefaultRWConcern", defaultWriteConcern={"w": 2})
        assert reply["defaultWriteConcern"] == {"w": 2, "wtimeout": 0}
        assert reply["defaultWriteConcernSource"] == "global"
        raw = client.d.command("insert", "c", documents=[{"_id": 1}])
        assert raw["writeConcernError"]["code"] == 100
        ok = client.d.command("insert", "c", documents=[{"_id": 2}], writeConcern={"w": 1})
        assert "writeConcernError" not in ok
        admin.command(
            "setDefaultRWConcern", defaultWriteConcern={"w": 1}, defaultReadConcern={"level": "majority"}
        )
        stored = admin.command("getDefaultRWConcern")
        assert stored["defaultReadConcern"] == {"level": "majority"}
        assert stored["defaultReadConcernSource"] == "global"
    # It survives a restart (it is an ordinary replicated document in config.settings).
    (member,) = rs.members
    member.stop()
    member.start()
    member.wait_ready()
    rs.primary()
    with rs.client() as client:
        assert client.admin.command("getDefaultRWConcern")["defaultWriteConcern"] == {"w": 1, "wtimeout": 0}


def test_validate_counts_records_and_index_keys(fresh_db: Any) -> None:
    coll = fresh_db.v
    coll.insert_many([{"_id": i, "tags": ["a", "b"] if i % 2 else "c"} for i in range(10)])
    coll.create_index("tags")
    reply = fresh_db.command("validate", "v", full=True)
    assert reply["valid"] is True
    assert reply["nrecords"] == 10
    assert reply["keysPerIndex"] == {"_id_": 10, "tags_1": 15}
    assert reply["errors"] == []
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("validate", "missing")
    assert err.value.code == 26
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("validate", "v", repair=True)
    assert err.value.code == 115
    assert fresh_db.command("validate", "v", background=True)["valid"] is True
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("validate", "v", background=True, full=True)
    assert err.value.code == 2
    assert fresh_db.command("usersInfo", "nobody")["users"] == []
    assert fresh_db.command("profile", -1)["was"] == 0
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("profile", 2)
    assert err.value.code == 115


def test_commands_mongod_has_but_the_emulator_lacks_say_so(shared_client: Any) -> None:
    with pytest.raises(OperationFailure) as err:
        shared_client.admin.command("currentOp")
    assert err.value.code == 59
    assert "the emulator does not implement it" in str(err.value)
    with pytest.raises(OperationFailure) as err:
        shared_client.admin.command("noSuchCommandAnywhere")
    assert err.value.code == 59
    assert "emulator" not in str(err.value)


def test_ttl_monitor_deletes_on_the_primary_and_replicates(start_replica_set: StartSet) -> None:
    import datetime
    import time

    rs = start_replica_set(3)
    primary = rs.primary()
    with rs.client() as client:
        was = client.admin.command("setParameter", 1, ttlMonitorSleepSecs=1)
        assert was["was"] == 60
        old = datetime.datetime(2000, 1, 1)
        future = datetime.datetime(2999, 1, 1)
        coll = client.t.get_collection("sessions", write_concern=WriteConcern(w=3))
        coll.create_index("at", expireAfterSeconds=0)
        coll.insert_many(
            [
                {"_id": "old", "at": old},
                {"_id": "old_in_array", "at": [future, old]},
                {"_id": "future", "at": future},
                {"_id": "not_a_date", "at": "2000-01-01"},
                {"_id": "missing"},
            ]
        )
        deadline = time.monotonic() + 15
        while coll.count_documents({}) != 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sorted(d["_id"] for d in coll.find()) == ["future", "missing", "not_a_date"]
    for member in rs.members:
        with member.client() as direct:
            deadline = time.monotonic() + 10
            while direct.t.sessions.count_documents({}) != 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert direct.t.sessions.count_documents({}) == 3
            ttl = direct.admin.command("serverStatus")["metrics"]["ttl"]
            assert (ttl["deletedDocuments"] == 2) == (member is primary), (member.name, ttl)


def test_fail_point_names_mongod_lacks_or_the_emulator_lacks_are_refused(shared_client: Any) -> None:
    with pytest.raises(OperationFailure) as err:
        shared_client.admin.command("configureFailPoint", "madeUpName", mode="alwaysOn")
    assert err.value.code == 2
    assert "Cannot find FailPoint madeUpName" in str(err.value)
    with pytest.raises(OperationFailure) as err:
        shared_client.admin.command("configureFailPoint", "rsSyncApplyStop", mode="alwaysOn")
    assert err.value.code == 115


def test_max_time_always_times_out(fresh_db: Any) -> None:
    admin = fresh_db.client.admin
    fresh_db.c.insert_many([{"_id": i} for i in range(5)])
    cursor = fresh_db.c.find(batch_size=2).max_time_ms(60_000)
    next(cursor)  # the find ran before the fail point; its getMores inherit its time limit
    admin.command("configureFailPoint", "maxTimeAlwaysTimeOut", mode="alwaysOn")
    try:
        with pytest.raises(ExecutionTimeout):
            fresh_db.c.find_one({}, max_time_ms=60_000)
        with pytest.raises(OperationFailure) as err:
            fresh_db.command("insert", "c", documents=[{"_id": 9}], maxTimeMS=60_000)
        assert err.value.code == 50
        with pytest.raises(ExecutionTimeout):
            cursor.to_list()
        assert fresh_db.c.find_one({"_id": 1}) == {"_id": 1}  # no time limit: unaffected
        assert len(fresh_db.c.find(batch_size=2).to_list()) == 5
    finally:
        admin.command("configureFailPoint", "maxTimeAlwaysTimeOut", mode="off")
    assert fresh_db.c.count_documents({}) == 5


def test_fail_get_more_after_cursor_checkout_kills_the_cursor(fresh_db: Any) -> None:
    admin = fresh_db.client.admin
    fresh_db.c.insert_many([{"_id": i} for i in range(5)])
    first = fresh_db.command("find", "c", batchSize=2)
    cursor_id = first["cursor"]["id"]
    admin.command(
        "configureFailPoint", "failGetMoreAfterCursorCheckout", mode={"times": 1}, data={"errorCode": 96}
    )
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("getMore", cursor_id, collection="c")
    assert err.value.code == 96
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("getMore", cursor_id, collection="c")
    assert err.value.code == 43


def test_on_primary_transactional_write(fresh_db: Any) -> None:
    admin = fresh_db.client.admin
    # closeConnection (the default): the write commits, the reply is lost, the driver's retry
    # finds the statement already executed.
    admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode={"times": 1})
    fresh_db.c.insert_one({"_id": 1})
    off = admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode="off")
    assert off["count"] == 1
    assert fresh_db.c.count_documents({}) == 1
    # failBeforeCommitExceptionCode: the statement does not commit, and the connection closes
    # (by default), so the driver's retry runs it for the first time.
    fail_before = {"failBeforeCommitExceptionCode": 2}
    admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode={"times": 1}, data=fail_before)
    fresh_db.c.insert_one({"_id": 2})
    assert fresh_db.c.count_documents({}) == 2
    admin.command(
        "configureFailPoint",
        "onPrimaryTransactionalWrite",
        mode={"times": 1},
        data={**fail_before, "closeConnection": False},
    )
    with pytest.raises(OperationFailure) as err:
        fresh_db.c.insert_one({"_id": 5})
    assert err.value.code == 2
    assert fresh_db.c.count_documents({}) == 2
    # Writes without a transaction number are not retryable writes: untouched.
    admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode="alwaysOn")
    try:
        fresh_db.c.with_options(write_concern=WriteConcern(w=1)).database.command(
            "insert", "c", documents=[{"_id": 3}]
        )
    finally:
        admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode="off")
    assert fresh_db.c.count_documents({}) == 3


def test_step_down_with_force_does_not_wait_for_catch_up(start_replica_set: StartSet) -> None:
    import time

    rs = start_replica_set(2, member_options={"m1": {"priority": 0}})
    primary = rs.primary()
    secondary = next(m for m in rs.members if m is not primary)
    with secondary.client() as direct:
        direct.admin.command("configureFailPoint", "stopReplProducer", mode="alwaysOn")
        try:
            with rs.client() as client:
                client.t.get_collection("c", write_concern=WriteConcern(w=1)).insert_one({"_id": 1})
                started = time.monotonic()
                with primary.client() as p:
                    p.admin.command("replSetStepDown", 30, force=True)
                assert time.monotonic() - started < 5  # not the 10 s catch-up default
        finally:
            direct.admin.command("configureFailPoint", "stopReplProducer", mode="off")


def test_ddl_reports_an_unsatisfiable_write_concern(start_replica_set: StartSet) -> None:
    rs = start_replica_set(2)
    with rs.client() as client:
        client.t.c.insert_one({})
        impossible = client.get_database("t", write_concern=WriteConcern(w=3))
        with pytest.raises(WriteConcernError):
            impossible.drop_collection("c")
        assert "c" not in client.t.list_collection_names()  # the drop itself happened
        with pytest.raises(WriteConcernError):
            impossible.drop_collection("never_existed")  # 26 is ignored by the helper, not the WCE
        raw = impossible.command("create", "x", writeConcern={"w": 3}, check=False)
        assert raw["ok"] == 1.0
        assert raw["writeConcernError"]["code"] == 100


def test_capped_collection_keeps_the_newest_documents(fresh_db: Any) -> None:
    coll = fresh_db.create_collection("log", capped=True, size=4096, max=5)
    coll.insert_many([{"_id": i, "v": "x"} for i in range(8)])
    assert [d["_id"] for d in coll.find()] == [3, 4, 5, 6, 7]
    coll.update_one({"_id": 4}, {"$set": {"v": "y"}})  # keeps its place in insertion order
    assert [d["_id"] for d in coll.find()] == [3, 4, 5, 6, 7]
    big = fresh_db.create_collection("big", capped=True, size=4096)
    big.insert_many([{"_id": i, "pad": "p" * 1000} for i in range(10)])
    assert big.count_documents({}) == 4  # ~1 KB each within 4096 bytes
    assert coll.options() == {"capped": True, "size": 4096, "max": 5}
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("create", "nosize", capped=True)
    assert err.value.code == 72


def test_tailable_await_cursor_returns_new_inserts(fresh_db: Any) -> None:
    import threading
    import time

    from pymongo import CursorType

    coll = fresh_db.create_collection("feed", capped=True, size=100_000)
    coll.insert_many([{"_id": 1, "k": "a"}, {"_id": 2, "k": "b"}])
    cursor = coll.find({"k": {"$ne": "skip"}}, cursor_type=CursorType.TAILABLE_AWAIT).max_await_time_ms(2000)
    assert [d["_id"] for d in (next(cursor), next(cursor))] == [1, 2]
    assert cursor.alive
    later = threading.Timer(0.3, lambda: coll.insert_many([{"_id": 3, "k": "skip"}, {"_id": 4, "k": "c"}]))
    later.start()
    started = time.monotonic()
    assert next(cursor)["_id"] == 4  # the awaitData getMore woke up for the insert
    assert time.monotonic() - started < 2
    later.join()
    assert cursor.alive
    cursor.close()
    with pytest.raises(OperationFailure) as err:
        fresh_db.plain.insert_one({})
        list(fresh_db.plain.find(cursor_type=CursorType.TAILABLE))
    assert err.value.code == 2


def test_tailable_cursor_loses_its_position_when_capped_deletes_it(fresh_db: Any) -> None:
    coll = fresh_db.create_collection("ring", capped=True, size=4096, max=3)
    coll.insert_many([{"_id": i} for i in range(3)])
    first = fresh_db.command("find", "ring", tailable=True)["cursor"]
    assert [d["_id"] for d in first["firstBatch"]] == [0, 1, 2]
    assert first["id"] != 0  # it stays open when it runs dry
    assert fresh_db.command("getMore", first["id"], collection="ring")["cursor"]["nextBatch"] == []
    coll.insert_many([{"_id": i} for i in range(3, 10)])
    with pytest.raises(OperationFailure) as err:
        fresh_db.command("getMore", first["id"], collection="ring")
    assert err.value.code == 136


def test_read_concern_levels_are_checked(start_replica_set: StartSet) -> None:
    from pymongo.read_concern import ReadConcern

    rs = start_replica_set(2)
    with rs.client() as client:
        client.t.c.insert_one({"_id": 1})
        with pytest.raises(OperationFailure) as err:
            client.t.get_collection("c", read_concern=ReadConcern("unknown")).find_one()
        assert err.value.code == 9
        with pytest.raises(OperationFailure) as err:
            client.t.command("insert", "c", documents=[{"_id": 2}], readConcern={"level": "snapshot"})
        assert err.value.code == 72
        assert client.t.command("find", "c", readConcern={"level": "snapshot"})["ok"] == 1.0
        linear = client.t.get_collection("c", read_concern=ReadConcern("linearizable"))
        assert linear.find_one({"_id": 1}) == {"_id": 1}
    secondary = next(m for m in rs.members if m is not rs.primary())
    with secondary.client() as direct, pytest.raises(NotPrimaryError) as lost:
        direct.t.command("find", "c", readConcern={"level": "linearizable"})
    assert lost.value.details["code"] == 10107


def test_snapshot_reads_report_their_time_and_refuse_one_too_old(start_replica_set: StartSet) -> None:
    rs = start_replica_set(1)
    with rs.client() as client:
        db = client.t
        db.c.insert_one({"_id": 1, "x": 1})
        first = db.command("find", "c", readConcern={"level": "snapshot"})
        at = first["cursor"]["atClusterTime"]
        assert first["cursor"]["firstBatch"] == [{"_id": 1, "x": 1}]
        again = db.command("find", "c", readConcern={"level": "snapshot", "atClusterTime": at})
        assert again["cursor"]["firstBatch"] == [{"_id": 1, "x": 1}]
        assert db.command("distinct", "c", key="x", readConcern={"level": "snapshot"})["atClusterTime"] >= at
        db.c.update_one({"_id": 1}, {"$set": {"x": 2}})
        # The history a snapshot read needs is kept after it: the same time reads the same data.
        again = db.command("find", "c", readConcern={"level": "snapshot", "atClusterTime": at})
        assert again["cursor"]["firstBatch"] == [{"_id": 1, "x": 1}]
        with pytest.raises(OperationFailure) as err:  # older than anything kept: refused
            db.command("find", "c", readConcern={"level": "snapshot", "atClusterTime": Timestamp(1, 1)})
        assert err.value.code == 239
        assert client.admin.command("getnonce")["nonce"]


def test_server_status_sections_monitoring_tools_read(shared_client: Any) -> None:
    before = shared_client.admin.command("serverStatus")
    with pytest.raises(OperationFailure):
        shared_client.admin.command("noSuchCommandAnywhere")
    shared_client.t.c.insert_one({})
    after = shared_client.admin.command("serverStatus")
    assert after["network"]["numRequests"] > before["network"]["numRequests"]
    assert after["network"]["bytesIn"] > before["network"]["bytesIn"]
    assert after["network"]["bytesOut"] > before["network"]["bytesOut"]
    assert after["asserts"]["user"] == before["asserts"]["user"] + 1
    assert after["opcounters"]["insert"] == before["opcounters"]["insert"] + 1
    assert after["connections"]["current"] >= 1
    assert after["connections"]["totalCreated"] >= after["connections"]["current"]
    assert after["mem"]["resident"] > 0
    assert after["repl"]["setName"] == "rs0"
    assert after["uptime"] >= 0


def test_index_background_option_is_echoed(fresh_db: Any) -> None:
    fresh_db.c.create_index("a")
    fresh_db.c.create_index("b", background=False)
    fresh_db.c.create_index("c", background=True)
    info = fresh_db.c.index_information()
    assert "background" not in info["a_1"]
    assert info["b_1"]["background"] is False
    assert info["c_1"]["background"] is True


def test_tailable_cursor_honours_skip_and_limit(fresh_db: Any) -> None:
    from pymongo import CursorType

    coll = fresh_db.create_collection("ring", capped=True, size=4096, max=3)
    coll.insert_many([{"x": i} for i in range(4, 7)])
    for kind in (CursorType.TAILABLE, CursorType.TAILABLE_AWAIT):
        cursor = coll.find(cursor_type=kind)
        assert [d["x"] for d in cursor[1:3]] == [5, 6]
        cursor.rewind()
        assert [d["x"] for d in cursor[0:1]] == [4]
    reply = fresh_db.command("find", "ring", tailable=True, limit=2)["cursor"]
    assert [d["x"] for d in reply["firstBatch"]] == [4, 5]
    assert reply["id"] == 0  # the limit is reached: nothing left open
