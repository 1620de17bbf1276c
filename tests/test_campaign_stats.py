"""A campaign's statistics: percentiles and the bootstrap interval of the median."""

from __future__ import annotations

import numpy as np
import pytest

from reports.distribution import distribution, median_interval


def test_percentiles_and_maximum_of_known_values() -> None:
    d = distribution([3.0, 1.0, 2.0, 4.0, 10.0], missing=2)
    assert (d.n, d.missing) == (5, 2)
    assert d.values == [3.0, 1.0, 2.0, 4.0, 10.0]  # in the order measured
    assert d.p50 == 3.0
    assert d.p90 == pytest.approx(4.0 + 0.6 * 6.0)  # linear between the 4th and 5th values
    assert d.max == 10.0
    assert d.median_ci is not None and d.median_ci.low <= 3.0 <= d.median_ci.high
    assert d.median_ci.low >= 1.0 and d.median_ci.high <= 10.0


def test_no_interval_below_two_values_and_nothing_from_nothing() -> None:
    one = distribution([1.5])
    assert (one.p50, one.p90, one.max, one.median_ci) == (1.5, 1.5, 1.5, None)
    empty = distribution([], missing=3)
    assert (empty.n, empty.missing, empty.p50, empty.median_ci) == (0, 3, None, None)


def test_the_interval_is_the_same_on_every_render() -> None:
    values = np.random.default_rng(7).lognormal(0.0, 0.4, 12)
    assert median_interval(values) == median_interval(values)


def test_identical_values_give_a_point_interval() -> None:
    interval = median_interval(np.zeros(10))
    assert interval is not None and (interval.low, interval.high) == (0.0, 0.0)


def test_a_large_sample_is_resampled_in_chunks_with_the_same_answer_shape() -> None:
    values = np.random.default_rng(3).normal(10.0, 1.0, 5000)
    interval = median_interval(values, resamples=500)
    assert interval is not None
    assert interval.low < np.median(values) < interval.high
    assert interval.high - interval.low < 0.2  # about 4 standard errors of the median (0.018 each)


def test_coverage_is_near_95_percent_for_ten_values() -> None:
    """Draw ten RTO-like values (log-normal) 300 times: the interval must contain the true median
    about 95 % of the time. A min-max interval would cover 99.8 %, a point 0 %."""
    rng = np.random.default_rng(1)
    true_median = np.exp(0.2)
    hits = 0
    trials = 300
    for trial in range(trials):
        interval = median_interval(rng.lognormal(0.2, 0.3, 10), resamples=2000, seed=trial)
        assert interval is not None
        hits += interval.contains(true_median)
    assert 0.90 <= hits / trials <= 0.99
