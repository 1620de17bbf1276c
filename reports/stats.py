"""Per-group count, mean, percentiles and maximum over millions of values, without a Python loop.

Values are sorted once, then stably by group (a radix sort on small integers), so each group's
values lie together in order and a percentile is an index. Percentiles interpolate linearly
between closest ranks, as `numpy.percentile` does by default. pandas' groupby quantile would
sort each group again for every percentile asked.

`Distribution` takes the values batch by batch (a run read in row batches): exact up to
EXACT_MAX values, then log-bucket histograms per group with a stated error bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PERCENTILES = (50.0, 95.0, 99.0)


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Arrays indexed by group code; groups without values have count 0 and NaN elsewhere."""

    count: np.ndarray
    mean: np.ndarray
    percentiles: dict[float, np.ndarray]
    max: np.ndarray


class Ranked:
    """Values sorted once, to take statistics over any number of groupings of them."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.order = np.argsort(values)

    def stats(self, groups: np.ndarray, n_groups: int) -> GroupStats:
        """Statistics per group code in [0, n_groups); negative codes are left out."""
        # Codes narrowed to 16 bits are sorted by radix, in linear time.
        narrow = groups.astype(np.int16) if n_groups < 2**15 else groups
        order = self.order[np.argsort(narrow[self.order], kind="stable")]
        keep = groups[order] >= 0
        order = order[keep]
        ordered = self.values[order]
        codes = groups[order]
        count = np.bincount(codes, minlength=n_groups)
        ends = np.cumsum(count)
        starts = ends - count
        has = count > 0
        mean = np.full(n_groups, np.nan)
        mean[has] = np.bincount(codes, weights=ordered, minlength=n_groups)[has] / count[has]

        def percentile(q: float) -> np.ndarray:
            out = np.full(n_groups, np.nan)
            position = starts[has] + (count[has] - 1) * (q / 100.0)
            low = np.floor(position).astype(np.int64)
            high = np.minimum(low + 1, ends[has] - 1)
            out[has] = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
            return out

        maximum = np.full(n_groups, np.nan)
        maximum[has] = ordered[ends[has] - 1]
        return GroupStats(count, mean, {q: percentile(q) for q in PERCENTILES}, maximum)


class Tally:
    """Counts per integer code, added batch by batch; the codes need not be known in advance."""

    def __init__(self) -> None:
        self._counts = np.zeros(0, dtype=np.int64)

    def add(self, codes: np.ndarray) -> None:
        added = np.bincount(codes[codes >= 0])
        if len(added) > len(self._counts):
            self._counts = np.concatenate([self._counts, np.zeros(len(added) - len(self._counts), np.int64)])
        self._counts[: len(added)] += added

    def counts(self, n: int) -> np.ndarray:
        """Counts of codes [0, n)."""
        out = np.zeros(n, dtype=np.int64)
        out[: min(n, len(self._counts))] = self._counts[:n]
        return out


# Above this many values a Distribution keeps log-bucket histograms instead of the values.
EXACT_MAX = 1_000_000
# Histogram buckets: bucket 0 holds values up to SMALLEST (ms); bucket i > 0 holds
# (SMALLEST * GAMMA**(i-1), SMALLEST * GAMMA**i], the last one everything above. A percentile
# taken from them is within RELATIVE_ERROR of numpy's for values above SMALLEST, and within
# SMALLEST of it below (DDSketch's bound: every value is replaced by its bucket's representative
# 2 * upper / (GAMMA + 1), and interpolating between two such values keeps the bound).
SMALLEST = 1e-3
RELATIVE_ERROR = 0.01
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
BUCKETS = 1 + math.ceil(math.log(1e8 / SMALLEST) / math.log(GAMMA))  # up to 1e8 ms, over a day
_REPRESENTATIVE = np.concatenate(
    ([SMALLEST / 2], 2 * SMALLEST * GAMMA ** np.arange(1, BUCKETS) / (GAMMA + 1))
)


def bucket_of(values: np.ndarray) -> np.ndarray:
    """Each value's histogram bucket."""
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.ceil(np.log(np.maximum(values, SMALLEST) / SMALLEST) / math.log(GAMMA))
    return np.clip(raw, 0, BUCKETS - 1).astype(np.int64)


