"""The two ends of the recordings channel as separate processes over Locust's own sockets
(`locust.rpc`: ZeroMQ, as between a Locust master and worker), without Locust's runners: a
restarted Locust master does not take back its workers, so the master's restart is tested here.

    python channel_peers.py master HOST PORT RUN_DIR
    python channel_peers.py worker HOST PORT ENTRIES
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from locust.rpc import Message, rpc  # noqa: E402
from test_workload_recorder import entry  # noqa: E402

from locustfiles.channel import ACK, BATCH, DRAINED, Inbox, Uplink  # noqa: E402
from locustfiles.recorder import Recorder  # noqa: E402
from locustfiles.settings import RecorderSettings  # noqa: E402

WRITER = "worker-0"
SETTINGS = RecorderSettings(flush_interval_s=0.05, max_buffered=1000, window=4, resend_after_s=0.5)


def master(host: str, port: int, run_dir: Path) -> None:
    server = rpc.Server(host, port)
    inbox = Inbox(run_dir)
    print("ready", flush=True)
    while True:
        node, msg = server.recv_from_client()
        if msg.type == BATCH:
            server.send_to_client(Message(ACK, inbox.receive(msg.data), node))
        elif msg.type == DRAINED:
            inbox.begin_drain([node])
            inbox.on_drained(node, msg.data)
            print(json.dumps({"undrained": inbox.wait_drained(10)}), flush=True)


def worker(host: str, port: int, entries: int) -> None:
    node = uuid.uuid4().hex
    client = rpc.Client(host, port, node)
    uplink = Uplink(lambda kind, data: client.send(Message(kind, data, node)), WRITER, SETTINGS)

    def acks() -> None:
        while True:
            uplink.on_ack(client.recv().data)

    gevent.spawn(acks)
    recorder = Recorder(uplink, WRITER, SETTINGS)
    for n in range(1, entries + 1):
        recorder.ledger(entry(f"{WRITER}-{n}", time.time(), WRITER))
        if n % 50 == 0:
            gevent.sleep(0.01)  # about 5,000 entries a second: the stream lasts a few seconds
    recorder.flush()
    unacked = uplink.finish(60)
    recorder.close()
    print(json.dumps({"recorded": entries, "batches": uplink.last_seq, "unacked": unacked}), flush=True)


if __name__ == "__main__":
    role, host, port, arg = sys.argv[1:5]
    if role == "master":
        master(host, int(port), Path(arg))
    else:
        worker(host, int(port), int(arg))
