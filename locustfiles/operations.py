"""The hub's operations, with PyMongo alone: what a Locust user runs and what the raw benchmark
loop runs, so both drive exactly the same traffic.

A user edits and deletes only prompts and vector chunks it created itself, so every document the
ledger follows has one writer and the order of its writes is known.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import bson
import numpy as np
from bson import ObjectId
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.write_concern import WriteConcern

from contract.rundir import TOKEN_FIELD
from locustfiles.classify import UnexpectedResult
from locustfiles.corpus import Corpus
from locustfiles.embeddings import from_bson, top_k
from locustfiles.instrumented import Call, Instrument
from locustfiles.model import PROMPTS, USAGE, USERS, VECTORS
from locustfiles.settings import CanaryUserSettings, VectorMode, WorkloadSettings

# Reads decode lazily and keep their raw bytes, which are the response size.
RAW = CodecOptions(document_class=RawBSONDocument, tz_aware=True)
LIST_FIELDS = {"title": 1, "category": 1, "tags": 1, "createdAt": 1, "usageCount": 1}
OWN_VECTOR_SLOTS = 16  # chunk ids a user cycles through, so most vector upserts update


def _now() -> datetime:
    return datetime.now(UTC)


def _raw_size(docs: list[RawBSONDocument]) -> int:
    return sum(len(d.raw) for d in docs)


class HubOperations:
    """One hub user's traffic: prompts, vector stores, usage metrics and logins."""

    def __init__(
        self,
        db: Database[Any],
        instrument: Instrument,
        *,
        corpus: Corpus,
        settings: WorkloadSettings,
        rng: np.random.Generator,
        owner: str,
    ) -> None:
        self.instrument = instrument
        self.corpus = corpus
        self.settings = settings
        self.rng = rng
        self.owner = owner
        self.prompts = db[PROMPTS]
        self.raw_prompts = db.get_collection(PROMPTS, codec_options=RAW)
        self.vectors = db[VECTORS]
        self.raw_vectors = db.get_collection(VECTORS, codec_options=RAW)
        self.usage = db[USAGE]
        self.users = db[USERS]
        self.own_prompts: deque[ObjectId] = deque(maxlen=settings.hub.owned_max)
        self._vector_writes = 0
        self.vector_op = f"vectors.query.{settings.vector.mode.value}"
        families: dict[str, Callable[[], Any]] = {
            "prompts.create": self.create_prompt,
            "prompts.list_by_category": self.list_by_category,
            "prompts.get": self.get_prompt,
            "prompts.update": self.update_prompt,
            "prompts.delete": self.delete_prompt,
            "prompts.text_search": self.text_search,
            "vectors.upsert": self.upsert_vector,
            "vectors.query": self.query_vectors,
            "usage.record": self.record_usage,
            "users.login": self.login,
        }
        weights = settings.hub.mix.by_operation()
        chosen = [(families[name], w) for name, w in weights.items() if w > 0]
        self._actions = [action for action, _ in chosen]
        self._cdf = np.cumsum([w for _, w in chosen], dtype=np.float64)
        self._cdf /= self._cdf[-1]

    @property
    def operation_names(self) -> list[str]:
        """Every operation name this mix can report."""
        names = [n for n, w in self.settings.hub.mix.by_operation().items() if w > 0]
        return [self.vector_op if n == "vectors.query" else n for n in names]

    def step(self) -> None:
        """One operation, drawn by the mix's weights."""
        self._actions[int(np.searchsorted(self._cdf, self.rng.random(), side="right"))]()

    # -- prompts ------------------------------------------------------------------------------

    def create_prompt(self) -> Call:
        doc = self.corpus.prompt_doc(self.rng, self.corpus.pick_user(self.rng), _now(), ObjectId())
        write = self.instrument.plan(self.prompts, "insert", doc["_id"])
        doc[TOKEN_FIELD] = write.token
        size = len(bson.encode(doc))
        with self.instrument.measure("prompts.create", writes=[write]) as call:
            self.prompts.insert_one(doc)
            call.response_size = size
        if call.ok:
            self.own_prompts.append(doc["_id"])
        return call

    def list_by_category(self) -> list[RawBSONDocument]:
        user = self.corpus.pick_user(self.rng)
        query = {"userId": self.corpus.user_id(user), "category": self.corpus.pick_category(self.rng, user)}
        docs: list[RawBSONDocument] = []
        with self.instrument.measure("prompts.list_by_category") as call:
            cursor = (
                self.raw_prompts.find(query, LIST_FIELDS)
                .sort("createdAt", -1)
                .limit(self.settings.hub.page_size)
            )
            docs = list(cursor)
            call.response_size = _raw_size(docs)
        return docs

    def get_prompt(self, prompt_id: ObjectId | None = None) -> RawBSONDocument | None:
        _id = prompt_id if prompt_id is not None else self.corpus.prompt_id(self.corpus.pick_prompt(self.rng))
        doc = None
        with self.instrument.measure("prompts.get") as call:
            doc = self.raw_prompts.find_one({"_id": _id})
            if doc is None:
                raise UnexpectedResult(f"prompt {_id} not found")
            call.response_size = len(doc.raw)
        return doc

    def update_prompt(self) -> Call:
        if not self.own_prompts:
            return self.create_prompt()
        _id = self.own_prompts[int(self.rng.integers(len(self.own_prompts)))]
        write = self.instrument.plan(self.prompts, "update", _id)
        category = self.corpus.pick_category(self.rng, self.corpus.pick_user(self.rng))
        change = {
            "title": self.corpus.title(self.rng, category),
            "content": self.corpus.content(self.rng, category),
            "updatedAt": _now(),
            TOKEN_FIELD: write.token,
        }
        size = len(bson.encode(change))
        with self.instrument.measure("prompts.update", writes=[write]) as call:
            result = self.prompts.update_one({"_id": _id}, {"$set": change})
            if result.matched_count != 1:
                raise UnexpectedResult(f"prompt {_id} to update not found")
            call.response_size = size
        return call

    def delete_prompt(self) -> Call:
        if not self.own_prompts:
            return self.create_prompt()
        _id = self.own_prompts.popleft()
        write = self.instrument.plan(self.prompts, "delete", _id, stores_token=False)
        with self.instrument.measure("prompts.delete", writes=[write]) as call:
            if self.prompts.delete_one({"_id": _id}).deleted_count != 1:
                raise UnexpectedResult(f"prompt {_id} to delete not found")
        return call

    def text_search(self, terms: str | None = None) -> list[RawBSONDocument]:
        search = terms if terms is not None else self.corpus.search_terms(self.rng)
        score = {"score": {"$meta": "textScore"}}
        docs: list[RawBSONDocument] = []
        with self.instrument.measure("prompts.text_search") as call:
            cursor = (
                self.raw_prompts.find({"$text": {"$search": search}}, {**LIST_FIELDS, **score})
                .sort([("score", {"$meta": "textScore"})])
                .limit(self.settings.hub.page_size)
            )
            docs = list(cursor)
            call.response_size = _raw_size(docs)
        return docs

    # -- vector stores -------------------------------------------------------------------------

    def upsert_vector(self) -> Call:
        chunk_id = f"{self.owner}-v{self._vector_writes % OWN_VECTOR_SLOTS}"
        self._vector_writes += 1
        doc = self.corpus.chunk_doc(self.rng, self.corpus.pick_store(self.rng), chunk_id, _now())
        del doc["_id"]
        write = self.instrument.plan(self.vectors, "update", chunk_id)
        doc[TOKEN_FIELD] = write.token
        size = len(bson.encode(doc))
        with self.instrument.measure("vectors.upsert", writes=[write]) as call:
            self.vectors.update_one({"_id": chunk_id}, {"$set": doc}, upsert=True)
            call.response_size = size
        return call

    def query_vectors(
        self, store: int | None = None, vector: np.ndarray | None = None
    ) -> list[dict[str, Any]]:
        """The k chunks of a store nearest to a query vector, best first: `{_id, topic, score}`."""
        s = store if store is not None else self.corpus.pick_store(self.rng)
        q = vector if vector is not None else self.corpus.query_vector(self.rng, s)
        store_id = self.corpus.store_id(s)
        k = self.settings.vector.k
        hits: list[dict[str, Any]] = []
        with self.instrument.measure(self.vector_op) as call:
            if self.settings.vector.mode is VectorMode.ATLAS:
                hits, call.response_size = self._vector_search(store_id, q, k)
            else:
                hits, call.response_size = self._exact_knn(store_id, q, k)
        return hits

    def _exact_knn(self, store_id: str, q: np.ndarray, k: int) -> tuple[list[dict[str, Any]], int]:
        docs = list(self.raw_vectors.find({"storeId": store_id}, {"embedding": 1, "topic": 1}))
        if not docs:
            return [], 0
        matrix = np.stack([from_bson(d["embedding"]) for d in docs])
        idx, scores = top_k(q, matrix, k)
        hits = [
            {"_id": docs[i]["_id"], "topic": docs[i]["topic"], "score": float(sc)}
            for i, sc in zip(idx, scores, strict=True)
        ]
        return hits, _raw_size(docs)

    def _vector_search(self, store_id: str, q: np.ndarray, k: int) -> tuple[list[dict[str, Any]], int]:
        pipeline = [
            {
                "$vectorSearch": {
                    "index": self.settings.vector.index_name,
                    "path": "embedding",
                    "queryVector": q.astype(float).tolist(),
                    "numCandidates": max(self.settings.vector.num_candidates, k),
                    "limit": k,
                    "filter": {"storeId": store_id},
                }
            },
            {"$project": {"topic": 1, "score": {"$meta": "vectorSearchScore"}}},
        ]
        docs = list(self.raw_vectors.aggregate(pipeline))
        hits = [{"_id": d["_id"], "topic": d["topic"], "score": float(d["score"])} for d in docs]
        return hits, _raw_size(docs)

    # -- usage and logins ----------------------------------------------------------------------

    def record_usage(self) -> Call:
        doc = {"_id": ObjectId(), **self.corpus.usage_doc(self.rng, _now())}
        write = self.instrument.plan(self.usage, "insert", doc["_id"])
        doc[TOKEN_FIELD] = write.token
        size = len(bson.encode(doc))
        with self.instrument.measure("usage.record", writes=[write]) as call:
            self.usage.insert_one(doc)
            call.response_size = size
        return call

    def login(self) -> Call:
        user = self.corpus.pick_user(self.rng)
        # Many users log in as the same account at once, so a login stores no token.
        write = self.instrument.plan(self.users, "update", self.corpus.user_id(user), stores_token=False)
        with self.instrument.measure("users.login", writes=[write]) as call:
            doc = self.users.find_one_and_update(
                {"email": self.corpus.email(user)},
                {"$set": {"lastLoginAt": _now()}, "$inc": {"loginCount": 1}},
                projection={"email": 1, "name": 1, "plan": 1},
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                raise UnexpectedResult(f"user {self.corpus.email(user)} not found")
            call.response_size = len(bson.encode(doc))
        return call


class CanaryOperations:
    """Sequence-numbered writes at a fixed write concern, each read back from the primary."""

    def __init__(
        self, db: Database[Any], instrument: Instrument, settings: CanaryUserSettings, worker: str
    ) -> None:
        self.instrument = instrument
        self.worker = worker
        self.collection = db.get_collection(
            settings.collection, write_concern=WriteConcern(w=settings.write_concern)
        )
        self.raw = db.get_collection(settings.collection, codec_options=RAW)
        self.seq = 0
        self.last_acked: ObjectId | None = None

    def tick(self) -> tuple[Call, RawBSONDocument | None]:
        self.seq += 1
        _id = ObjectId()
        write = self.instrument.plan(self.collection, "insert", _id, seq=self.seq)
        doc = {"_id": _id, "seq": self.seq, "worker": self.worker, "t": _now(), TOKEN_FIELD: write.token}
        with self.instrument.measure("canary.write", writes=[write]) as call:
            self.collection.insert_one(doc)
            call.response_size = len(bson.encode(doc))
        if call.ok:
            self.last_acked = _id
        return call, self.read_back()

    def read_back(self) -> RawBSONDocument | None:
        """The last acknowledged canary document, which must be there."""
        if self.last_acked is None:
            return None
        _id = self.last_acked
        doc = None
        with self.instrument.measure("canary.read") as call:
            doc = self.raw.find_one({"_id": _id})
            if doc is None:
                raise UnexpectedResult(f"acknowledged canary document {_id} not found")
            call.response_size = len(doc.raw)
        return doc


class IngestOperations:
    """Usage metrics in bulk, as the hub's metering pipeline writes them."""

    def __init__(
        self,
        db: Database[Any],
        instrument: Instrument,
        corpus: Corpus,
        rng: np.random.Generator,
        batch_size: int,
    ) -> None:
        self.instrument = instrument
        self.corpus = corpus
        self.rng = rng
        self.batch_size = batch_size
        self.usage = db[USAGE]

    def batch(self) -> Call:
        now = _now()
        docs = [{"_id": ObjectId(), **self.corpus.usage_doc(self.rng, now)} for _ in range(self.batch_size)]
        writes = [self.instrument.plan(self.usage, "insert", d["_id"]) for d in docs]
        for doc, write in zip(docs, writes, strict=True):
            doc[TOKEN_FIELD] = write.token
        size = sum(len(bson.encode(d)) for d in docs)
        with self.instrument.measure("usage.ingest", writes=writes, ordered=True) as call:
            self.usage.insert_many(docs, ordered=True)
            call.response_size = size
        return call
