"""The measuring host's saturation and the verdicts it makes unknown (reports/host.py), on
synthetic runs with known answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_helpers import healthy, kill_primary_run, load, probe_rounds

from reports.analyse import analyse
from reports.host import STEADY, host_load, judged_windows
from reports.phases import phase_windows
from reports.slo import Saturation
from reports.summary import Summary
from reports.synthetic.builder import RunBuilder
from reports.verdicts import Verdict


def steady_run() -> RunBuilder:
    b = RunBuilder()
    healthy(b, 0, 60)
    probe_rounds(b, 0, 60, every=1.0, primary="m0", term=1)
    b.verify()
    return b


def busy_host(b: RunBuilder, start: int, end: int, runnable: int = 5, every: int = 1) -> None:
    """Host samples each second from start to end; every `every`-th one with both cores busy
    and `runnable` threads in the run queue."""
    for t in range(start, end):
        busy = (t - start) % every == 0
        b.machine(t + 0.5, runnable=runnable if busy else 1, cpu=1.9 if busy else 0.5)


def verdicts(summary: Summary) -> dict[str, Verdict]:
    return {r.slo: r.verdict for r in summary.results}


def test_a_saturated_steady_state_makes_its_timed_verdicts_unknown_with_the_figure(tmp_path: Path) -> None:
    b = steady_run()
    busy_host(b, 0, 60, every=2)  # the run queue above 2 cores in every other second
    summary = analyse(b.write_to(tmp_path))
    assert summary.verdict is Verdict.UNKNOWN
    got = verdicts(summary)
    assert got["lost_acked_writes"] is Verdict.PASS and got["rpo"] is Verdict.PASS  # not timed
    timed = [r for r in summary.results if r.timed]
    assert timed and all(r.verdict is Verdict.UNKNOWN for r in timed)
    lag = next(r for r in summary.results if r.slo == "replication_lag")
    figure = "50 % of its 60 s saturated: run queue above 2 threads (2 cores busy) in 50 %"
    assert lag.error == f"measuring host saturated ({figure})"
    assert lag.measured == 0.0  # what was measured is still shown
    assert summary.host is not None
    (steady,) = summary.host.windows
    assert (steady.window, steady.seconds, steady.saturated_seconds) == (STEADY, 60, 30)
    assert steady.saturated


def test_a_run_queue_spike_on_idle_cores_is_not_saturation(tmp_path: Path) -> None:
    # Members, probes and Locust wake together: the one-instant run queue overflows in every
    # other second on a host whose cores are busy a quarter of the time.
    b = steady_run()
    for t in range(60):
        b.machine(t + 0.5, runnable=4 if t % 2 else 1, cpu=0.5)
    summary = analyse(b.write_to(tmp_path))
    assert summary.verdict is Verdict.PASS
    assert summary.host is not None and summary.host.windows[0].saturated_seconds == 0


def test_a_little_saturation_leaves_the_verdicts_judged(tmp_path: Path) -> None:
    b = steady_run()
    busy_host(b, 0, 60, every=10)  # 10 % of the seconds, under the 20 % share
    summary = analyse(b.write_to(tmp_path))
    assert summary.verdict is Verdict.PASS
    assert summary.host is not None and summary.host.windows[0].share == pytest.approx(0.1)


def test_a_fail_in_a_saturated_window_is_unknown_too(tmp_path: Path) -> None:
    b = RunBuilder(slos={"latency_ms": {"*": {"avg_ms": 5}}})
    healthy(b, 0, 60)  # 20 ms reads: over the 5 ms target
    b.verify()
    for t in range(60):
        b.process(t + 0.5, "worker-0", cpu=0.97)
    summary = analyse(b.write_to(tmp_path))
    result = next(r for r in summary.results if r.slo == "latency[prompts.get].avg_ms")
    assert result.verdict is Verdict.UNKNOWN and result.measured == pytest.approx(20.0)
    assert "worker-0 at ≥ 90 % of a core in 100 %" in (result.error or "")


def test_a_saturated_fault_window_makes_only_that_faults_verdicts_unknown(tmp_path: Path) -> None:
    b = kill_primary_run()  # m0 killed at 30, healed at 45, horizon to the end (60)
    busy_host(b, 0, 30, runnable=1)
    for t in range(30, 60):
        b.process(t + 0.5, "m1", cpu=0.95, role="member")
    summary = analyse(b.write_to(tmp_path))
    got = verdicts(summary)
    assert got["rto[f1]"] is Verdict.UNKNOWN and got["throughput_recovery[f1]"] is Verdict.UNKNOWN
    assert got["error_rate[steady]"] is Verdict.PASS
    assert summary.host is not None
    windows = {w.window: w for w in summary.host.windows}
    assert windows["f1"].saturated and not windows[STEADY].saturated


def test_saturation_null_judges_whatever_the_host_did(tmp_path: Path) -> None:
    b = steady_run()
    b.slos = {"saturation": None}
    busy_host(b, 0, 60)
    summary = analyse(b.write_to(tmp_path))
    assert summary.verdict is Verdict.PASS
    assert summary.host is not None and summary.host.windows[0].figure == "not judged"


def test_per_source_use(tmp_path: Path) -> None:
    b = steady_run()
    for t in range(10):
        b.machine(t + 0.5, runnable=1, cpu=1.5)
        b.process(t + 0.5, "hubchaos", cpu=0.1 * t)
    data = load(b, tmp_path)
    assert data.resources is not None
    windows = judged_windows(phase_windows(data.faults, data.run_start, data.run_end, 30.0), data.faults)
    host = host_load(data.resources, windows, Saturation())
    assert (host.cores, host.samples) == (2, 20)
    use = {s.source: s for s in host.sources}
    assert use["hubchaos"].cpu_max == pytest.approx(0.9) and use["hubchaos"].cpu_mean == pytest.approx(0.45)
    assert use["host"].role == "host" and use["host"].cpu_mean == 1.5
    assert not host.windows[0].saturated  # hubchaos reached 0.9 in one second of ten
