"""The hub's data, generated deterministically from a seed with numpy (no network, no files).

One `Corpus` describes both the seeded documents and the traffic drawn against them: the same
seed gives the same users, prompts and vector chunks, so an operation can name a seeded document
by its index without storing a list of ids. User activity and prompt ownership follow a Zipf law;
title and content lengths follow the shape of public prompt libraries (titles of 2-7 words, mostly
3-4; content log-normal around 60 words with a long tail).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from bson import ObjectId

from locustfiles.embeddings import clustered_vectors, to_bson, topic_centroids
from locustfiles.settings import CorpusSettings
from locustfiles.vocabulary import (
    ACT_AS,
    CATEGORIES,
    CATEGORY_WORDS,
    FILLER,
    GENERAL_TAGS,
    ROLES,
    RareWords,
    rare_words,
    zipf_cdf,
)

BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
_SPAN = timedelta(days=365)
_CHUNK = 1000  # documents per generator chunk; each chunk has its own random stream

TITLE_WORDS = np.arange(2, 8)
TITLE_PMF = np.array([0.12, 0.30, 0.27, 0.16, 0.10, 0.05])
TAG_COUNTS = np.arange(1, 6)
TAG_PMF = np.array([0.20, 0.30, 0.25, 0.15, 0.10])
CONTENT_MEDIAN_WORDS = 60
CONTENT_SIGMA = 0.7
CONTENT_WORDS_MIN, CONTENT_WORDS_MAX = 8, 600
FAVOURITE_PMF = np.array([0.6, 0.3, 0.1])  # a user's three favourite categories
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3-70b", "mistral-large")
MODEL_PMF = np.array([0.30, 0.35, 0.20, 0.10, 0.05])
PLANS = ("free", "pro", "team")
PLAN_PMF = np.array([0.7, 0.22, 0.08])

# Stream labels: every kind of document draws from its own seeded stream.
_USERS, _PROMPTS, _VECTORS, _LAYOUT = 1, 2, 3, 4


def _pick(rng: np.random.Generator, cdf: np.ndarray) -> int:
    return int(np.searchsorted(cdf, rng.random(), side="right"))


class Corpus:
    def __init__(self, spec: CorpusSettings, seed: int) -> None:
        self.spec = spec
        self.seed = seed
        self.words: RareWords = rare_words(seed)
        self._user_cdf = zipf_cdf(spec.users, spec.user_zipf)
        self._prompt_cdf = zipf_cdf(spec.prompts, spec.prompt_zipf)
        self._title_cdf = np.cumsum(TITLE_PMF)
        self._tag_cdf = np.cumsum(TAG_PMF)
        self._favourite_cdf = np.cumsum(FAVOURITE_PMF)
        self._model_cdf = np.cumsum(MODEL_PMF)
        self._plan_cdf = np.cumsum(PLAN_PMF)
        self._oid_prefix = {
            kind: hashlib.blake2b(f"{seed}:{kind}".encode(), digest_size=5).digest() for kind in ("u", "p")
        }
        layout = np.random.default_rng([seed, _LAYOUT])
        self.user_categories = np.argsort(layout.random((spec.users, len(CATEGORIES))), axis=1)[:, :3]
        self.centroids = topic_centroids(layout, spec.topics, spec.embedding_dim)
        self.store_topics = layout.integers(0, spec.topics, size=(spec.stores, 2))
        self.store_owners = np.searchsorted(self._user_cdf, layout.random(spec.stores), side="right")

    # -- identities -------------------------------------------------------------------------

    def _oid(self, kind: str, i: int) -> ObjectId:
        stamp = int(BASE_TIME.timestamp()) + (i >> 24)
        return ObjectId(struct.pack(">I", stamp) + self._oid_prefix[kind] + (i & 0xFFFFFF).to_bytes(3, "big"))

    def user_id(self, u: int) -> ObjectId:
        return self._oid("u", u)

    def email(self, u: int) -> str:
        return f"user{u:07d}@hub.example"

    def prompt_id(self, i: int) -> ObjectId:
        return self._oid("p", i)

    def store_id(self, s: int) -> str:
        return f"store-{s:06d}"

    # -- traffic ----------------------------------------------------------------------------

    def pick_user(self, rng: np.random.Generator) -> int:
        """A user, the active ones far more often (Zipf)."""
        return _pick(rng, self._user_cdf)

    def pick_prompt(self, rng: np.random.Generator) -> int:
        """A seeded prompt, popular ones more often (Zipf over the prompt index)."""
        return _pick(rng, self._prompt_cdf)

    def pick_store(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.spec.stores))

    def pick_category(self, rng: np.random.Generator, user: int) -> str:
        """One of the user's three favourite categories."""
        return CATEGORIES[self.user_categories[user, _pick(rng, self._favourite_cdf)]]

    def search_terms(self, rng: np.random.Generator) -> str:
        """What a user types into the prompt search: one or two words of one category."""
        words = CATEGORY_WORDS[CATEGORIES[int(rng.integers(len(CATEGORIES)))]]
        n = 1 + int(rng.random() < 0.4)
        return " ".join(words[i] for i in rng.choice(len(words), size=n, replace=False))

    def query_vector(self, rng: np.random.Generator, store: int) -> np.ndarray:
        """A query embedding about one of the store's topics."""
        topic = self.store_topics[store, int(rng.random() < 0.3)]
        return clustered_vectors(rng, self.centroids, np.array([topic]), self.spec.noise)[0]

    # -- documents --------------------------------------------------------------------------

    def user_doc(self, rng: np.random.Generator, u: int) -> dict[str, Any]:
        return {
            "_id": self.user_id(u),
            "email": self.email(u),
            "name": " ".join(w.capitalize() for w in self.words.draw(rng, 2)),
            "plan": PLANS[_pick(rng, self._plan_cdf)],
            "createdAt": BASE_TIME + _SPAN * float(rng.random()),
            "lastLoginAt": None,
            "loginCount": 0,
        }

    def title(self, rng: np.random.Generator, category: str) -> str:
        n = int(TITLE_WORDS[_pick(rng, self._title_cdf)])
        topic = CATEGORY_WORDS[category]
        words = [topic[int(rng.integers(len(topic)))]]
        if n >= 3:
            words.append(ROLES[int(rng.integers(len(ROLES)))])
        words[1:1] = self.words.draw(rng, n - len(words))
        return " ".join(w.capitalize() for w in words)

    def content(self, rng: np.random.Generator, category: str) -> str:
        n = int(
            np.clip(
                rng.lognormal(np.log(CONTENT_MEDIAN_WORDS), CONTENT_SIGMA),
                CONTENT_WORDS_MIN,
                CONTENT_WORDS_MAX,
            )
        )
        source = rng.random(n)
        topic = CATEGORY_WORDS[category]
        rare = iter(self.words.draw(rng, int((source >= 0.85).sum())))
        picks = rng.random(n)
        words = [
            FILLER[int(p * len(FILLER))]
            if s < 0.55
            else topic[int(p * len(topic))]
            if s < 0.85
            else next(rare)
            for s, p in zip(source, picks, strict=True)
        ]
        for i in range(12, n, 13):
            words[i] += "."
        text = " ".join(words)
        if rng.random() < 0.4:
            role = ROLES[int(rng.integers(len(ROLES)))]
            text = f"{ACT_AS} {'an' if role[0] in 'aeiou' else 'a'} {role}. {text}"
        return text

    def tags(self, rng: np.random.Generator, category: str) -> list[str]:
        """One to five distinct tags, mostly the category's own words."""
        n = int(TAG_COUNTS[_pick(rng, self._tag_cdf)])
        topic = CATEGORY_WORDS[category]
        picks = [
            topic[int(rng.integers(len(topic)))]
            if topical
            else GENERAL_TAGS[int(rng.integers(len(GENERAL_TAGS)))]
            for topical in rng.random(n) < 0.6
        ]
        return list(dict.fromkeys(picks))

    def prompt_doc(
        self, rng: np.random.Generator, user: int, created_at: datetime, _id: ObjectId | None = None
    ) -> dict[str, Any]:
        category = self.pick_category(rng, user)
        doc: dict[str, Any] = {
            "userId": self.user_id(user),
            "category": category,
            "title": self.title(rng, category),
            "content": self.content(rng, category),
            "tags": self.tags(rng, category),
            "createdAt": created_at,
            "updatedAt": created_at,
            "usageCount": 0,
        }
        if _id is not None:
            doc["_id"] = _id
        return doc

    def chunk_doc(
        self, rng: np.random.Generator, store: int, chunk_id: str, created_at: datetime
    ) -> dict[str, Any]:
        topic = int(self.store_topics[store, int(rng.random() < 0.25)])
        vector = clustered_vectors(rng, self.centroids, np.array([topic]), self.spec.noise)[0]
        words = CATEGORY_WORDS[CATEGORIES[topic % len(CATEGORIES)]]
        n = int(rng.integers(20, 60))
        return {
            "_id": chunk_id,
            "storeId": self.store_id(store),
            "userId": self.user_id(int(self.store_owners[store])),
            "topic": topic,
            "text": " ".join(words[int(i)] for i in rng.integers(len(words), size=n)),
            "embedding": to_bson(vector),
            "createdAt": created_at,
        }

    def usage_doc(self, rng: np.random.Generator, timestamp: datetime) -> dict[str, Any]:
        tokens_in = int(rng.lognormal(np.log(400), 0.8))
        tokens_out = int(rng.lognormal(np.log(250), 0.9))
        return {
            "timestamp": timestamp,
            "userId": self.user_id(self.pick_user(rng)),
            "promptId": self.prompt_id(self.pick_prompt(rng)),
            "model": MODELS[_pick(rng, self._model_cdf)],
            "tokensIn": tokens_in,
            "tokensOut": tokens_out,
            "latencyMs": round(float(rng.gamma(2.0, 350.0)), 1),
            "costUsd": round((tokens_in * 2.5 + tokens_out * 10.0) / 1e6, 6),
        }

    # -- the seeded corpus, in chunks ---------------------------------------------------------

    def _chunks(self, stream: int, total: int) -> Iterator[tuple[np.random.Generator, range]]:
        for start in range(0, total, _CHUNK):
            yield np.random.default_rng([self.seed, stream, start]), range(start, min(start + _CHUNK, total))

    def users(self) -> Iterator[list[dict[str, Any]]]:
        for rng, span in self._chunks(_USERS, self.spec.users):
            yield [self.user_doc(rng, u) for u in span]

    def prompts(self) -> Iterator[list[dict[str, Any]]]:
        for rng, span in self._chunks(_PROMPTS, self.spec.prompts):
            owners = np.searchsorted(self._user_cdf, rng.random(len(span)), side="right")
            yield [
                self.prompt_doc(rng, int(owner), BASE_TIME + _SPAN * float(rng.random()), self.prompt_id(i))
                for i, owner in zip(span, owners, strict=True)
            ]

    def vectors(self) -> Iterator[list[dict[str, Any]]]:
        per_store = self.spec.vectors_per_store
        for rng, span in self._chunks(_VECTORS, self.spec.stores * per_store):
            yield [
                self.chunk_doc(
                    rng, i // per_store, f"{self.store_id(i // per_store)}-c{i % per_store:05d}", BASE_TIME
                )
                for i in span
            ]
