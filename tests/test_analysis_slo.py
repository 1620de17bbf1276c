"""The SLO profile from the production guide, overrides of single values, and their errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from contract.errors import AnalysisError, ScenarioError
from reports.load import load_slos
from reports.slo import ALL_OPERATIONS, DEFAULT_PROFILE, FaultClass, LatencyTarget, SLOSpec, profile_targets

AI_HUB_PRODUCTION = profile_targets(DEFAULT_PROFILE)


def test_the_profile_holds_the_production_guide_targets() -> None:
    p = AI_HUB_PRODUCTION
    assert p.rto_s == {
        FaultClass.SINGLE_NODE: 30.0,
        FaultClass.REGION: 120.0,
        FaultClass.CLOUD_PROVIDER: 300.0,
        FaultClass.DISASTER: 900.0,
    }
    assert (p.rpo_s, p.lost_acked_writes, p.error_rate) == (60.0, 0, 0.001)
    assert p.latency_ms[ALL_OPERATIONS] == LatencyTarget(avg_ms=100.0)
    assert (p.max_replication_lag_s, p.slow_op_ms) == (10.0, 1000.0)
    assert p.throughput_recovery is not None and p.throughput_recovery.fraction == 0.9


def test_an_empty_spec_is_the_profile() -> None:
    assert SLOSpec().resolve() == AI_HUB_PRODUCTION


def test_overrides_change_single_values_and_merge_nested_sections() -> None:
    spec = SLOSpec.model_validate(
        {
            "profile": "ai-hub-production",
            "rto_s": {"single_node": "10s", "region": "3m"},
            "rpo_s": "500ms",
            "latency_ms": {"*": {"p99_ms": "0.25s"}, "vectors.query.knn": {"avg_ms": 300}},
            "error_rate": "0.5%",
            "throughput_recovery": {"within_s": 45},
            "windows": {"stable_s": 5},
            "on_unknown": "pass",
        }
    )
    t = spec.resolve()
    assert t.rto_s[FaultClass.SINGLE_NODE] == 10.0
    assert t.rto_s[FaultClass.REGION] == 180.0
    assert t.rto_s[FaultClass.DISASTER] == 900.0  # untouched
    assert t.rpo_s == 0.5 and t.error_rate == pytest.approx(0.005)
    assert t.throughput_recovery is not None
    assert (t.throughput_recovery.fraction, t.throughput_recovery.within_s) == (0.9, 45.0)
    assert (t.windows.stable_s, t.windows.recovery_s) == (5.0, 30.0)
    assert t.latency_for("prompts.get") == LatencyTarget(avg_ms=100.0, p99_ms=250.0)
    assert t.latency_for("vectors.query.knn") == LatencyTarget(avg_ms=300.0, p99_ms=250.0)
    assert t.on_unknown == "pass"


def test_null_switches_a_check_off() -> None:
    t = SLOSpec.model_validate(
        {"lost_acked_writes": None, "rto_s": {"disaster": None}, "latency_ms": {"*": {"avg_ms": None}}}
    ).resolve()
    assert t.lost_acked_writes is None
    assert t.rto_for(FaultClass.DISASTER) is None and t.rto_for(FaultClass.SINGLE_NODE) == 30.0
    assert t.latency_for("anything") == LatencyTarget()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"profile": "ai-hub"}, "unknown SLO profile 'ai-hub' (known: ai-hub-production)"),
        ({"rto_s": {"zone": 10}}, "rto_s.zone.[key]"),
        ({"rpo_s": "a minute"}, "expected a number or a duration such as '30s'"),
        ({"rpo_s": -1}, "greater than or equal to 0"),
        ({"error_rate": "5"}, "less than or equal to 1"),
        ({"error_rate": "x%"}, "expected a fraction or a percentage"),
        ({"latency_ms": {"*": {"p90_ms": 5}}}, "Extra inputs are not permitted"),
        ({"windows": None}, "cannot be switched off"),
        ({"throughput_recovery": {"fraction": 0}}, "greater than 0"),
        ({"slo": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_sections_are_refused_naming_the_field(section: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        SLOSpec.model_validate(section)


def test_targets_come_from_the_run_scenario(tmp_path: Path) -> None:
    (tmp_path / "scenario.yaml").write_text("name: x\nslos:\n  profile: ai-hub-production\n  rpo_s: 5s\n")
    assert load_slos(tmp_path).rpo_s == 5.0


def test_without_a_scenario_the_profile_applies(tmp_path: Path) -> None:
    assert load_slos(tmp_path) == AI_HUB_PRODUCTION


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        (
            "slos:\n  rto_s: {zone: 3}\n",
            AnalysisError,
            r"scenario.yaml: slos.rto_s.zone.\[key\]: Input should be",
        ),
        # Not YAML at all: refused as the bounded reader refuses any hostile file (exit 2).
        ("slos: [1, 2\n", ScenarioError, "scenario.yaml:2: invalid YAML: expected"),
    ],
)
def test_a_bad_scenario_is_refused_naming_it(
    tmp_path: Path, text: str, error: type[Exception], message: str
) -> None:
    (tmp_path / "scenario.yaml").write_text(text)
    with pytest.raises(error, match=message):
        load_slos(tmp_path)
