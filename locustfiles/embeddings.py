"""Clustered unit embeddings (topic centroids plus noise), their BSON form, and exact k-NN.

Stored as BSON binary vectors (subtype 9, float32) as Atlas Vector Search accepts them: a
quarter of the size of an array of doubles and decoded without a Python loop.
"""

from __future__ import annotations

import numpy as np
from bson.binary import Binary, BinaryVectorDtype


def topic_centroids(rng: np.random.Generator, topics: int, dim: int) -> np.ndarray:
    """`topics` random unit vectors; in a few hundred dimensions they are nearly orthogonal."""
    return _unit(rng.standard_normal((topics, dim)))


def clustered_vectors(
    rng: np.random.Generator, centroids: np.ndarray, topics: np.ndarray, noise: float
) -> np.ndarray:
    """One unit vector per entry of `topics`: its centroid plus isotropic noise of norm ~`noise`."""
    dim = centroids.shape[1]
    jitter = rng.standard_normal((len(topics), dim)) * (noise / np.sqrt(dim))
    return _unit(centroids[topics] + jitter).astype(np.float32)


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


def to_bson(vector: np.ndarray) -> Binary:
    return Binary.from_vector(vector.astype(np.float32).tolist(), BinaryVectorDtype.FLOAT32)


def from_bson(value: Binary | bytes) -> np.ndarray:
    """The float32 vector of a BSON binary vector (dtype byte, padding byte, little-endian data)."""
    raw = bytes(value)
    if len(raw) < 2 or raw[:1] != BinaryVectorDtype.FLOAT32.value:
        raise ValueError("not a float32 BSON vector")
    return np.frombuffer(raw, dtype="<f4", offset=2)


def top_k(query: np.ndarray, matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine scores of the k rows nearest to `query`, best first (rows are unit)."""
    if len(matrix) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    q = query / (np.linalg.norm(query) or 1.0)
    scores = matrix @ q.astype(matrix.dtype)
    k = min(k, len(scores))
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return idx, scores[idx]
