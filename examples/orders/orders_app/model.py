"""The orders service's collections and indexes, and its catalogue.

products   {_id: int, category, name, price}             {category: 1, price: 1}
orders     {_id: ObjectId, customer, items, total, status, createdAt, _w}
           {customer: 1, createdAt: -1} (a customer's recent orders), {status: 1}
shipments  {_id: ObjectId, order, carrier, shippedAt, _w}
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.database import Database

PRODUCTS = "products"
ORDERS = "orders"
SHIPMENTS = "shipments"
CATEGORIES = ("books", "games", "garden", "kitchen", "music", "toys")

# name -> (collection, keys): the fault kind drops one and its heal builds it again from here.
INDEXES: dict[str, tuple[str, list[tuple[str, int]]]] = {
    "category_price": (PRODUCTS, [("category", ASCENDING), ("price", ASCENDING)]),
    "customer_recent": (ORDERS, [("customer", ASCENDING), ("createdAt", DESCENDING)]),
    "status": (ORDERS, [("status", ASCENDING)]),
}


def ensure_indexes(db: Database[Any]) -> None:
    for name, (collection, keys) in INDEXES.items():
        db[collection].create_indexes([IndexModel(keys, name=name)])


def catalogue(products: int) -> list[dict[str, Any]]:
    """A fixed catalogue: the same products for the same size, so seeding can be skipped."""
    return [
        {
            "_id": i,
            "category": CATEGORIES[i % len(CATEGORIES)],
            "name": f"product {i}",
            "price": round(2.5 + (i * 37 % 500) / 10, 2),
        }
        for i in range(products)
    ]
