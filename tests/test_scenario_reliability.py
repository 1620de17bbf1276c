"""The scenario-reliability benchmark (benchmarks/scenario_reliability.py): what it reads from a
run directory, on synthetic resources and summaries with known answers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.benchmark_support import load_benchmark

sr = load_benchmark("scenario_reliability")


def _sample(t: float, source: str, role: str, cpu: float, **host: int) -> dict:
    return {"t": t, "source": source, "role": role, "cpu": cpu, "cores": None, "runnable": None, **host}


def test_host_busy_share_drill_cores_and_run_queue() -> None:
    rows = []
    for second, (host_cpu, queue) in enumerate([(1.0, 2), (2.0, 6), (1.0, 4), (0.0, 1)]):
        t = 100.0 + second + 0.4
        rows.append(_sample(t, "host", "host", host_cpu, cores=2, runnable=queue))
        rows.append(_sample(t, "hubchaos", "drill", 0.25))
        rows.append(_sample(t + 0.1, "m0", "member", 0.5))
    busy, busy_p95, drill, queue = sr.host_use(pd.DataFrame(rows))
    assert busy == pytest.approx((0.5 + 1.0 + 0.5 + 0.0) / 4)
    assert busy_p95 == pytest.approx(pd.Series([0.5, 1.0, 0.5, 0.0]).quantile(0.95))
    assert drill == pytest.approx(0.75)  # the drill's processes summed per second
    assert queue == pytest.approx(3.0)
    empty = pd.DataFrame(columns=["t", "source", "role", "cpu", "cores", "runnable"])
    assert sr.host_use(empty) == (None,) * 4


def _result(slo: str, verdict: str, measured: float | None = 1.0, target: float | None = 2.0, **kw) -> dict:
    return {"slo": slo, "verdict": verdict, "measured": measured, "target": target, "unit": "s", **kw}


def test_judged_names_failed_slos_unknown_reasons_rto_and_saturated_windows() -> None:
    summary = {
        "verdict": "fail",
        "results": [
            _result("rto[f1]", "pass"),
            _result("replication_lag", "fail", measured=11.0, target=10.0),
            _result("latency[x].avg_ms", "unknown", error="measuring host saturated (40 % of its 20 s)"),
        ],
        "faults": [
            {"fault_id": "f1", "injected": True, "rto_s": 2.5},
            {"fault_id": "f2", "injected": True, "rto_s": None},
            {"fault_id": "f3", "injected": False, "rto_s": None},
        ],
        "host": {
            "windows": [
                {
                    "window": "steady state",
                    "saturated": True,
                    "share": 0.4,
                    "figure": "40 % of its 20 s saturated",
                },
                {"window": "f1", "saturated": False, "figure": "0 % of its 30 s saturated"},
            ]
        },
    }
    verdict, why, rto, saturated = sr.judged(summary)
    assert verdict == "fail"
    assert why == "replication_lag 11 s > 10 s"
    ratio = {"verdict": "fail", "results": [_result("error_rate", "fail", 0.004, 0.001, unit="ratio")]}
    assert sr.judged(ratio)[1] == "error_rate 0.4 % > 0.1 %"
    known = _result("failover_errors[f1]", "fail", measured=35.0, target=0.0, unit="errors")
    known["known_failure"] = "the guide's selection timeout"
    assert sr.judged({"verdict": "pass", "results": [known]})[:2] == (
        "pass",
        "known failure: failover_errors[f1] 35 errors > 0 errors",
    )
    both = {"verdict": "fail", "results": [known, *summary["results"]]}
    assert (
        sr.judged(both)[1]
        == "replication_lag 11 s > 10 s; known failure: failover_errors[f1] 35 errors > 0 errors"
    )
    assert rto == {"f1": 2.5, "f2": None}
    assert saturated == ["steady state: 40 % of its 20 s saturated"]

    summary["verdict"] = "unknown"
    for r in summary["results"][1:]:
        r.update(verdict="unknown", error="measuring host saturated (40 % of its 20 s saturated)")
    summary["results"][1]["margin"] = -1.0
    summary["results"].append(_result("throughput_recovery[f1]", "unknown", error="no baseline"))
    _, why, _, _ = sr.judged(summary)
    # The saturated windows once, other reasons, and a miss the saturation made unknown.
    saturated_in, baseline, beyond = why.split("; ")
    assert (saturated_in, baseline) == ("host saturated in steady state 40 %", "no baseline")
    assert beyond == "beyond target meanwhile: replication_lag 11 s > 10 s"


def test_scoped_overrides_reach_only_their_scenario() -> None:
    soak = sr.Scenario("soak", Path("scenarios/soak.yaml"))
    sets = ["soak:workload.duration=5m", "workload.seed=7", "quickstart:workload.users=5"]
    assert sr.overrides_for(soak, sets) == ["workload.duration=5m", "workload.seed=7"]
    # A value holding a colon is not a scope.
    assert sr.overrides_for(soak, ["target.uri=mongodb://h:1"]) == ["target.uri=mongodb://h:1"]


def test_table_counts_each_verdict_per_scenario() -> None:
    def row(run: int, verdict: str) -> object:
        return sr.RunRow("q", run, 0, verdict, "why | not", {"f1": 1.0}, 60.0, 0.5, 0.9, 1.2, 3.0)

    text = sr.table([row(1, "pass"), row(2, "unknown"), row(3, "pass")])
    assert "| q | 2 | unknown | f1 1.0 s | 60 s | 50 % / 90 % | 3 | 1.20 | why \\| not |" in text
    assert "| q | 3 | 2 | 1 | 0 | 0 |" in text


def test_a_run_without_a_summary_is_explained_by_its_error_line() -> None:
    output = "load\nerror: fault f1 (kill) not fully healed: start m2\nrun directory: /x\n"
    assert sr.error_line(output, 3) == "error: fault f1 (kill) not fully healed: start m2"
    assert sr.error_line("load\ntearing down\n", 3) == "tearing down"
    assert sr.error_line("", 3) == "exit 3"
