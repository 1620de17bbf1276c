"""The recorder: request events, ledger entries and discovery events, buffered off the request
path and flushed at least every `flush_interval_s` to a sink: this process's shard files
(`ShardSet`), or a Locust worker's channel to its master (`locustfiles.channel.Uplink`); with a
`ProcessMeter`, also this process's own CPU and memory at every flush (a Locust worker's).

Callers only append to a `deque` (safe across threads and greenlets without a lock); a
background thread (a greenlet under Locust) turns what accumulated into Arrow batches. Memory is
bounded: a caller that finds `max_buffered` records waiting flushes them itself, so a slow disk
(or a slow master) slows the load rather than growing the buffer.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any, Protocol

from contract.rundir import DiscoveryEvent, LedgerEntry, RequestEvent, ResourceSample
from locustfiles.resources import ProcessMeter
from locustfiles.settings import RecorderSettings
from locustfiles.shards import Manifest, Parts, ShardSet

log = logging.getLogger(__name__)
ERROR_TEXT_MAX = 500


class Sink(Protocol):
    """Where a recorder's flushes go; its manifest counts what it took."""

    manifest: Manifest

    def write(self, parts: Parts) -> None: ...

    def close(self) -> None: ...


class Recorder:
    def __init__(
        self,
        destination: Path | Sink,
        worker: str,
        settings: RecorderSettings | None = None,
        meter: ProcessMeter | None = None,
    ) -> None:
        """Record into `destination`: a run directory (this process's own shards), or a sink."""
        self.worker = worker
        self.settings = settings or RecorderSettings()
        self.meter = meter
        self.sink: Sink = ShardSet(destination, worker) if isinstance(destination, Path) else destination
        self._events: deque[RequestEvent] = deque()
        self._ledger: deque[LedgerEntry] = deque()
        self._discovery: deque[DiscoveryEvent] = deque()
        self._resources: deque[ResourceSample] = deque()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._flush_loop, name=f"recorder-{self.stem}", daemon=True)
        self._thread.start()

    @property
    def manifest(self) -> Manifest:
        return self.sink.manifest

    @property
    def stem(self) -> str:
        return self.manifest.stem

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
            parts = Parts.of(
                self._drain(self._events),
                self._drain(self._ledger),
                self._drain(self._discovery),
                self._drain(self._resources),
            )
            if any(parts.rows().values()):
                self.sink.write(parts)

    def close(self) -> None:
        """Flush what is left, end the shard files and mark the manifest closed (idempotent)."""
        if self.manifest.closed:
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()
        self.sink.close()
        if self._error is not None:
            raise RuntimeError(f"recording of {self.worker} failed: {self._error}") from self._error
