"""The recorder: request events, ledger entries and discovery events, buffered off the request
path and flushed to this process's shard files at least every `flush_interval_s`; with a
`ProcessMeter`, also this process's own CPU and memory at every flush (a Locust worker's).

Callers only append to a `deque` (safe across threads and greenlets without a lock); a
background thread (a greenlet under Locust) turns what accumulated into Arrow batches. Memory is
bounded: a caller that finds `max_buffered` records waiting flushes them itself, so a slow disk
slows the load rather than growing the buffer.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any

from contract.rundir import (
    DISCOVERY_SHARDS,
    EVENTS_SHARDS,
    LEDGER_SCHEMA,
    LEDGER_SHARDS,
    RESOURCES_SHARDS,
    DiscoveryEvent,
    LedgerEntry,
    RequestEvent,
    ResourceSample,
    to_table,
    write_jsonl,
)
from locustfiles import eventcodec
from locustfiles.resources import ProcessMeter
from locustfiles.settings import RecorderSettings
from locustfiles.shards import Manifest, StreamShard, claim_stem

log = logging.getLogger(__name__)
ERROR_TEXT_MAX = 500


class Recorder:
    def __init__(
        self,
        run_dir: Path,
        worker: str,
        settings: RecorderSettings | None = None,
        meter: ProcessMeter | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.worker = worker
        self.settings = settings or RecorderSettings()
        self.meter = meter
        self.stem = claim_stem(run_dir, worker)
        self.manifest = Manifest(stem=self.stem, worker=worker, pid=os.getpid())
        self._events_shard = StreamShard(
            run_dir / EVENTS_SHARDS / f"{self.stem}.arrows", eventcodec.SHARD_SCHEMA
        )
        self._ledger_shard = StreamShard(run_dir / LEDGER_SHARDS / f"{self.stem}.arrows", LEDGER_SCHEMA)
        self._discovery_path = run_dir / DISCOVERY_SHARDS / f"{self.stem}.jsonl"
        self._resources_path = run_dir / RESOURCES_SHARDS / f"{self.stem}.jsonl"
        self._events: deque[RequestEvent] = deque()
        self._ledger: deque[LedgerEntry] = deque()
        self._discovery: deque[DiscoveryEvent] = deque()
        self._resources: deque[ResourceSample] = deque()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.manifest.save(run_dir)
        self._thread = threading.Thread(target=self._flush_loop, name=f"recorder-{self.stem}", daemon=True)
        self._thread.start()

    # -- the request path ------------------------------------------------------------------------

    def on_request(
        self,
        *,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        """A listener for Locust's `request` event (any request type)."""
        ctx = context or {}
        t_start = start_time if start_time is not None else 0.0
        self._events.append(
            RequestEvent(
                t_start=t_start,
                t_end=t_start + response_time / 1000.0,
                duration_ms=response_time,
                op=name,
                user_class=ctx.get("user_class", ""),
                ok=exception is None,
                is_write=bool(ctx.get("is_write", False)),
                error_class=ctx.get("error_class") if exception is not None else None,
                error=None
                if exception is None
                else f"{type(exception).__name__}: {exception}"[:ERROR_TEXT_MAX],
                response_size=int(response_length or 0),
                worker=self.worker,
            )
        )
        if len(self._events) >= self.settings.max_buffered:
            self.flush()

    def ledger(self, entry: LedgerEntry) -> None:
        self._ledger.append(entry)
        if len(self._ledger) >= self.settings.max_buffered:
            self.flush()

    def discovery(self, event: DiscoveryEvent) -> None:
        self._discovery.append(event)

    # -- the background side ---------------------------------------------------------------------

    def _flush_loop(self) -> None:
        if self.meter is not None:
            self.meter.sample(os.getpid())  # the start of the first interval
        while not self._stop.wait(self.settings.flush_interval_s):
            try:
                if self.meter is not None and (sample := self.meter.sample(os.getpid())) is not None:
                    self._resources.append(sample)
                self.flush()
            except Exception as exc:  # keep recording; close() reports the first failure
                log.exception("recorder flush failed")
                self._error = self._error or exc

    @staticmethod
    def _drain(buffer: deque[Any]) -> list[Any]:
        return [buffer.popleft() for _ in range(len(buffer))]

    def flush(self) -> None:
        with self._flush_lock:
            events = self._drain(self._events)
            ledger = self._drain(self._ledger)
            discovery = self._drain(self._discovery)
            resources = self._drain(self._resources)
            if events:
                self._events_shard.append(eventcodec.encode(events))
                self.manifest.events += len(events)
            if ledger:
                self._ledger_shard.append(to_table(ledger, LEDGER_SCHEMA))
                self.manifest.ledger += len(ledger)
            if discovery:
                write_jsonl(self._discovery_path, discovery)
                self.manifest.discovery += len(discovery)
            if resources:
                self._resources_path.parent.mkdir(exist_ok=True)
                write_jsonl(self._resources_path, resources)
                self.manifest.resources += len(resources)
            if events or ledger or discovery or resources:
                self.manifest.save(self.run_dir)

    def close(self) -> None:
        """Flush what is left, end the shard files and mark the manifest closed (idempotent)."""
        if self.manifest.closed:
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()
        self._events_shard.close()
        self._ledger_shard.close()
        self.manifest.closed = True
        self.manifest.save(self.run_dir)
        if self._error is not None:
            raise RuntimeError(f"recording to {self.run_dir} failed: {self._error}") from self._error
