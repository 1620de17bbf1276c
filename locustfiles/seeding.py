"""Seeding: the hub's indexes and the generated corpus, bulk-loaded, with the rate reached.

A marker document in `hubchaos_meta` records which corpus (seed and sizes) is loaded, so a
second seeding with the same settings does nothing and a different corpus replaces the old one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.write_concern import WriteConcern

from locustfiles.corpus import Corpus
from locustfiles.model import META, PROMPTS, USAGE, USERS, VECTORS, ensure_indexes
from locustfiles.settings import WorkloadSettings

MARKER_ID = "corpus"


def rebatch(chunks: Iterator[list[dict[str, Any]]], size: int) -> Iterator[list[dict[str, Any]]]:
    """The generator's chunks regrouped into batches of `size` documents."""
    pending: list[dict[str, Any]] = []
    for chunk in chunks:
        pending.extend(chunk)
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending


@dataclass(slots=True)
class SeedReport:
    skipped: bool  # the same corpus was already loaded
    documents: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.documents.values())

    @property
    def docs_per_s(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0


def corpus_marker(settings: WorkloadSettings) -> dict[str, Any]:
    return {"_id": MARKER_ID, "seed": settings.seed, **settings.corpus.model_dump()}


def seed_corpus(
    client: MongoClient[Any], settings: WorkloadSettings, corpus: Corpus | None = None
) -> SeedReport:
    """Create the indexes and load users, prompts and vector chunks unless already loaded."""
    db: Database[Any] = client[settings.database]
    marker = corpus_marker(settings)
    if db[META].find_one({"_id": MARKER_ID}) == marker:
        return SeedReport(skipped=True)
    corpus = corpus or Corpus(settings.corpus, settings.seed)
    started = time.perf_counter()
    db[META].delete_one({"_id": MARKER_ID})
    for name in (USERS, PROMPTS, VECTORS, USAGE, settings.canary.collection):
        db.drop_collection(name)
        db.create_collection(name)
    ensure_indexes(db, settings)
    # One majority acknowledgement per batch: the load is safe and still one round trip a batch.
    wc = WriteConcern(w="majority")
    loads: dict[str, Callable[[], Iterator[list[dict[str, Any]]]]] = {
        USERS: corpus.users,
        PROMPTS: corpus.prompts,
        VECTORS: corpus.vectors,
    }
    report = SeedReport(skipped=False)
    batch = settings.corpus.batch_size
    for name, chunks in loads.items():
        collection = db.get_collection(name, write_concern=wc)
        count = 0
        for docs in rebatch(chunks(), batch):
            count += len(collection.insert_many(docs, ordered=False).inserted_ids)
        report.documents[name] = count
    db.get_collection(META, write_concern=wc).insert_one(marker)
    report.seconds = time.perf_counter() - started
    return report
