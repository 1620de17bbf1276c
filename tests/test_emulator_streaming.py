"""Streaming monitoring as mongod 4.4+ serves it: topologyVersion in every hello, the awaitable
hello, exhaust replies with moreToCome, and unmodified PyMongo monitoring by streaming."""

from __future__ import annotations

import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from bson import Int64, ObjectId
from pymongo import monitoring
from pymongo.errors import OperationFailure

from chaos.backends.processes import MemberProcess
from tests.conftest import ReplicaSet, StartSet
from tests.replication_support import FAST, events, eventually, writable_primary
from tests.wire_support import EXHAUST_ALLOWED, op_msg, read_reply


def _hello(member: MemberProcess, name: str = "hello", **args: Any) -> dict[str, Any]:
    """`name` (hello by default) on a direct connection to `member`."""
    with member.client() as client:
        return client.admin.command(name, **args)


def _step_down(member: MemberProcess) -> dict[str, Any]:
    with member.client() as client:
        return client.admin.command("replSetStepDown", 10, secondaryCatchUpPeriodSecs=5)


def _timed_hello(member: MemberProcess, **args: Any) -> tuple[float, dict[str, Any]]:
    start = time.monotonic()
    reply = _hello(member, **args)
    return time.monotonic() - start, reply


class Heartbeats(monitoring.ServerHeartbeatListener):
    """PyMongo's monitoring events, with the time each arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[float, str, tuple[str, int], bool]] = []

    def _add(self, kind: str, event: Any) -> None:
        with self.lock:
            self.events.append((time.monotonic(), kind, event.connection_id, event.awaited))

    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        self._add("succeeded", event)

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        self._add("failed", event)

    def since(self, t: float, kind: str) -> list[tuple[float, str, tuple[str, int], bool]]:
        with self.lock:
            return [e for e in self.events if e[0] >= t and e[1] == kind]


def test_every_hello_carries_the_topology_version_of_this_process(single_member: ReplicaSet) -> None:
    member = single_member.members[0]
    versions = [_hello(member, name)["topologyVersion"] for name in ("hello", "isMaster", "ismaster")]
    assert all(isinstance(v["processId"], ObjectId) and isinstance(v["counter"], Int64) for v in versions)
    assert len({(v["processId"], v["counter"]) for v in versions}) == 1
    member.kill()
    member.start()
    member.wait_ready()
    assert _hello(member)["topologyVersion"]["processId"] != versions[0]["processId"]


def test_an_awaitable_hello_waits_until_max_await_time_unless_the_version_is_not_current(
    single_member: ReplicaSet,
) -> None:
    member = single_member.members[0]
    current = _hello(member)["topologyVersion"]
    waited, reply = _timed_hello(member, topologyVersion=current, maxAwaitTimeMS=400)
    assert 0.38 <= waited < 2.0 and reply["topologyVersion"] == current and reply["isWritablePrimary"]
    # Another process id (the server restarted) or an older counter: answered at once.
    for stale in ({**current, "processId": ObjectId()}, {**current, "counter": current["counter"] - 1}):
        waited, reply = _timed_hello(member, topologyVersion=stale, maxAwaitTimeMS=5000)
        assert waited < 1.0 and reply["topologyVersion"] == current


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"maxAwaitTimeMS": 100}, 31368),
        ({"topologyVersion": "current"}, 31368),
        ({"topologyVersion": {"counter": -1}, "maxAwaitTimeMS": 100}, 31372),
        ({"topologyVersion": "current", "maxAwaitTimeMS": -1}, 31373),
        ({"topologyVersion": {"counter": 1000}, "maxAwaitTimeMS": 100}, 31382),
        ({"topologyVersion": 5, "maxAwaitTimeMS": 100}, 14),
        ({"topologyVersion": {"processId": None}, "maxAwaitTimeMS": 100}, 14),
        ({"topologyVersion": "current", "maxAwaitTimeMS": "soon"}, 14),
        ({"topologyVersion": {"counter": None}, "maxAwaitTimeMS": 0.5}, 14),
    ],
    ids=[
        "maxAwaitTimeMS-alone",
        "topologyVersion-alone",
        "negative-counter",
        "negative-maxAwaitTimeMS",
        "counter-ahead-of-the-server",
        "topologyVersion-not-an-object",
        "processId-not-an-ObjectId",
        "maxAwaitTimeMS-not-a-number",
        "counter-not-a-number",
    ],
)
def test_awaitable_hello_arguments_are_refused_with_mongods_codes(
    single_member: ReplicaSet, args: dict[str, Any], code: int
) -> None:
    member = single_member.members[0]
    current = _hello(member)["topologyVersion"]
    tv = args.get("topologyVersion")
    if tv == "current":
        args = {**args, "topologyVersion": current}
    elif isinstance(tv, dict):
        args = {**args, "topologyVersion": {**current, **tv}}
    with pytest.raises(OperationFailure) as failure:
        _hello(member, **args)
    assert failure.value.code == code


def test_a_missing_topology_version_field_is_refused_as_mongods_parser_does(
    single_member: ReplicaSet,
) -> None:
    member = single_member.members[0]
    with pytest.raises(OperationFailure) as failure:
        _hello(member, topologyVersion={"processId": ObjectId()}, maxAwaitTimeMS=10)
    assert failure.value.code == 40414 and "topologyVersion.counter" in str(failure.value)


# mongod's jstests/replsets/notprimary_errors_return_topology_version.js, through failCommand.
FAILURES = [
    ({"errorCode": 10107}, True),  # NotWritablePrimary
    ({"errorCode": 11602}, True),  # InterruptedDueToReplStateChange
    ({"errorCode": 13436}, True),  # NotPrimaryOrSecondary
    ({"writeConcernError": {"code": 189, "errmsg": "dummy"}}, True),  # PrimarySteppedDown
    ({"errorCode": 91}, False),  # ShutdownInProgress, outside quiesce mode
    ({"errorCode": 1}, False),
    ({"writeConcernError": {"code": 11600, "errmsg": "dummy"}}, False),
]


def test_not_primary_errors_carry_the_topology_version(single_member: ReplicaSet) -> None:
    member = single_member.members[0]
    with socket.create_connection((member.host, member.port), timeout=5) as sock:
        for data, carries in FAILURES:
            fail = {"mode": "alwaysOn", "data": {**data, "failCommands": ["insert"]}}
            sock.sendall(op_msg({"configureFailPoint": "failCommand", **fail, "$db": "admin"}))
            assert read_reply(sock).doc["ok"] == 1.0
            sock.sendall(op_msg({"insert": "c", "documents": [{"x": 1}], "$db": "test"}))
            reply = read_reply(sock).doc
            code = reply.get("code", reply.get("writeConcernError", {}).get("code"))
            assert code == data.get("errorCode", data.get("writeConcernError", {}).get("code")), reply
            assert ("topologyVersion" in reply) is carries, (data, reply)
            if carries:
                assert reply["topologyVersion"] == _hello(member)["topologyVersion"]


def _open_connections(sock: socket.socket) -> int:
    """serverStatus over a raw socket (a MongoClient would add its own monitoring connections)."""
    sock.sendall(op_msg({"serverStatus": 1, "$db": "admin"}))
    return int(read_reply(sock).doc["connections"]["current"])


def test_exhaust_streams_replies_with_more_to_come_chained_by_response_to(single_member: ReplicaSet) -> None:
    member = single_member.members[0]
    current = _hello(member)["topologyVersion"]
    request = {"hello": 1, "topologyVersion": current, "maxAwaitTimeMS": 200, "$db": "admin"}
    with socket.create_connection((member.host, member.port), timeout=5) as observer:
        with socket.create_connection((member.host, member.port), timeout=5) as sock:
            sock.sendall(op_msg(request, flags=EXHAUST_ALLOWED, request_id=42))
            start = time.monotonic()
            replies = [read_reply(sock) for _ in range(3)]
            elapsed = time.monotonic() - start
            streaming = _open_connections(observer)
        # The client went away: the server stops streaming and drops the connection.
        eventually(
            lambda: _open_connections(observer) == streaming - 1, 5, "the exhaust connection to be closed"
        )
    assert all(r.more_to_come and r.doc["ok"] == 1.0 for r in replies)
    assert [r.response_to for r in replies] == [42, replies[0].request_id, replies[1].request_id]
    assert all(r.doc["topologyVersion"] == current for r in replies)
    assert 0.55 <= elapsed < 3.0  # three waits of maxAwaitTimeMS, nothing changed meanwhile


def test_exhaust_without_max_await_time_is_refused_and_ends_the_stream(single_member: ReplicaSet) -> None:
    member = single_member.members[0]
    with socket.create_connection((member.host, member.port), timeout=5) as sock:
        sock.sendall(op_msg({"hello": 1, "$db": "admin"}, flags=EXHAUST_ALLOWED))
        reply = read_reply(sock)
        assert reply.doc["code"] == 51756 and not reply.more_to_come
        sock.sendall(op_msg({"ping": 1, "$db": "admin"}, request_id=8))
        assert read_reply(sock).response_to == 8


def test_a_stepdown_answers_waiting_hellos_at_once_from_its_no_writes_window(
    start_replica_set: StartSet,
) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    secondaries = [m for m in rs.members if m is not primary]
    current = _hello(primary)["topologyVersion"]
    for m in secondaries:
        with m.client() as direct:
            direct.admin.command("configureFailPoint", "stopReplProducer", mode="alwaysOn")
    with primary.client(w=1) as client:
        client.test.c.insert_one({"_id": 2})  # the secondaries do not have it: the stepdown waits
    with ThreadPoolExecutor(2) as pool:
        waiting = pool.submit(_timed_hello, primary, topologyVersion=current, maxAwaitTimeMS=10_000)
        time.sleep(0.3)
        stepdown = pool.submit(_step_down, primary)
        waited, reply = waiting.result(timeout=5)
        # Still primary, no longer writable: the window in which mongod refuses writes.
        assert waited < 1.5 and reply["isWritablePrimary"] is False and reply["secondary"] is False
        assert reply["topologyVersion"]["counter"] > current["counter"]
        for m in secondaries:
            with m.client() as direct:
                direct.admin.command("configureFailPoint", "stopReplProducer", mode="off")
        after = reply["topologyVersion"]
        waited, reply = _timed_hello(primary, topologyVersion=after, maxAwaitTimeMS=10_000)
        assert waited < 5 and reply["secondary"] is True
        assert stepdown.result(timeout=10)["ok"] == 1.0


def test_pymongo_monitors_by_streaming_and_sees_changes_at_once(start_replica_set: StartSet) -> None:
    rs = start_replica_set(3, settings=FAST)
    primary = rs.primary()
    eventually(
        lambda: all(_hello(m).get("primary") for m in rs.members), 10, "every member to know the primary"
    )
    listener = Heartbeats()
    # PyMongo's default heartbeatFrequencyMS (10 s): polling would notice nothing for seconds.
    with rs.client(event_listeners=[listener]) as client:
        client.admin.command("ping")
        eventually(lambda: client.primary == (primary.host, primary.port), 5, "discovery")
        time.sleep(0.5)  # every monitor is now waiting in an awaitable hello
        with primary.client() as direct:
            direct.admin.command("replSetStepDown", 10)
        stepped = time.monotonic()
        new = eventually(lambda: writable_primary(rs.members), 10, "a new primary")
        eventually(lambda: client.primary == (new.host, new.port), 5, "the client to follow the new primary")
        followed = time.monotonic() - stepped
        assert followed < 5.0, f"the client found the new primary after {followed:.1f} s"
        # Each member's hello changed (a state, or the primary it names): each monitor was answered.
        eventually(
            lambda: (
                {e[2] for e in listener.since(stepped, "succeeded") if e[3]}
                == {(m.host, m.port) for m in rs.members}
            ),
            3,
            "an awaited heartbeat from every member",
        )
        # A killed member's streaming heartbeat fails the moment its socket dies.
        victim = next(m for m in rs.members if m is not new)
        killed = time.monotonic()
        victim.kill()
        failed = eventually(
            lambda: [e for e in listener.since(killed, "failed") if e[2] == (victim.host, victim.port)],
            5,
            "the killed member's heartbeat to fail",
        )
        assert failed[0][3] is True and failed[0][0] - killed < 1.0


def test_a_reconfig_answers_waiting_hellos_with_the_new_config(single_member: ReplicaSet) -> None:
    member = single_member.members[0]
    before = _hello(member)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(
            _timed_hello, member, topologyVersion=before["topologyVersion"], maxAwaitTimeMS=10_000
        )
        time.sleep(0.3)
        with member.client() as client:
            config = client.admin.command("replSetGetConfig")["config"]
            config["version"] += 1
            config["members"][0]["tags"] = {"region": "eu"}
            client.admin.command("replSetReconfig", config)
        waited, reply = waiting.result(timeout=5)
    assert (
        waited < 1.5 and reply["setVersion"] == before["setVersion"] + 1 and reply["tags"] == {"region": "eu"}
    )
    assert reply["topologyVersion"]["counter"] > before["topologyVersion"]["counter"]


def test_sigterm_quiesces_a_secondary_refusing_hello_with_shutdown_in_progress(
    start_replica_set: StartSet,
) -> None:
    quiesce_ms = 3000
    parameter = f"shutdownTimeoutMillisForSignaledShutdown={quiesce_ms}"
    rs = start_replica_set(3, settings=FAST, extra_args=("--setParameter", parameter))
    primary = rs.primary()
    member = next(m for m in rs.members if m is not primary)
    current = _hello(member)["topologyVersion"]
    awaitable = {"hello": 1, "topologyVersion": current, "maxAwaitTimeMS": 10_000, "$db": "admin"}
    with (
        socket.create_connection((member.host, member.port), timeout=10) as waiting,
        socket.create_connection((member.host, member.port), timeout=10) as other,
    ):
        waiting.sendall(op_msg(awaitable))
        time.sleep(0.3)
        stopped = time.monotonic()
        member.signal(signal.SIGTERM)
        answer = read_reply(waiting)
        # The waiting monitor is answered at once, and so is every hello until the member exits...
        assert answer.doc["code"] == 91 and time.monotonic() - stopped < 1.5
        # As mongod's quiesce_mode.js: the refusal carries the topologyVersion quiesce mode began.
        assert answer.doc["topologyVersion"]["counter"] > current["counter"]
        other.sendall(op_msg({"hello": 1, "$db": "admin"}))
        assert read_reply(other).doc["codeName"] == "ShutdownInProgress"
        # ...while it still serves everything else on the connections it has.
        other.sendall(op_msg({"find": "c", "$db": "test", "$readPreference": {"mode": "secondaryPreferred"}}))
        assert read_reply(other).doc["ok"] == 1.0
    assert member.proc is not None
    member.proc.wait(15)
    assert time.monotonic() - stopped >= quiesce_ms / 1000 - 0.5
    assert events(member, "quiesce") and events(member, "shutdown")[-1]["clean"] is True
