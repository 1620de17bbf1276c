"""Probe rows from replSetGetStatus answers (pure), and a live probe against a real member."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from bson import Int64, Timestamp
from pymongo import MongoClient

from chaos.probes import UNREACHABLE, ProbeTarget, StatusProbe, samples_from_status
from contract.rundir import ProbeSample
from tests.conftest import ReplicaSet


def _member(
    name: str, state: str, secs: int, health: int = 1, *, term: int = 2, wall: float | None = None
) -> dict:
    """A replSetGetStatus member entry; `wall` is lastAppliedWallTime (seconds), as mongod fills
    it from position reports while `optime` may be a heartbeat old."""
    entry = {
        "name": name,
        "stateStr": state,
        "health": health,
        "optime": {"ts": Timestamp(secs, 3), "t": Int64(term)},
        "optimeDate": datetime.fromtimestamp(secs, UTC).replace(tzinfo=None),
    }
    if wall is not None:
        entry["lastAppliedWallTime"] = datetime.fromtimestamp(wall, UTC).replace(tzinfo=None)
    return entry


def _lags(*members: dict) -> list[float | None]:
    return [r.lag_s for r in samples_from_status("m0", {"term": 2, "members": list(members)}, 5.0, 1.0, {})]


def test_rows_name_members_by_run_name_and_measure_lag_from_the_primary() -> None:
    status = {
        "term": 2,
        "members": [
            _member("10.0.0.1:27017", "PRIMARY", 1000),
            _member("10.0.0.2:27017", "SECONDARY", 997),
            _member("10.0.0.3:27017", "(not reachable/healthy)", 0, health=0),
        ],
    }
    names = {"10.0.0.1:27017": "m0", "10.0.0.2:27017": "m1", "10.0.0.3:27017": "m2"}
    rows = samples_from_status("m1", status, 5.0, 1.5, names)
    assert [(r.member, r.state, r.lag_s, r.primary, r.term) for r in rows] == [
        ("m0", "PRIMARY", 0.0, "m0", 2),
        ("m1", "SECONDARY", 3.0, "m0", 2),
        ("m2", "(not reachable/healthy)", None, "m0", 2),
    ]
    assert rows[0].optime == 1000.000003
    assert (rows[1].optime_ts, rows[1].optime_term, rows[1].applied_wall) == (997 << 32 | 3, 2, 997.0)


def test_an_idle_set_lags_by_nothing_however_old_its_last_write() -> None:
    # Nothing written for 11 s before the sample, and every member has it all.
    assert _lags(
        _member("p", "PRIMARY", 1000, wall=1000.25), _member("s", "SECONDARY", 1000, wall=1000.25)
    ) == [0.0, 0.0]


def test_a_stale_heartbeat_optime_is_no_lag_when_the_member_reported_it_applied_everything() -> None:
    # The primary wrote at 1011 after an idle spell; the secondary's heartbeat optime is from
    # before, but its position report (lastAppliedWallTime) already says it applied 1011.25.
    assert _lags(
        _member("p", "PRIMARY", 1011, wall=1011.25), _member("s", "SECONDARY", 1000, wall=1011.25)
    ) == [0.0, 0.0]


def test_a_secondary_behind_lags_by_the_time_between_the_operations() -> None:
    assert _lags(
        _member("p", "PRIMARY", 1020, wall=1020.5), _member("s", "SECONDARY", 1016, wall=1016.25)
    ) == [0.0, 4.25]


def test_a_newer_term_counts_as_ahead_even_at_an_older_timestamp() -> None:
    # mongod orders optimes by term first: a secondary at (1, 1030) has not applied (2, 1020).
    assert _lags(
        _member("p", "PRIMARY", 1020, wall=1020.0),
        _member("s", "SECONDARY", 1030, term=1, wall=1018.0),
    ) == [0.0, 2.0]


def test_no_primary_means_no_lag_and_no_primary() -> None:
    rows = samples_from_status("m0", {"term": 5, "members": [_member("a:1", "SECONDARY", 10)]}, 1.0, 1.0, {})
    assert rows[0].primary is None and rows[0].lag_s is None and rows[0].member == "a:1"


def test_live_probe_samples_a_member_and_marks_a_dead_one_unreachable(single_member: ReplicaSet) -> None:
    m = single_member.members[0]
    got: list[ProbeSample] = []
    lock = threading.Lock()

    def sink(rows: list[ProbeSample]) -> None:
        with lock:
            got.extend(rows)

    def connect(target: ProbeTarget, ms: int) -> MongoClient[dict]:
        host, _, port = target.host.rpartition(":")
        return MongoClient(
            host, int(port), directConnection=True, serverSelectionTimeoutMS=ms, socketTimeoutMS=ms
        )

    targets = [ProbeTarget("m0", m.address), ProbeTarget("gone", "127.0.0.1:1")]
    probe = StatusProbe(targets, sink, connect, interval=0.1)
    probe.start()
    threading.Event().wait(1.0)
    probe.stop()
    live = [r for r in got if r.observer == "m0"]
    dead = [r for r in got if r.observer == "gone"]
    assert len(live) >= 5
    assert all(r.reachable and r.state == "PRIMARY" and r.member == "m0" for r in live)
    assert dead and all(not r.reachable and r.state == UNREACHABLE for r in dead)
