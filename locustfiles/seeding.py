"""Seeding: the hub's indexes and the generated corpus, bulk-loaded, with the rate reached.

A marker document in `hubchaos_meta` records which corpus (seed and sizes) is loaded, so a
second seeding with the same settings does nothing and a different corpus replaces the old one.

Every step is retried for a while after the errors a primary change brings (not primary, a
write concern error labelled retryable, a lost connection): a busy machine can see an election
while it seeds. Re-sent batches are unordered inserts of fixed `_id`s, so the documents an
earlier attempt inserted come back as duplicate-key errors and count as loaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, ConnectionFailure, OperationFailure, PyMongoError
from pymongo.write_concern import WriteConcern

from locustfiles.classify import DUPLICATE_KEY_CODES, NOT_PRIMARY_CODES
from locustfiles.corpus import Corpus
from locustfiles.errortext import describe
from locustfiles.model import META, PROMPTS, USAGE, USERS, VECTORS, ensure_indexes
from locustfiles.settings import WorkloadSettings

MARKER_ID = "corpus"
RETRY_FOR_S = 60.0


class SeedingError(RuntimeError):
    """Seeding failed for good: one line saying which step and why."""


def _retryable(exc: PyMongoError) -> bool:
    if isinstance(exc, ConnectionFailure):  # also not-primary errors and selection timeouts
        return True
    if isinstance(exc, BulkWriteError):
        details = exc.details or {}
        errors = details.get("writeErrors") or []
        return all(e.get("code") in DUPLICATE_KEY_CODES for e in errors) and bool(
            errors or details.get("writeConcernErrors")
        )
    if isinstance(exc, OperationFailure):
        details = exc.details or {}
        return (
            exc.has_error_label("RetryableWriteError")
            or exc.code in NOT_PRIMARY_CODES
            or "writeConcernError" in details
        )
    return False


def retrying(action: Callable[[], Any], what: str, retry_for_s: float = RETRY_FOR_S) -> Any:
    """`action()`, again after errors a primary change brings, until `retry_for_s` is up."""
    deadline = time.monotonic() + retry_for_s
    delay = 0.25
    attempts = 0
    while True:
        attempts += 1
        try:
            return action()
        except PyMongoError as exc:
            if not _retryable(exc) or time.monotonic() + delay > deadline:
                tried = f" (still, after {attempts} attempts in {retry_for_s:g} s)" if attempts > 1 else ""
                raise SeedingError(f"{what}: {describe(exc)}{tried}") from None
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def _insert(collection: Collection[Any], docs: list[dict[str, Any]]) -> None:
    try:
        collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        details = exc.details or {}
        errors = details.get("writeErrors") or []
        if details.get("writeConcernErrors") or not all(e.get("code") in DUPLICATE_KEY_CODES for e in errors):
            raise
        # Only duplicates: an attempt cut short by a primary change had inserted them.


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
    client: MongoClient[Any],
    settings: WorkloadSettings,
    corpus: Corpus | None = None,
    retry_for_s: float = RETRY_FOR_S,
) -> SeedReport:
    """Create the indexes and load users, prompts and vector chunks unless already loaded;
    SeedingError (one line) when a step still fails after `retry_for_s` of retries."""
    db: Database[Any] = client[settings.database]
    marker = corpus_marker(settings)
    if (
        retrying(lambda: db[META].find_one({"_id": MARKER_ID}), "reading the corpus marker", retry_for_s)
        == marker
    ):
        return SeedReport(skipped=True)
    corpus = corpus or Corpus(settings.corpus, settings.seed)
    started = time.perf_counter()

    def fresh_collections() -> None:
        db[META].delete_one({"_id": MARKER_ID})
        for name in (USERS, PROMPTS, VECTORS, USAGE, settings.canary.collection):
            db.drop_collection(name)
            db.create_collection(name)
        ensure_indexes(db, settings)

    retrying(fresh_collections, "creating the collections and indexes", retry_for_s)
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
            retrying(partial(_insert, collection, docs), f"seeding {name}", retry_for_s)
            count += len(docs)
        report.documents[name] = count
    meta = db.get_collection(META, write_concern=wc)
    retrying(
        lambda: meta.replace_one({"_id": MARKER_ID}, marker, upsert=True),
        "writing the corpus marker",
        retry_for_s,
    )
    report.seconds = time.perf_counter() - started
    return report