class Distribution:
    """Values added batch by batch under integer group codes, for `GroupStats` at the end.

    Exact (`Ranked`) while it has seen at most EXACT_MAX values; beyond, each group keeps a
    log-bucket histogram with its exact count, sum, minimum and maximum, so memory depends on the
    number of groups, not of values. Percentiles are then within RELATIVE_ERROR (see above).
    """

    def __init__(self) -> None:
        self._codes: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._seen = 0
        self._hist: dict[int, np.ndarray] = {}
        self._moments: dict[int, list[float]] = {}  # count, sum, min, max

    @property
    def exact(self) -> bool:
        return self._seen <= EXACT_MAX

    def add(self, codes: np.ndarray, values: np.ndarray) -> None:
        """Values with their group codes (negative codes are left out)."""
        keep = codes >= 0
        codes, values = codes[keep].astype(np.int64), values[keep].astype(np.float64)
        self._seen += len(values)
        if self.exact:
            self._codes.append(codes)
            self._values.append(values)
            return
        if self._codes:  # crossing the limit: the values kept so far go into histograms
            kept_codes, kept_values = np.concatenate(self._codes), np.concatenate(self._values)
            self._codes, self._values = [], []
            self._fold(kept_codes, kept_values)
        self._fold(codes, values)

    def _fold(self, codes: np.ndarray, values: np.ndarray) -> None:
        if not len(codes):
            return
        order = np.argsort(codes, kind="stable")
        codes, values = codes[order], values[order]
        starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
        ends = np.append(starts[1:], len(codes))
        sums = np.add.reduceat(values, starts)
        lows = np.minimum.reduceat(values, starts)
        highs = np.maximum.reduceat(values, starts)
        buckets = bucket_of(values)
        for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            code = int(codes[s])
            hist = self._hist.get(code)
            if hist is None:
                hist = self._hist[code] = np.zeros(BUCKETS, dtype=np.int64)
                self._moments[code] = [0, 0.0, math.inf, -math.inf]
            hist += np.bincount(buckets[s:e], minlength=BUCKETS)
            m = self._moments[code]
            m[0] += e - s
            m[1] += float(sums[i])
            m[2] = min(m[2], float(lows[i]))
            m[3] = max(m[3], float(highs[i]))

    def stats(self, n_groups: int) -> GroupStats:
        """Statistics per group code in [0, n_groups)."""
        if self.exact:
            codes = np.concatenate(self._codes) if self._codes else np.zeros(0, dtype=np.int64)
            values = np.concatenate(self._values) if self._values else np.zeros(0)
            return Ranked(values).stats(codes, n_groups)
        count = np.zeros(n_groups, dtype=np.int64)
        mean, maximum = np.full(n_groups, np.nan), np.full(n_groups, np.nan)
        percentiles = {q: np.full(n_groups, np.nan) for q in PERCENTILES}
        for code, hist in self._hist.items():
            if code >= n_groups:
                continue
            n, total, low, high = self._moments[code]
            count[code], mean[code], maximum[code] = n, total / n, high
            for q in PERCENTILES:
                percentiles[q][code] = histogram_percentile(hist, n, q, low, high)
        return GroupStats(count, mean, percentiles, maximum)


def histogram_percentile(hist: np.ndarray, count: int, q: float, low: float, high: float) -> float:
    """numpy's linear-interpolation percentile, each closest rank read as its bucket's
    representative (clipped to the exact minimum and maximum)."""
    position = (count - 1) * (q / 100.0)
    below = math.floor(position)
    ranks = np.array([below, min(below + 1, count - 1)])
    cumulative = np.cumsum(hist)
    at = np.clip(_REPRESENTATIVE[np.searchsorted(cumulative, ranks, side="right")], low, high)
    return float(at[0] + (at[1] - at[0]) * (position - below))
