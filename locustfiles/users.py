"""The workload's Locust users: the hub's mixed traffic, the canary, and bulk usage ingestion,
and `WorkloadUser`, the public base class of any other application's users (docs/extending.md).

Each user takes its class settings (weights, pacing, driver options) from the environment's
workload, talks to MongoDB through the shared client of its driver profile, and stops by
itself after `limits.max_duration_s` or `limits.max_ops_per_user` operations.

A class of another application subclasses `WorkloadUser`:

    class Shopper(WorkloadUser):
        class Settings(BaseModel):           # its own settings (scenario: user_classes[].settings)
            basket_max: int = 5

        @classmethod
        def prepare(cls, client, settings):  # once before the load: collections, indexes, data
            ...

        @task
        def checkout(self) -> None:
            self.tick()                      # counts towards the limits; stops the user at them
            write = self.instrument.plan(self.db.orders, "insert", order_id)
            with self.instrument.measure("orders.checkout", writes=[write]):
                self.db.orders.insert_one({"_id": order_id, TOKEN_FIELD: write.token, ...})
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

from locust import User, constant_pacing, task
from locust.exception import StopUser
from pydantic import BaseModel
from pymongo import MongoClient
from pymongo.database import Database

from locustfiles.environment import NoTarget, target_uri, workload_for
from locustfiles.instrumented import Instrument
from locustfiles.operations import CanaryOperations, HubOperations, IngestOperations
from locustfiles.seeding import seed_corpus
from locustfiles.settings import WorkloadSettings

log = logging.getLogger(__name__)


class WorkloadUser(User):
    """A user of the workload: `self.db` (the settings' database through the shared client of
    its driver profile), `self.instrument` (timing, request events, the write ledger),
    `self.options` (its own `Settings`), `self.rng` (seeded per user) and `self.tick()`."""

    abstract = True
    # This class's section of the workload settings (hub, canary, ingest) for its driver
    # overrides; None uses the common driver profile.
    section: ClassVar[str | None] = None
    # The model of this class's own settings (`user_classes[].settings` in a scenario).
    Settings: ClassVar[type[BaseModel] | None] = None

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.workload = workload_for(environment)
        self.settings: WorkloadSettings = self.workload.settings
        self.options = type(self).options(self.settings)
        self.owner, self.rng = self.workload.new_owner()
        self._started = time.monotonic()
        self._ops = 0

    @classmethod
    def apply_settings(cls, settings: WorkloadSettings) -> None:
        """Set Locust's class attributes (weight, fixed count) from the settings: a subclass sets
        its own defaults, then calls this, which applies the `user_classes` entry naming it."""
        spec = settings.user_class_spec(cls)
        if spec is not None and spec.weight is not None:
            cls.weight = spec.weight
        if spec is not None and spec.fixed_count is not None:
            cls.fixed_count = spec.fixed_count

    @classmethod
    def options(cls, settings: WorkloadSettings) -> BaseModel | None:
        """This class's own settings, validated by its `Settings` model (ValidationError)."""
        spec = settings.user_class_spec(cls)
        given = spec.settings if spec is not None else {}
        if cls.Settings is None:
            if given:
                raise ValueError(f"{cls.__name__} takes no settings (it has no Settings model)")
            return None
        return cls.Settings.model_validate(given)

    @classmethod
    def prepare(cls, client: MongoClient[Any], settings: WorkloadSettings) -> str | None:
        """Once before the load, from the drill (or Locust's test start): create collections and
        indexes, load data. Returns a line for the operator, or None."""
        return None

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
        super().apply_settings(settings)

    @classmethod
    def prepare(cls, client: MongoClient[Any], settings: WorkloadSettings) -> str | None:
        report = seed_corpus(client, settings)
        if report.skipped:
            return None
        return f"seeded {report.total:,} documents in {report.seconds:.1f} s ({report.docs_per_s:,.0f}/s)"

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
        super().apply_settings(settings)

    @classmethod
    def prepare(cls, client: MongoClient[Any], settings: WorkloadSettings) -> str | None:
        client[settings.database][settings.canary.collection].create_index("seq", name="seq")
        return None

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
        super().apply_settings(settings)

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
