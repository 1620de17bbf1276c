"""Ctrl-C on a distributed drill reaches the drill and its Locust workers at once (a terminal
signals the whole foreground job). Every write a user made before the users stopped must still
be in the ledger: each document's final state names its last write (`_w`), and that write is
in the ledger whatever the order in which the processes heard the signal."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from chaos_support import wait_until
from drill_support import TINY_CORPUS, LiveDrill, processes_under, scenario, state_env

from contract import rundir

pytestmark = pytest.mark.slow


def test_ctrl_c_on_a_distributed_drill_keeps_every_acknowledged_write(
    start_replica_set: Any, tmp_path: Path
) -> None:
    rs = start_replica_set(1)
    body = f"""\
target: {{backend: external, uri: "{rs.uri}"}}
workload:
  users: 20
  spawn_rate: 20
  duration: 120s
  corpus: {TINY_CORPUS}
"""
    state, out = tmp_path / "state", tmp_path / "run"
    drill = LiveDrill(
        scenario(tmp_path, "workers", body), out, state_env(state), "--workers", "2", own_group=True
    )
    drill.wait_for("running the load")
    # Well into the load: both workers recording, writes behind them and more in flight.
    wait_until(
        lambda: len(list((out / rundir.LEDGER_SHARDS).glob("worker-*"))) >= 2, 60, "both workers' ledgers"
    )
    time.sleep(10)
    drill.signal_group(signal.SIGINT)
    code, _, stderr = drill.finish()
    assert code == 3, stderr
    assert "Traceback" not in stderr, stderr
    ledger = pq.read_table(out / rundir.LEDGER, columns=["write_id", "collection", "token"]).to_pandas()
    tokens = set(ledger["token"].dropna())
    database = (rundir.read_scenario(out) or {})["workload"]["database"]
    client = rs.client()
    unrecorded: list[tuple[str, Any]] = []
    written = 0
    for collection in sorted(set(ledger["collection"])):
        for doc in client[database][collection].find({"_w": {"$exists": True}}, {"_w": 1}):
            written += 1
            if doc["_w"] not in tokens:
                unrecorded.append((collection, doc["_w"]))
    assert written > 100
    assert not unrecorded, (
        f"{len(unrecorded)} of {written} documents' last writes are not in the ledger: {unrecorded[:10]}"
    )
    for log in (out / "workers").glob("*.log"):  # a flush after the recording closed fails there
        text = log.read_text()
        assert "Traceback" not in text and "never acknowledged" not in text, text
    assert not processes_under(out)
