"""The orders service's users: shoppers browse, order and cancel; the warehouse ships.

Both are `locustfiles.users.WorkloadUser`s, so hubchaos gives them a database handle, an
instrument that times every operation and records every write in the ledger, a seeded random
stream and the run's limits. Each write stores its ledger token in `_w`, and each document has
one writer (a shopper cancels only its own orders; the warehouse writes shipments only), which
is what lets hubchaos tell after the drill whether an acknowledged write was lost.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from locust import task
from pydantic import BaseModel, Field
from pymongo import MongoClient

from contract.rundir import TOKEN_FIELD
from locustfiles.settings import WorkloadSettings
from locustfiles.users import WorkloadUser
from orders_app.model import CATEGORIES, ORDERS, PRODUCTS, SHIPMENTS, catalogue, ensure_indexes

MARKER = "orders_catalogue"


def _now() -> datetime:
    return datetime.now(UTC)


class Shopper(WorkloadUser):
    """Browses the catalogue, looks at past orders, places orders and sometimes cancels one."""

    class Settings(BaseModel):
        model_config = {"extra": "forbid"}

        products: int = Field(2000, ge=10)  # catalogue size (seeded by prepare)
        customers: int = Field(500, ge=1)
        basket_max: int = Field(5, ge=1, le=50)
        wait_min_s: float = Field(0.05, ge=0)
        wait_max_s: float = Field(0.3, ge=0)

    @classmethod
    def prepare(cls, client: MongoClient[Any], settings: WorkloadSettings) -> str | None:
        """The collections, indexes and catalogue, once per catalogue size."""
        options = cls.options(settings)
        assert isinstance(options, cls.Settings)
        db = client[settings.database]
        ensure_indexes(db)
        marker = db["meta"].find_one({"_id": MARKER})
        if marker is not None and marker.get("products") == options.products:
            return None
        db[PRODUCTS].delete_many({})
        db[PRODUCTS].insert_many(catalogue(options.products))
        db["meta"].replace_one({"_id": MARKER}, {"products": options.products}, upsert=True)
        return f"catalogue of {options.products} products loaded"

    def on_start(self) -> None:
        super().on_start()
        assert isinstance(self.options, self.Settings)
        self.customer = f"c{int(self.rng.integers(self.options.customers))}"
        self.mine: deque[ObjectId] = deque(maxlen=50)

    def wait_time(self) -> float:
        assert isinstance(self.options, self.Settings)
        return float(self.rng.uniform(self.options.wait_min_s, self.options.wait_max_s))

    @task(6)
    def browse(self) -> None:
        self.tick()
        category = CATEGORIES[int(self.rng.integers(len(CATEGORIES)))]
        with self.instrument.measure("orders.browse") as call:
            found = list(self.db[PRODUCTS].find({"category": category}).sort("price", 1).limit(20))
            call.response_size = len(found)

    @task(2)
    def history(self) -> None:
        self.tick()
        with self.instrument.measure("orders.history") as call:
            found = list(self.db[ORDERS].find({"customer": self.customer}).sort("createdAt", -1).limit(10))
            call.response_size = len(found)

    @task(3)
    def checkout(self) -> None:
        self.tick()
        assert isinstance(self.options, self.Settings)
        items = [int(self.rng.integers(self.options.products)) for _ in range(self.options.basket_max)]
        order_id = ObjectId()
        write = self.instrument.plan(self.db[ORDERS], "insert", order_id)
        doc = {
            "_id": order_id,
            "customer": self.customer,
            "items": items,
            "total": len(items) * 10,
            "status": "pending",
            "createdAt": _now(),
            TOKEN_FIELD: write.token,
        }
        with self.instrument.measure("orders.checkout", writes=[write]):
            self.db[ORDERS].insert_one(doc)
        self.mine.append(order_id)

    @task(1)
    def cancel(self) -> None:
        if not self.mine:
            return
        self.tick()
        order_id = self.mine.popleft()
        write = self.instrument.plan(self.db[ORDERS], "update", order_id)
        change = {"$set": {"status": "cancelled", TOKEN_FIELD: write.token}}
        with self.instrument.measure("orders.cancel", writes=[write]):
            self.db[ORDERS].update_one({"_id": order_id}, change)


class Warehouse(WorkloadUser):
    """Ships pending orders in the order they were placed, recording a shipment for each (its
    own documents only: the orders stay their shopper's)."""

    fixed_count = 1

    class Settings(BaseModel):
        model_config = {"extra": "forbid"}

        batch: int = Field(5, ge=1, le=100)
        interval_s: float = Field(0.5, gt=0)

    def on_start(self) -> None:
        super().on_start()
        self.shipped_until = datetime.fromtimestamp(0, UTC)

    def wait_time(self) -> float:
        assert isinstance(self.options, self.Settings)
        return self.options.interval_s

    @task
    def ship(self) -> None:
        self.tick()
        assert isinstance(self.options, self.Settings)
        query = {"status": "pending", "createdAt": {"$gt": self.shipped_until}}
        pending: list[dict[str, Any]] = []
        with self.instrument.measure("orders.pending") as call:
            cursor = (
                self.db[ORDERS].find(query, {"createdAt": 1}).sort("createdAt", 1).limit(self.options.batch)
            )
            pending = list(cursor)
            call.response_size = len(pending)
        if not pending:
            return
        self.shipped_until = pending[-1]["createdAt"]
        docs, writes = [], []
        for order in pending:
            shipment_id = ObjectId()
            write = self.instrument.plan(self.db[SHIPMENTS], "insert", shipment_id)
            writes.append(write)
            docs.append(
                {"_id": shipment_id, "order": order["_id"], "shippedAt": _now(), TOKEN_FIELD: write.token}
            )
        with self.instrument.measure("shipments.record", writes=writes, ordered=False):
            self.db[SHIPMENTS].insert_many(docs, ordered=False)
