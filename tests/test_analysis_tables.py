"""Latency, error and member-state tables, the plot series and the grouped statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from analysis_helpers import load

from contract.rundir import ErrorClass, RequestEvent
from reports import stats
from reports.errorrates import UNCLASSIFIED, error_tables
from reports.lag import lag_samples
from reports.latency import latency_table
from reports.load import RunData
from reports.phases import Phase, assign, phase_windows
from reports.states import UNREACHABLE, member_states
from reports.stats import Ranked
from reports.synthetic.builder import RunBuilder
from reports.timeline import timeline


def phases_of(data: RunData, recovery_s: float = 30.0) -> np.ndarray:
    windows = phase_windows(data.faults, data.run_start, data.run_end, recovery_s)
    return assign(data.events["t_start"].to_numpy(), windows)


def latency_run() -> RunBuilder:
    b = RunBuilder()
    for t, ms in ((1, 10.0), (2, 20.0), (3, 30.0), (4, 40.0)):
        b.request(t, ms, "prompts.get")
    b.request(4.5, 5000.0, "prompts.get", ok=False)  # a failure's time is not a latency
    b.write(5, 100.0, "prompts.create")
    b.request(12, 1500.0, "prompts.get")  # during the fault, and slow
    b.request(60, 10.0, "prompts.get")  # after the recovery window: steady again
    b.fault("f1", 10.0, heal=20.0)
    return b


def test_latency_per_operation_and_phase(tmp_path: Path) -> None:
    data = load(latency_run(), tmp_path)
    rows = {(r.op, r.phase): r for r in latency_table(data.events, phases_of(data), 1000.0)}
    get = rows[("prompts.get", Phase.STEADY)]
    assert get.count == 5  # 10, 20, 30, 40 and the 10 ms at 60 s
    assert get.avg_ms == pytest.approx(22.0)
    assert get.p50_ms == pytest.approx(20.0)
    assert get.p95_ms == pytest.approx(38.0)  # rank 3.8 between 30 and 40
    assert get.p99_ms == pytest.approx(39.6)
    assert (get.max_ms, get.slow) == (40.0, 0)
    slow = rows[("prompts.get", Phase.FAULT)]
    assert (slow.count, slow.max_ms, slow.slow) == (1, 1500.0, 1)
    every = rows[("*", Phase.STEADY)]
    assert every.count == 6 and every.avg_ms == pytest.approx(210.0 / 6) and every.max_ms == 100.0
    assert ("prompts.get", Phase.RECOVERY) not in rows
    assert [r.op for r in latency_table(data.events, phases_of(data), 1000.0)][:2] == ["*", "*"]


def test_error_rates_per_phase_and_class(tmp_path: Path) -> None:
    b = RunBuilder()
    b.series("prompts.get", 0, 9, every=1.0)  # nine steady requests
    b.write(9.5, 5.0, "prompts.create", ok=False, error_class=ErrorClass.NOT_PRIMARY)
    b.request(11, 5.0, "prompts.get")
    b.request(12, 5.0, "prompts.get", ok=False, error_class=ErrorClass.NETWORK)
    b.request(13, 5.0, "prompts.get", ok=False, error_class=ErrorClass.NETWORK)
    unclassified = RequestEvent(b.origin + 14, b.origin + 14.1, 100.0, "users.login", "HubUser", False, False)
    b.events.append(unclassified)
    b.fault("f1", 10.0, heal=20.0)
    data = load(b, tmp_path)
    tables = error_tables(data.events, phases_of(data))
    steady = tables.rate(Phase.STEADY)
    assert (steady.requests, steady.failed, steady.error_rate) == (10, 1, pytest.approx(0.1))
    fault = tables.rate(Phase.FAULT)
    assert (fault.requests, fault.failed, fault.error_rate) == (4, 3, pytest.approx(0.75))
    assert tables.rate(Phase.RECOVERY).error_rate is None
    assert [(c.phase, c.op, c.error_class, c.count) for c in tables.by_class] == [
        (Phase.FAULT, "prompts.get", "network", 2),
        (Phase.STEADY, "prompts.create", "not_primary", 1),
        (Phase.FAULT, "users.login", UNCLASSIFIED, 1),
    ]


def test_member_states_as_spans(tmp_path: Path) -> None:
    b = RunBuilder()
    b.request(0, 10.0)
    up = {"m0": ("PRIMARY", 1), "m1": ("SECONDARY", 1), "m2": ("SECONDARY", 1)}
    b.probe_round(0, up)
    b.probe_round(1, up)
    b.probe_round(2, {**up, "m0": None})
    b.probe_round(3, {"m0": None, "m1": ("PRIMARY", 2), "m2": ("SECONDARY", 2)})
    b.probe_round(4, {"m0": ("SECONDARY", 2), "m1": ("PRIMARY", 2), "m2": ("SECONDARY", 2)})
    data = load(b, tmp_path)
    assert data.probes is not None
    origin = data.info.started_at
    spans = [
        (s.member, s.state, s.term, s.start - origin, s.end - origin) for s in member_states(data.probes)
    ]
    assert spans == [
        ("m0", "PRIMARY", 1, 0.0, 2.0),
        ("m0", UNREACHABLE, None, 2.0, 4.0),
        ("m0", "SECONDARY", 2, 4.0, 4.0),
        ("m1", "SECONDARY", 1, 0.0, 3.0),
        ("m1", "PRIMARY", 2, 3.0, 4.0),
        ("m2", "SECONDARY", 1, 0.0, 3.0),
        ("m2", "SECONDARY", 2, 3.0, 4.0),
    ]


def test_timeline_series(tmp_path: Path) -> None:
    b = RunBuilder()
    b.request(0.5, 10.0, "prompts.get")
    b.write(0.6, 10.0, "prompts.create", ok=False)
    b.write(1.2, 10.0, "canary.write")
    b.probe_round(0.7, {"m0": ("PRIMARY", 1), "m1": ("SECONDARY", 1)}, lag={"m1": 3.0})
    data = load(b, tmp_path)
    assert data.probes is not None
    lag_rows = lag_samples(data.probes, data.run_start, data.run_end)
    series = timeline(data.events, lag_rows, data.run_start, data.run_end)
    assert series.bin_s == 1.0 and series.start == [b.origin, b.origin + 1]
    assert (series.ops_ok, series.ops_failed) == ([1, 1], [1, 0])
    assert (series.writes_ok, series.writes_failed) == ([0, 1], [1, 0])
    assert (series.canary_ok, series.canary_failed) == ([0, 1], [0, 0])
    groups = {s.group: s for s in series.latency}
    assert list(groups) == ["canary", "prompts"]
    assert groups["prompts"].count == [1, 0] and groups["prompts"].p50_ms == [10.0, None]
    lag = {s.member: s.max_lag_s for s in series.lag}
    assert lag == {"m1": [3.0, None]}  # the primary's view of the others


def test_timeline_bins_widen_for_long_runs(tmp_path: Path) -> None:
    b = RunBuilder()
    b.request(0, 10.0)
    b.request(4999.5, 10.0)
    data = load(b, tmp_path)
    series = timeline(data.events, None, data.run_start, data.run_end)
    assert series.bin_s == 3.0 and len(series.start) == 1667
    assert sum(series.ops_ok) == 2 and series.ops_ok[-1] == 1 and series.lag == []


def test_grouped_statistics_agree_with_numpy() -> None:
    rng = np.random.default_rng(7)
    groups = rng.integers(-1, 6, 5000)
    values = rng.lognormal(3, 1, 5000)
    stats = Ranked(values).stats(groups, 7)
    for g in range(7):
        mine = values[groups == g]
        if not len(mine):
            assert stats.count[g] == 0 and np.isnan(stats.mean[g]) and np.isnan(stats.max[g])
            continue
        assert stats.count[g] == len(mine)
        assert stats.mean[g] == pytest.approx(mine.mean())
        assert stats.max[g] == mine.max()
        for q in (50.0, 95.0, 99.0):
            assert stats.percentiles[q][g] == pytest.approx(np.percentile(mine, q))


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).lognormal(3, 1, 20_000),  # latencies in ms
        np.random.default_rng(2).uniform(0, 50, 20_000),
        np.round(np.random.default_rng(3).exponential(5, 20_000), 1),  # many ties, some zeros
        np.concatenate([np.full(5_000, 2.0), np.random.default_rng(4).normal(900, 50, 3_000)]),  # two modes
    ],
)
def test_histogram_percentiles_stay_within_the_stated_bound_of_numpy(
    values: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stats, "EXACT_MAX", 1_000)  # past it after the first batch
    groups = np.random.default_rng(5).integers(0, 4, len(values))
    distribution = stats.Distribution()
    for part in np.array_split(np.arange(len(values)), 7):
        distribution.add(groups[part], values[part])
    assert not distribution.exact
    got = distribution.stats(4)
    for g in range(4):
        mine = values[groups == g]
        assert got.count[g] == len(mine) and got.max[g] == mine.max()
        assert got.mean[g] == pytest.approx(mine.mean(), rel=1e-12)
        for q in stats.PERCENTILES:
            expected = np.percentile(mine, q)
            # relative error at most RELATIVE_ERROR, or SMALLEST (ms) for values below it
            bound = max(stats.RELATIVE_ERROR * abs(expected), stats.SMALLEST) + 1e-9
            assert abs(got.percentiles[q][g] - expected) <= bound, (g, q)


def test_a_distribution_of_few_values_is_exact() -> None:
    rng = np.random.default_rng(8)
    groups, values = rng.integers(-1, 5, 3_000), rng.lognormal(3, 1, 3_000)
    distribution = stats.Distribution()
    distribution.add(groups[:1_000], values[:1_000])
    distribution.add(groups[1_000:], values[1_000:])
    assert distribution.exact
    exact, ranked = distribution.stats(5), Ranked(values).stats(groups, 5)
    for q in stats.PERCENTILES:
        assert np.array_equal(exact.percentiles[q], ranked.percentiles[q], equal_nan=True)
    assert np.array_equal(exact.count, ranked.count)
