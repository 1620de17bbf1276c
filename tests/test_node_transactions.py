"""The hub's Node.js driver against the emulator's transactions and change streams: concurrent
`session.withTransaction` transfers conflict, the driver retries them on the
TransientTransactionError label, each commits once, and a change stream shows every committed
transfer as its two updates with the transaction's number."""

from __future__ import annotations

from collections import Counter

from tests.conftest import StartSet
from tests.node_support import NodeScript

WORKERS, PER_WORKER = 4, 10


def test_with_transaction_retries_conflicts_and_commits_each_transfer_once(
    start_replica_set: StartSet,
) -> None:
    rs = start_replica_set(3)
    with NodeScript("transactions.mjs", rs.uri, str(WORKERS), str(PER_WORKER)) as node:
        node.wait_for("closed", 120)
    failed = node.events("failed")
    assert not failed, failed[:3]
    committed = node.events("committed")
    assert len(committed) == WORKERS * PER_WORKER
    (balances,) = node.events("balances")
    assert balances["balances"] == {"a": 1000 - len(committed), "b": 1000 + len(committed)}
    changes = node.events("change")
    assert Counter((c["operationType"], c["id"]) for c in changes) == {
        ("update", "a"): len(committed),
        ("update", "b"): len(committed),
    }
    assert all(c["txnNumber"] is not None for c in changes)
    # Four workers moving money between the same two documents: some transactions conflicted
    # (112 WriteConflict labelled TransientTransactionError) and the driver ran them again.
    assert any(e["code"] == 112 for e in node.events("transientError"))
