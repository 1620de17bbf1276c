"""The workload's data generators: deterministic, skewed like real traffic, well-clustered."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from locustfiles.corpus import CONTENT_WORDS_MAX, CONTENT_WORDS_MIN, Corpus
from locustfiles.embeddings import clustered_vectors, from_bson, to_bson, top_k, topic_centroids
from locustfiles.settings import CorpusSettings
from locustfiles.vocabulary import CATEGORIES, CATEGORY_WORDS, rare_words, zipf_cdf

SMALL = CorpusSettings(users=300, prompts=2500, stores=10, vectors_per_store=30, embedding_dim=64, topics=6)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus(SMALL, seed=7)


@pytest.fixture(scope="module")
def prompts(corpus: Corpus) -> list[dict]:
    return [doc for chunk in corpus.prompts() for doc in chunk]


def test_same_seed_same_corpus_and_other_seed_differs() -> None:
    a = [d for chunk in Corpus(SMALL, seed=1).prompts() for d in chunk][:50]
    b = [d for chunk in Corpus(SMALL, seed=1).prompts() for d in chunk][:50]
    c = [d for chunk in Corpus(SMALL, seed=2).prompts() for d in chunk][:50]
    assert a == b
    assert [d["title"] for d in a] != [d["title"] for d in c]
    assert [d["_id"] for d in a] != [d["_id"] for d in c]


def test_ids_are_deterministic_unique_and_match_the_seeded_documents(
    corpus: Corpus, prompts: list[dict]
) -> None:
    ids = [d["_id"] for d in prompts]
    assert len(set(ids)) == len(ids) == SMALL.prompts
    assert ids[123] == corpus.prompt_id(123)
    users = [d for chunk in corpus.users() for d in chunk]
    assert users[42]["_id"] == corpus.user_id(42)
    assert users[42]["email"] == corpus.email(42)
    assert len({u["email"] for u in users}) == SMALL.users


def test_prompt_documents_have_the_hub_fields(prompts: list[dict]) -> None:
    for doc in prompts[:200]:
        assert set(doc) == {
            "_id",
            "userId",
            "category",
            "title",
            "content",
            "tags",
            "createdAt",
            "updatedAt",
            "usageCount",
        }
        assert doc["category"] in CATEGORIES
        assert 1 <= len(doc["tags"]) <= 5
        assert len(set(doc["tags"])) == len(doc["tags"])


def test_user_activity_is_zipf_skewed(corpus: Corpus, prompts: list[dict]) -> None:
    owners = Counter(d["userId"] for d in prompts)
    top_1pct = sum(c for _, c in owners.most_common(SMALL.users // 100))
    # Under a Zipf law with s=1.1 the top 1% of 300 users own far more than 1% of the prompts.
    assert top_1pct / len(prompts) > 0.15
    rng = np.random.default_rng(3)
    picks = Counter(corpus.pick_user(rng) for _ in range(5000))
    assert picks[0] > picks[10] > picks.get(200, 0)


def test_title_and_content_lengths_resemble_prompt_libraries(prompts: list[dict]) -> None:
    title_words = np.array([len(d["title"].split()) for d in prompts])
    content_words = np.array([len(d["content"].split()) for d in prompts])
    assert title_words.min() >= 2 and title_words.max() <= 7
    assert 3 <= np.median(title_words) <= 4
    assert 45 <= np.median(content_words) <= 85
    assert content_words.min() >= CONTENT_WORDS_MIN
    assert content_words.max() <= CONTENT_WORDS_MAX + 10  # plus the "act as" opening
    assert np.percentile(content_words, 95) > 2 * np.median(content_words)  # a long tail


def test_category_lists_have_results_for_the_users_favourite_categories(
    corpus: Corpus, prompts: list[dict]
) -> None:
    by_key = Counter((d["userId"], d["category"]) for d in prompts)
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(200):
        u = corpus.pick_user(rng)
        hits += by_key[(corpus.user_id(u), corpus.pick_category(rng, u))] > 0
    assert hits > 120  # active users mostly browse categories they have prompts in


def test_search_terms_are_category_words(corpus: Corpus) -> None:
    words = {w for ws in CATEGORY_WORDS.values() for w in ws}
    rng = np.random.default_rng(1)
    for _ in range(50):
        terms = corpus.search_terms(rng).split()
        assert 1 <= len(terms) <= 2 and set(terms) <= words


def test_rare_words_are_distinct_and_zipf_distributed() -> None:
    vocab = rare_words(seed=11, n=500)
    assert len(vocab.words) == len(set(vocab.words)) == 500
    draws = Counter(vocab.draw(np.random.default_rng(0), 20000))
    assert draws[vocab.words[0]] > draws[vocab.words[10]] > draws[vocab.words[400]]
    cdf = zipf_cdf(4, 1.0)
    assert cdf[-1] == pytest.approx(1.0)
    assert np.diff(cdf)[0] > np.diff(cdf)[-1]


def test_embeddings_are_unit_vectors_clustered_by_topic() -> None:
    rng = np.random.default_rng(0)
    centroids = topic_centroids(rng, 8, 384)
    topics = rng.integers(0, 8, size=400)
    vectors = clustered_vectors(rng, centroids, topics, noise=0.6)
    assert vectors.shape == (400, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    own = np.einsum("ij,ij->i", vectors, centroids[topics].astype(np.float32))
    nearest = np.argmax(vectors @ centroids.T.astype(np.float32), axis=1)
    assert own.mean() > 0.8
    assert (nearest == topics).all()


def test_top_k_returns_the_nearest_rows_best_first() -> None:
    rng = np.random.default_rng(2)
    centroids = topic_centroids(rng, 4, 32)
    topics = np.repeat(np.arange(4), 25)
    matrix = clustered_vectors(rng, centroids, topics, noise=0.5)
    idx, scores = top_k(centroids[2], matrix, 10)
    assert (topics[idx] == 2).all()
    assert list(scores) == sorted(scores, reverse=True)
    exact = np.argsort(-(matrix @ centroids[2].astype(np.float32)))[:10]
    assert set(idx) == set(exact)
    assert len(top_k(centroids[0], matrix[:0], 5)[0]) == 0
    assert len(top_k(centroids[0], matrix[:3], 5)[0]) == 3


def test_bson_vectors_round_trip() -> None:
    v = np.random.default_rng(1).standard_normal(384).astype(np.float32)
    back = from_bson(to_bson(v))
    np.testing.assert_array_equal(back, v)
    with pytest.raises(ValueError, match="float32"):
        from_bson(b"\x03\x00abc")


def test_vector_chunks_cluster_by_the_store_topics(corpus: Corpus) -> None:
    chunks = [d for chunk in corpus.vectors() for d in chunk]
    assert len(chunks) == SMALL.stores * SMALL.vectors_per_store
    assert len({d["_id"] for d in chunks}) == len(chunks)
    store0 = [d for d in chunks if d["storeId"] == corpus.store_id(0)]
    assert {d["topic"] for d in store0} <= set(corpus.store_topics[0].tolist())
    matrix = np.stack([from_bson(d["embedding"]) for d in store0])
    idx, _ = top_k(corpus.centroids[store0[0]["topic"]], matrix, 3)
    assert all(store0[i]["topic"] == store0[0]["topic"] for i in idx)


def test_usage_documents_are_plausible(corpus: Corpus) -> None:
    from datetime import UTC, datetime

    rng = np.random.default_rng(9)
    now = datetime.now(UTC)
    docs = [corpus.usage_doc(rng, now) for _ in range(500)]
    assert all(d["timestamp"] == now and d["tokensIn"] >= 0 and d["costUsd"] >= 0 for d in docs)
    assert len({d["model"] for d in docs}) >= 4
