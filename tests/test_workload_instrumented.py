"""The instrument: round-trip timing, what it reports, and how it settles planned writes."""

from __future__ import annotations

import time
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.errors import AutoReconnect, DuplicateKeyError, NotPrimaryError

from contract.rundir import LedgerEntry
from locustfiles.instrumented import Instrument, WriteIds, render_id


class Hook:
    """Collects what `fire` receives, as a Locust listener would."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def fire(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


class Ledger:
    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []

    def ledger(self, entry: LedgerEntry) -> None:
        self.entries.append(entry)


@pytest.fixture
def collection() -> Any:
    # A collection handle only; nothing is sent (connect=False).
    client: MongoClient[Any] = MongoClient("mongodb://127.0.0.1:1/", connect=False, w="majority")
    yield client.aihub.prompts
    client.close()


def make() -> tuple[Instrument, Hook, Ledger]:
    hook, ledger = Hook(), Ledger()
    return Instrument(hook, ledger, "HubUser", WriteIds("worker-0")), hook, ledger


def test_measure_times_the_block_and_reports_it() -> None:
    instrument, hook, _ = make()
    before = time.time()
    with instrument.measure("prompts.get") as call:
        time.sleep(0.05)
        call.response_size = 123
    assert call.ok
    (fired,) = hook.calls
    assert fired["request_type"] == "mongo"
    assert fired["name"] == "prompts.get"
    assert 50 <= fired["response_time"] < 500
    assert fired["response_length"] == 123
    assert fired["exception"] is None
    assert before <= fired["start_time"] <= time.time()
    assert fired["context"] == {"user_class": "HubUser", "is_write": False, "error_class": None}


def test_an_exception_is_reported_classified_and_swallowed() -> None:
    instrument, hook, _ = make()
    with instrument.measure("prompts.list_by_category") as call:
        raise NotPrimaryError("not primary", {"ok": 0, "code": 10107})
    assert not call.ok
    assert isinstance(hook.calls[0]["exception"], NotPrimaryError)
    assert hook.calls[0]["context"]["error_class"] == "not_primary"


def test_planned_writes_are_settled_in_the_ledger(collection: Any) -> None:
    instrument, hook, ledger = make()
    oid = ObjectId()
    write = instrument.plan(collection, "insert", oid)
    assert write.token == write.write_id == "worker-0-1"
    with instrument.measure("prompts.create", writes=[write]):
        pass
    (entry,) = ledger.entries
    assert (entry.write_id, entry.collection, entry.op, entry.doc_id, entry.id_type) == (
        "worker-0-1",
        "prompts",
        "insert",
        str(oid),
        "oid",
    )
    assert entry.write_concern == "majority"
    assert entry.status == "acked" and entry.t_ack is not None and entry.t_ack >= entry.t_start
    assert entry.user_class == "HubUser" and entry.worker == "worker-0"
    assert hook.calls[0]["context"]["is_write"] is True


def test_failed_and_indeterminate_writes(collection: Any) -> None:
    instrument, _, ledger = make()
    dup = instrument.plan(collection, "insert", "a")
    with instrument.measure("prompts.create", writes=[dup]):
        raise DuplicateKeyError("E11000", 11000)
    lost = instrument.plan(collection, "update", 7, stores_token=False)
    with instrument.measure("prompts.update", writes=[lost]):
        raise AutoReconnect("connection reset")
    assert [(e.status, e.t_ack, e.id_type, e.token) for e in ledger.entries] == [
        ("failed", None, "str", "worker-0-1"),
        ("indeterminate", None, "int", None),
    ]


def test_an_interrupted_write_is_indeterminate_and_not_reported(collection: Any) -> None:
    instrument, hook, ledger = make()
    write = instrument.plan(collection, "insert", ObjectId())
    with pytest.raises(KeyboardInterrupt), instrument.measure("prompts.create", writes=[write]):
        raise KeyboardInterrupt
    assert hook.calls == []
    assert [e.status for e in ledger.entries] == ["indeterminate"]


def test_write_ids_count_from_one_per_worker() -> None:
    ids = WriteIds("local")
    assert [ids.next() for _ in range(3)] == ["local-1", "local-2", "local-3"]


def test_render_id() -> None:
    oid = ObjectId()
    assert render_id(oid) == (str(oid), "oid")
    assert render_id("store-1-c1") == ("store-1-c1", "str")
    assert render_id(42) == ("42", "int")
    with pytest.raises(TypeError, match="float"):
        render_id(1.5)
