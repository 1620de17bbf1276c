"""A figure measured many times (one value per fault of a campaign): p50, p90, maximum and a
bootstrap confidence interval for the median.

The interval is the percentile bootstrap: the sample is resampled with replacement
`RESAMPLES` times, the median taken of each resample, and the interval is the middle 95 % of
those medians. The generator is seeded, so the same values give the same interval on every
render. A percentile bootstrap of the median is a few lines of numpy (vectorised resampling);
scipy.stats.bootstrap would add scipy (tens of MB to every install) for it, and its default
BCa interval is unreliable for the median of a small sample (the jackknife of a median is
mostly ties), so it would be asked for the percentile method anyway. With fewer than
`MIN_FOR_CI` values there is no interval: a resample of one value is that value. Like every
percentile bootstrap of a median, the interval is somewhat narrow for ten or so values
(`tests/test_campaign_stats.py` measures its coverage).
"""

from __future__ import annotations

import numpy as np

from reports.results import Result

CONFIDENCE = 0.95
RESAMPLES = 10_000
SEED = 20_240_601  # any fixed seed: the interval of the same values must not change between renders
MIN_FOR_CI = 2
_CHUNK = 2_000_000  # values resampled at once, so a campaign of thousands of faults stays small


class Interval(Result):
    low: float
    high: float
    confidence: float = CONFIDENCE

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


class Distribution(Result):
    """One figure over many measurements; `values` in the order they were measured."""

    n: int
    missing: int  # measurements that could not be made (the notes of those faults say why)
    values: list[float]
    p50: float | None
    p90: float | None
    max: float | None
    median_ci: Interval | None  # None with fewer than MIN_FOR_CI values


def distribution(values: list[float], missing: int = 0) -> Distribution:
    x = np.asarray(values, dtype=float)
    if not len(x):
        return Distribution(n=0, missing=missing, values=[], p50=None, p90=None, max=None, median_ci=None)
    p50, p90 = np.percentile(x, [50, 90])
    return Distribution(
        n=len(x),
        missing=missing,
        values=[float(v) for v in x],
        p50=float(p50),
        p90=float(p90),
        max=float(x.max()),
        median_ci=median_interval(x),
    )


def median_interval(
    values: np.ndarray, confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = SEED
) -> Interval | None:
    """The percentile-bootstrap interval for the median of `values`."""
    x = np.asarray(values, dtype=float)
    if len(x) < MIN_FOR_CI:
        return None
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK // len(x))
    medians = np.concatenate(
        [
            np.median(x[rng.integers(0, len(x), size=(min(per_chunk, resamples - done), len(x)))], axis=1)
            for done in range(0, resamples, per_chunk)
        ]
    )
    tail = (1 - confidence) / 2
    low, high = np.quantile(medians, [tail, 1 - tail])
    return Interval(low=float(low), high=float(high), confidence=confidence)
