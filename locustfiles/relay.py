"""The recordings channel (`locustfiles.channel`) carried by Locust's runners as custom messages
(`register_message`/`send_message`) between a worker and its master.

A worker records through an `Uplink`; when the load stops, the master asks every worker for its
last batches (`drain`) before Locust's quit closes the message channel (the drill drains before
it quits the runner: a runner whose workers all stopped on their own quits without a test
stop), and each worker stops its users first, so nothing they recorded is left behind.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
from locust.runners import STATE_MISSING, LocalRunner, MasterRunner, WorkerRunner

from locustfiles.channel import ACK, BATCH, DRAIN, DRAINED, ChannelError, Drained, Inbox, Uplink
from locustfiles.settings import RecorderSettings
from locustfiles.workload import Workload

log = logging.getLogger(__name__)


def stop_users(runner: WorkerRunner | LocalRunner, timeout_s: float = 10.0) -> None:
    """Stop the runner's users and wait until every one has ended, its last ledger entry made, at
    most `timeout_s`: a `stop()` while another is under way (a worker's Ctrl-C during its master's
    drain) returns before the first has killed them all, and Locust's own waits without end for a
    user that outlives its kill."""
    deadline = time.monotonic() + timeout_s
    stopping = gevent.spawn(runner.stop)
    stopping.join(timeout_s)
    runner.user_greenlets.join(timeout=max(0.0, deadline - time.monotonic()))
    if stopping.ready():
        stopping.get()  # its exception, if it raised one
    if left := list(runner.user_greenlets):
        log.error(
            "%d user(s) still running %.0f s after they were stopped (%s); what they do now is not recorded",
            len(left),
            timeout_s,
            "; ".join(f"{n} in {where}" for where, n in Counter(map(_where, left)).items()),
        )


def _where(glet: gevent.Greenlet) -> str:
    """The innermost frames a suspended greenlet waits in, for a user that would not stop."""
    if glet.gr_frame is None:  # walk_stack(None) would walk the caller's stack
        return "not started"
    frames = traceback.StackSummary.extract(traceback.walk_stack(glet.gr_frame), limit=6, lookup_lines=False)
    return " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames)


class WorkerRelay:
    def __init__(self, runner: WorkerRunner, workload: Workload) -> None:
        self.runner = runner
        self.workload = workload
        self.uplink: Uplink | None = None
        runner.register_message(ACK, self._on_ack)
        # Concurrent: acknowledgements must go on arriving while the drain waits for them.
        runner.register_message(DRAIN, self._on_drain, concurrent=True)

    def start(self) -> None:
        """At a test start: record through the uplink (one per process), open again after a drain."""
        if self.uplink is None:
            settings = self.workload.settings.recorder
            self.uplink = Uplink(self.runner.send_message, self.workload.worker, settings)
            # A worker reports its own CPU: the drill samples only the processes on its machine.
            self.workload.start_recording(self.uplink, meter=True)
        else:
            self.uplink.reopen()

    def _on_ack(self, msg: Any, **_: Any) -> None:
        if self.uplink is not None:
            self.uplink.on_ack(msg.data)

    def _on_drain(self, msg: Any, **_: Any) -> None:
        stop_users(self.runner)  # before the last flush (a quitting master stops them later)
        self.workload.flush()
        if self.uplink is None:
            self.runner.send_message(DRAINED, Drained(session="", last_seq=0).model_dump())
        else:
            self.uplink.finish(self.workload.settings.recorder.drain_timeout_s)


class MasterRelay:
    def __init__(self, runner: MasterRunner, run_dir: Path, settings: RecorderSettings) -> None:
        self.runner = runner
        self.settings = settings
        self.inbox = Inbox(run_dir)
        self._drain: gevent.Greenlet | None = None
        runner.register_message(BATCH, self._on_batch)
        runner.register_message(DRAINED, self._on_drained)

    def started(self) -> None:
        self._drain = None

    def drain(self) -> None:
        """Ask every connected worker for its last batches; wait until they, and those of workers
        that stopped on their own meanwhile, are written (once per test).

        Asked from one of the runner's own greenlets (Locust stops the test from its message
        listener when the last worker quits), the drain goes on in a greenlet of its own, for that
        listener has the batches to receive; a later call waits for it."""
        if self._drain is None:
            self._drain = gevent.spawn(self._ask_and_wait)
        if gevent.getcurrent() not in self.runner.greenlet:
            self._drain.join()

    def _ask_and_wait(self) -> None:
        nodes = [c.id for c in self.runner.clients.all if c.state != STATE_MISSING]
        self.inbox.begin_drain(nodes)
        self.runner.send_message(DRAIN)
        left = self.inbox.wait_drained(self.settings.drain_timeout_s)
        if left:
            log.error(
                "%d worker(s) did not deliver their last recordings within %.0f s: %s",
                len(left),
                self.settings.drain_timeout_s,
                ", ".join(left),
            )

    def _on_batch(self, msg: Any, **_: Any) -> None:
        try:
            # On a thread of gevent's pool: the fsync then stalls only this listener (one batch at
            # a time), not the master's other greenlets (in a drill: its probes and faults).
            ack = gevent.get_hub().threadpool.apply(self.inbox.receive, (msg.data, msg.node_id))
        except ChannelError as exc:
            log.error("a recordings batch from worker %s refused: %s", msg.node_id, exc)
            return
        self.runner.send_message(ACK, ack, client_id=msg.node_id)

    def _on_drained(self, msg: Any, **_: Any) -> None:
        try:
            self.inbox.on_drained(msg.node_id, msg.data)
        except ChannelError as exc:
            log.error("worker %s: %s", msg.node_id, exc)
