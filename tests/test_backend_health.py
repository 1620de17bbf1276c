"""Health rules and status parsing, over replSetGetStatus / hello documents."""

from __future__ import annotations

from bson import ObjectId, Timestamp

from chaos.backends.health import (
    MemberStatus,
    await_healthy,
    hello_status,
    self_status,
    set_view,
    unhealthy_reason,
    with_lag,
)


def status(name: str, state: str, optime: float | None = 100.0, term: int = 2) -> MemberStatus:
    return MemberStatus(name, f"{name}:27017", None, state, term=term, optime=optime)


def test_healthy_set() -> None:
    rows = with_lag([status("a", "PRIMARY"), status("b", "SECONDARY", 99.5), status("c", "SECONDARY")])
    assert unhealthy_reason(rows, max_lag_s=1.0) is None
    assert [r.lag_s for r in rows] == [0.0, 0.5, 0.0]


def test_lagging_secondary_is_named() -> None:
    rows = with_lag([status("a", "PRIMARY"), status("b", "SECONDARY", 80.0)])
    reason = unhealthy_reason(rows, max_lag_s=10.0)
    assert reason is not None and "member b" in reason and "20.0 s" in reason


def test_unreachable_or_recovering_member_is_named() -> None:
    rows = [status("a", "PRIMARY"), MemberStatus("b", "b:1", None, "(not reachable)", error="timeout")]
    assert unhealthy_reason(rows, 10.0) == "member b (b:1) is (not reachable): timeout"
    rows = [status("a", "PRIMARY"), status("b", "RECOVERING")]
    assert "member b (b:27017) is RECOVERING" in (unhealthy_reason(rows, 10.0) or "")


def test_no_primary_and_two_primaries() -> None:
    assert (unhealthy_reason([status("a", "SECONDARY")], 1.0) or "").startswith("no primary")
    two = [status("a", "PRIMARY", term=1), status("b", "PRIMARY", term=2)]
    assert "more than one primary" in (unhealthy_reason(two, 1.0) or "")


def test_lag_is_measured_against_the_newest_primary() -> None:
    rows = with_lag([status("a", "PRIMARY", 50.0, term=1), status("b", "PRIMARY", 60.0, term=2)])
    assert rows[0].lag_s == 10.0


def test_self_status_reads_the_self_entry() -> None:
    doc = {
        "term": 7,
        "myState": 2,
        "members": [
            {"name": "x:1", "stateStr": "PRIMARY", "optime": {"ts": Timestamp(200, 0), "t": 7}},
            {
                "name": "y:1",
                "self": True,
                "stateStr": "SECONDARY",
                "optime": {"ts": Timestamp(100, 5), "t": 7},
                "syncSourceHost": "x:1",
            },
        ],
    }
    s = self_status("y", "y:1", "eu", doc)
    assert (s.state, s.term, s.sync_source, s.region) == ("SECONDARY", 7, "x:1", "eu")
    assert s.optime == 100.000005


def test_hello_status_for_users_without_replsetgetstatus() -> None:
    election_id = ObjectId("7fffffff000000000000000c")
    doc = {"setName": "rs0", "isWritablePrimary": True, "electionId": election_id}
    s = hello_status("a", "a:1", None, doc)
    assert (s.state, s.term) == ("PRIMARY", 12)
    assert hello_status("a", "a:1", None, {"setName": "rs0", "secondary": True}).state == "SECONDARY"
    assert hello_status("a", "a:1", None, {"isreplicaset": True}).state == "STARTUP"


def test_the_set_view_of_a_uri_client_reads_every_member_of_one_reply() -> None:
    doc = {
        "members": [
            {
                "name": "h1:27017",
                "stateStr": "PRIMARY",
                "health": 1,
                "optime": {"ts": Timestamp(100, 1), "t": 3},
            },
            {
                "name": "h2:27017",
                "stateStr": "SECONDARY",
                "health": 1,
                "optime": {"ts": Timestamp(88, 0), "t": 3},
            },
            {
                "name": "h3:27017",
                "stateStr": "(not reachable/healthy)",
                "health": 0,
                "lastHeartbeatMessage": "Connection refused",
            },
        ]
    }
    rows = set_view(doc)
    assert [(r.name, r.state) for r in rows] == [
        ("h1:27017", "PRIMARY"),
        ("h2:27017", "SECONDARY"),
        ("h3:27017", "(not reachable)"),
    ]
    assert rows[1].lag_s is not None and abs(rows[1].lag_s - 12.000001) < 1e-6
    assert unhealthy_reason(rows, 10.0) == "member h2:27017 (h2:27017) lags the primary by 12.0 s (max 10 s)"


def test_await_healthy_reads_until_healthy_or_gives_the_last_reason() -> None:
    reads = iter(
        [
            [status("a", "SECONDARY")],
            [status("a", "PRIMARY"), status("b", "STARTUP2")],
            [status("a", "PRIMARY")],
        ]
    )
    statuses, reason = await_healthy(lambda: next(reads), timeout=5.0, max_lag_s=1.0)
    assert reason is None and [s.state for s in statuses] == ["PRIMARY"]
    statuses, reason = await_healthy(lambda: [status("a", "PRIMARY"), status("b", "ROLLBACK")], 0.3, 1.0)
    assert reason == "member b (b:27017) is ROLLBACK" and len(statuses) == 2
