"""The recordings channel between Locust workers and their master (`locustfiles.channel`):
numbered batches written once and synced before they are acknowledged, back-pressure from a
full window, and a master killed with SIGKILL and restarted that keeps every batch it
acknowledged exactly once (separate processes over Locust's own ZeroMQ sockets)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from test_workload_recorder import entry, request

from chaos.backends.processes import free_port
from locustfiles.channel import BatchMessage, ChannelError, Inbox, Uplink, log_path
from locustfiles.merge import merge_run
from locustfiles.recorder import Recorder
from locustfiles.settings import RecorderSettings
from locustfiles.shards import Parts, manifests

PEERS = Path(__file__).with_name("channel_peers.py")
SESSION = uuid.uuid4().hex


def ledger(first: int, count: int, worker: str = "worker-0") -> Parts:
    entries = [entry(f"{worker}-{n}", float(n), worker) for n in range(first, first + count)]
    return Parts.of([], entries, [], [])


def batch(seq: int, parts: Parts) -> dict[str, Any]:
    return BatchMessage.of("worker-0", SESSION, seq, parts).model_dump()


def ledger_ids(run_dir: Path) -> list[str]:
    report = merge_run(run_dir, wait_s=0)
    assert report.duplicates == 0 and not report.torn
    return pq.read_table(run_dir / "ledger.parquet").column("write_id").to_pylist()


def test_a_batch_sent_again_is_acknowledged_and_written_once(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    first = batch(1, ledger(1, 10))
    assert inbox.receive(first) == {"session": SESSION, "seq": 1}
    assert inbox.receive(first) == {"session": SESSION, "seq": 1}
    inbox.receive(batch(2, ledger(11, 5)))
    assert inbox.holds(SESSION) == {1, 2}
    (manifest,) = manifests(tmp_path)
    assert (manifest.worker, manifest.ledger) == ("worker-0", 15)
    assert sorted(ledger_ids(tmp_path)) == sorted(f"worker-0-{n}" for n in range(1, 16))


def test_a_workers_shards_close_once_its_last_batch_is_held(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    inbox.receive(batch(1, ledger(1, 5)), node="node-a")
    inbox.begin_drain(["node-a"])
    inbox.on_drained("node-a", {"session": SESSION, "last_seq": 2})  # batch 2 is still on its way
    assert inbox.undrained() == ["node-a"]
    assert not manifests(tmp_path)[0].closed
    inbox.receive(batch(2, ledger(6, 5)), node="node-a")
    assert inbox.undrained() == []
    (manifest,) = manifests(tmp_path)
    assert manifest.closed and manifest.ledger == 10


def test_the_drain_waits_for_a_worker_that_left_before_it_began(tmp_path: Path) -> None:
    """Ctrl-C reaching every process: the workers leave the master's list, then their last
    batches arrive; the drain asks no one, and still waits for the shards they opened."""
    inbox = Inbox(tmp_path)
    inbox.receive(batch(1, ledger(1, 5)), node="node-a")
    inbox.begin_drain([])
    assert inbox.undrained() == ["worker-0"]
    inbox.on_drained("node-a", {"session": SESSION, "last_seq": 2})
    assert inbox.undrained() == ["worker-0"]  # its last batch is still on its way
    inbox.receive(batch(2, ledger(6, 5)), node="node-a")
    assert inbox.undrained() == []
    assert manifests(tmp_path)[0].closed


def test_a_restarted_master_cuts_what_it_wrote_but_never_acknowledged(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    inbox.receive(batch(1, ledger(1, 10)))
    inbox.receive(batch(2, ledger(11, 10)))
    (manifest,) = manifests(tmp_path)
    # Killed after writing batch 2's rows, before logging them (and so before acknowledging):
    # its log line is gone and half of another one is there.
    log = log_path(tmp_path, manifest.stem)
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0] + lines[1][:25])

    restarted = Inbox(tmp_path)
    assert restarted.holds(SESSION) == {1}
    restarted.receive(batch(2, ledger(11, 10)))
    restarted.receive(batch(1, ledger(1, 10)))  # held already: not written again
    ids = ledger_ids(tmp_path)
    assert sorted(ids) == sorted(f"worker-0-{n}" for n in range(1, 21))
    old, new = sorted(manifests(tmp_path), key=lambda m: m.stem)
    assert (old.stem, old.ledger, old.closed) == (manifest.stem, 10, True)
    assert new.ledger == 10


def test_a_bad_batch_is_refused_with_one_line(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    with pytest.raises(ChannelError, match="BatchMessage"):
        inbox.receive({**batch(1, ledger(1, 1)), "writer": "../../etc"})
    with pytest.raises(ChannelError, match="not an Arrow stream"):
        inbox.receive({**batch(1, ledger(1, 1)), "ledger": b"garbage"})
    assert inbox.holds(SESSION) == set()


def test_a_full_window_makes_the_writer_wait_until_an_acknowledgement(tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []
    uplink = Uplink(lambda kind, data: sent.append(data), "worker-0", RecorderSettings(window=3))
    writer = threading.Thread(target=lambda: [uplink.write(ledger(n, 1)) for n in range(1, 6)])
    writer.start()
    time.sleep(0.5)
    assert [m["seq"] for m in sent] == [1, 2, 3]  # the fourth waits for room in the window
    assert writer.is_alive()
    uplink.on_ack({"session": uplink.session, "seq": 2})
    time.sleep(0.3)
    assert [m["seq"] for m in sent] == [1, 2, 3, 4]
    uplink.on_ack({"session": "another", "seq": 1})  # another process's: no room made
    time.sleep(0.3)
    assert len(sent) == 4
    for seq in (1, 3, 4):
        uplink.on_ack({"session": uplink.session, "seq": seq})
    writer.join(timeout=5)
    assert [m["seq"] for m in sent] == [1, 2, 3, 4, 5]
    assert uplink.settle(0.2) == 1  # batch 5 is still unacknowledged


def test_the_masters_silence_counts_only_while_a_batch_waits_for_it(tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []
    uplink = Uplink(
        lambda kind, data: sent.append(data), "worker-0", RecorderSettings(window=1, drain_timeout_s=0.4)
    )
    time.sleep(0.6)  # idle: nothing was waiting for an acknowledgement
    uplink.write(ledger(1, 1))
    second = threading.Thread(target=uplink.write, args=(ledger(2, 1),))
    second.start()
    time.sleep(0.2)
    assert second.is_alive() and uplink.dropped == 0  # still waiting, not given up
    uplink.on_ack({"session": uplink.session, "seq": 1})
    second.join(timeout=5)
    assert [m["seq"] for m in sent] == [1, 2] and uplink.dropped == 0


def test_a_master_that_does_not_acknowledge_slows_the_users_then_recording_stops(tmp_path: Path) -> None:
    """Back-pressure down to the request path: with the window full and the recorder's buffer
    full, a user's request waits; a master silent for `drain_timeout_s` is given up, and the
    users go on (what they record is counted as not sent, not buffered)."""
    sent: list[dict[str, Any]] = []
    settings = RecorderSettings(flush_interval_s=0.05, max_buffered=1000, window=2, drain_timeout_s=2)
    uplink = Uplink(lambda kind, data: sent.append(data), "worker-0", settings)
    recorder = Recorder(uplink, "worker-0", settings)
    requests = 0

    def user() -> None:
        nonlocal requests
        for i in range(20_000):
            request(recorder, "prompts.get", float(i))
            requests += 1

    thread = threading.Thread(target=user)
    thread.start()
    time.sleep(1.0)
    assert thread.is_alive()
    # At most: two batches in flight, a third drained from the buffer and waiting, a full buffer.
    assert settings.max_buffered <= requests <= 4 * settings.max_buffered
    thread.join(timeout=10)
    assert requests == 20_000
    recorder.close()  # what the user recorded last may still be in the buffer until then
    assert uplink.dropped == 20_000 - uplink.manifest.events
    assert [m["seq"] for m in sent] == [1, 2]


def _start_master(port: int, run_dir: Path) -> subprocess.Popen[str]:
    master = subprocess.Popen(
        [sys.executable, str(PEERS), "master", "127.0.0.1", str(port), str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert master.stdout is not None and master.stdout.readline().strip() == "ready"
    return master


def _logged(run_dir: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in run_dir.glob("events/*.batches"))


def test_a_master_killed_under_a_sending_worker_keeps_every_acknowledged_batch_once(tmp_path: Path) -> None:
    run_dir, port, entries = tmp_path / "run", free_port(), 20_000
    master = _start_master(port, run_dir)
    worker = subprocess.Popen(
        [sys.executable, str(PEERS), "worker", "127.0.0.1", str(port), str(entries)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _logged(run_dir) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(master.pid, signal.SIGKILL)
        master.wait()
        held_before = _logged(run_dir)
        time.sleep(1.0)  # the worker's window fills while no master answers
        master = _start_master(port, run_dir)
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-3000:]
        assert master.stdout is not None
        assert json.loads(master.stdout.readline()) == {"undrained": []}
    finally:
        for proc in (master, worker):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"recorded": entries, "batches": result["batches"], "unacked": 0}
    # The kill landed while the worker was sending: some batches before it, more after.
    assert 3 <= held_before < result["batches"]
    report = merge_run(run_dir, wait_s=0)
    assert report.complete, report.describe()
    assert (report.ledger, report.duplicates, report.missing) == (entries, 0, 0)
    assert len(report.workers) == 1 and report.shards == 2  # the killed master's stem and the new one's
