"""The workload's Locust users: the hub's mixed traffic, the canary, and bulk usage ingestion.

Each user takes its class settings (weights, pacing, driver options) from the environment's
workload, talks to MongoDB through the shared client of its driver profile, and stops by
itself after `limits.max_duration_s` or `limits.max_ops_per_user` operations.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

from locust import User, constant_pacing, task
from locust.exception import StopUser
from pymongo.database import Database

from locustfiles.environment import NoTarget, target_uri, workload_for
from locustfiles.instrumented import Instrument
from locustfiles.operations import CanaryOperations, HubOperations, IngestOperations
from locustfiles.settings import WorkloadSettings

log = logging.getLogger(__name__)


class WorkloadUser(User):
    abstract = True
    section: ClassVar[str]  # this class's section of the settings: hub, canary or ingest

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.workload = workload_for(environment)
        self.settings: WorkloadSettings = self.workload.settings
        self.owner, self.rng = self.workload.new_owner()
        self._started = time.monotonic()
        self._ops = 0

    @classmethod
    def apply_settings(cls, settings: WorkloadSettings) -> None:
        """Set Locust's class attributes (weight, fixed count) from the settings."""

    def on_start(self) -> None:
        try:
            uri = target_uri(self.environment, self.workload)
        except NoTarget as exc:
            log.error("%s", exc)
            raise StopUser from None
        self.db: Database[Any] = self.workload.client(self.section, uri)[self.settings.database]
        self.instrument = Instrument(
            self.environment.events.request, self.workload.recorder, type(self).__name__, self.workload.ids
        )

    def tick(self) -> None:
        """Count one operation; stop this user once a limit is reached."""
        limits = self.settings.limits
        self._ops += 1
        if self._ops > limits.max_ops_per_user or time.monotonic() - self._started > limits.max_duration_s:
            raise StopUser


class HubUser(WorkloadUser):
    """A hub user: prompts, vector stores, usage and logins, weighted by `hub.mix`."""

    section = "hub"
    weight = 10

    @classmethod
    def apply_settings(cls, settings: WorkloadSettings) -> None:
        cls.weight = settings.hub.weight

    def on_start(self) -> None:
        super().on_start()
        self.ops = HubOperations(
            self.db,
            self.instrument,
            corpus=self.workload.corpus,
            settings=self.settings,
            rng=self.rng,
            owner=self.owner,
        )

    def wait_time(self) -> float:
        hub = self.settings.hub
        return float(self.rng.uniform(hub.wait_min_s, hub.wait_max_s))

    @task
    def hub_traffic(self) -> None:
        self.tick()
        self.ops.step()


class CanaryUser(WorkloadUser):
    """One writer and reader at a fixed cadence: the availability timeline of the run."""

    section = "canary"
    fixed_count = 1

    @classmethod
    def apply_settings(cls, settings: WorkloadSettings) -> None:
        cls.fixed_count = settings.canary.count

    def on_start(self) -> None:
        super().on_start()
        self.ops = CanaryOperations(self.db, self.instrument, self.settings.canary, self.workload.worker)
        self._pacing = constant_pacing(self.settings.canary.interval_s)

    def wait_time(self) -> float:
        return self._pacing(self)

    @task
    def canary(self) -> None:
        self.tick()
        self.ops.tick()


class IngestUser(WorkloadUser):
    """The metering pipeline: usage metrics in bulk at a fixed cadence."""

    section = "ingest"
    weight = 1

    @classmethod
    def apply_settings(cls, settings: WorkloadSettings) -> None:
        cls.weight = settings.ingest.weight

    def on_start(self) -> None:
        super().on_start()
        ingest = self.settings.ingest
        self.ops = IngestOperations(
            self.db, self.instrument, self.workload.corpus, self.rng, ingest.batch_size
        )
        self._pacing = constant_pacing(ingest.interval_s)

    def wait_time(self) -> float:
        return self._pacing(self)

    @task
    def ingest(self) -> None:
        self.tick()
        self.ops.batch()
