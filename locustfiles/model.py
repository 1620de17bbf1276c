"""The hub's collections and indexes, as the production guide defines them.

    users          {email (unique), name, plan, createdAt, lastLoginAt, loginCount}
    prompts        {userId, category, title, content, tags, createdAt, updatedAt, usageCount}
                   {userId:1, category:1, createdAt:-1}; text index title 3 / content 2 / tags 1
    vectorstores   one document per embedded chunk {storeId, userId, topic, text, embedding}
                   {storeId:1} selects the candidate set of a similarity query
    usage_metrics  {timestamp, userId, promptId, model, tokensIn, tokensOut, latencyMs, costUsd}
                   {timestamp:1, userId:1}
    canary         the canary's sequence-numbered writes {seq, worker, t}

Every document the workload writes carries `_w`, the ledger's write id, so that the final state
of a document names the write that produced it.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, TEXT, IndexModel
from pymongo.database import Database
from pymongo.operations import SearchIndexModel

from locustfiles.settings import VectorMode, WorkloadSettings

USERS = "users"
PROMPTS = "prompts"
VECTORS = "vectorstores"
USAGE = "usage_metrics"
META = "hubchaos_meta"  # which corpus is loaded (seed and sizes), so seeding can be skipped

INDEXES: dict[str, list[IndexModel]] = {
    USERS: [IndexModel([("email", ASCENDING)], unique=True, name="email_unique")],
    PROMPTS: [
        IndexModel(
            [("userId", ASCENDING), ("category", ASCENDING), ("createdAt", DESCENDING)],
            name="user_category_recent",
        ),
        IndexModel(
            [("title", TEXT), ("content", TEXT), ("tags", TEXT)],
            weights={"title": 3, "content": 2, "tags": 1},
            name="prompt_text",
        ),
    ],
    VECTORS: [IndexModel([("storeId", ASCENDING)], name="store")],
    USAGE: [IndexModel([("timestamp", ASCENDING), ("userId", ASCENDING)], name="time_user")],
}


def vector_search_index(settings: WorkloadSettings) -> SearchIndexModel:
    """The Atlas Vector Search index `$vectorSearch` queries use, with `storeId` as a filter."""
    definition: dict[str, Any] = {
        "fields": [
            {
                "type": "vector",
                "path": "embedding",
                "numDimensions": settings.corpus.embedding_dim,
                "similarity": settings.vector.similarity,
            },
            {"type": "filter", "path": "storeId"},
        ]
    }
    return SearchIndexModel(definition=definition, name=settings.vector.index_name, type="vectorSearch")


def ensure_indexes(db: Database[Any], settings: WorkloadSettings) -> None:
    for name, models in INDEXES.items():
        db[name].create_indexes(models)
    db[settings.canary.collection].create_index([("seq", ASCENDING)], name="seq")
    if settings.vector.mode is VectorMode.ATLAS:
        existing = {ix["name"] for ix in db[VECTORS].list_search_indexes()}
        if settings.vector.index_name not in existing:
            db[VECTORS].create_search_index(vector_search_index(settings))
