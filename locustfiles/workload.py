"""What one process of the workload shares between its users: settings, the corpus, MongoDB
clients (one per driver profile, as an application shares one), write ids and the recorder.

Nothing here imports Locust; `locustfiles.environment` ties a `Workload` to a Locust
environment, and the raw benchmark loop uses one directly.
"""

from __future__ import annotations

import itertools
import threading
import zlib
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pymongo import MongoClient

from contract.rundir import DiscoveryEvent, ResourceRole
from locustfiles.corpus import Corpus
from locustfiles.discovery import DiscoveryListener
from locustfiles.instrumented import WriteIds
from locustfiles.recorder import Recorder, Sink
from locustfiles.resources import ProcessMeter
from locustfiles.settings import WorkloadSettings
from locustfiles.tally import RequestTally


class Workload:
    def __init__(self, settings: WorkloadSettings, worker: str = "local") -> None:
        self.settings = settings
        self.worker = worker
        self.ids = WriteIds(worker)
        self.recorder: Recorder | None = None
        # Live counts for the drill's /metrics endpoint (a worker sends its own to the master).
        self.tally = RequestTally()
        self._clients: dict[tuple[str, str], MongoClient[Any]] = {}
        self._clients_lock = threading.Lock()
        self._owners = itertools.count(1)

    @cached_property
    def corpus(self) -> Corpus:
        return Corpus(self.settings.corpus, self.settings.seed)

    def set_worker(self, worker: str) -> None:
        """Name this process (before any write is planned); write ids start with the name."""
        if worker != self.worker:
            self.worker = worker
            self.ids = WriteIds(worker)

    def start_recording(self, destination: Path | Sink, meter: bool = False) -> Recorder:
        """Record into a run directory or a sink; with `meter`, this process's own CPU and memory too."""
        if self.recorder is None:
            process = ProcessMeter(self.worker, ResourceRole.LOAD) if meter else None
            self.recorder = Recorder(destination, self.worker, self.settings.recorder, process)
        return self.recorder

    def on_request(self, **kwargs: Any) -> None:
        """A listener for Locust's `request` event: counted, and recorded once recording has started."""
        self.tally.on_request(**kwargs)
        if self.recorder is not None:
            self.recorder.on_request(**kwargs)

    def discovery(self, event: DiscoveryEvent) -> None:
        if self.recorder is not None:
            self.recorder.discovery(event)

    def client(self, section: str | None, uri: str) -> MongoClient[Any]:
        """The shared client of a user class's driver profile (`hub`, `canary`, `ingest`, or
        None for the common profile)."""
        kwargs = self.settings.driver_for(section).client_kwargs()
        key = (uri, repr(sorted(kwargs.items())))
        # Users start concurrently and creating a client yields (to gevent, too): without the
        # lock several users would each create one and all but the last would never be closed.
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                listener = DiscoveryListener(self.discovery, self.worker)
                client = MongoClient(uri, event_listeners=[listener], **kwargs)
                self._clients[key] = client
        return client

    def new_owner(self) -> tuple[str, np.random.Generator]:
        """A name unique in the run for a new user, and its own seeded random stream."""
        n = next(self._owners)
        rng = np.random.default_rng([self.settings.seed, zlib.crc32(self.worker.encode()), n])
        return f"{self.worker}-u{n}", rng

    def flush(self) -> None:
        if self.recorder is not None:
            self.recorder.flush()

    def close(self) -> None:
        """Close the recorder and every client (idempotent)."""
        try:
            if self.recorder is not None:
                self.recorder.close()
        finally:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
