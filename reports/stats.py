"""Per-group count, mean, percentiles and maximum over millions of values, without a Python loop.

Values are sorted once, then stably by group (a radix sort on small integers), so each group's
values lie together in order and a percentile is an index. Percentiles interpolate linearly
between closest ranks, as `numpy.percentile` does by default. pandas' groupby quantile would
sort each group again for every percentile asked.
"""

from __future__ import annotations

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
