"""Fault specs: validation, parameters and the failCommand documents the presets send."""

from __future__ import annotations

import pytest

from chaos.faults.kinds import parse_fault
from chaos.faults.kinds.degrade import Degrade
from chaos.faults.kinds.failpoint import Failpoint
from chaos.faults.kinds.partition import Partition
from contract.errors import UsageError


def test_parse_picks_the_kind() -> None:
    spec = parse_fault({"kind": "kill", "target": "secondary", "restart_after_s": 5})
    assert spec.kind == "kill"
    assert spec.params() == {"restart_after_s": 5.0}


def test_unknown_parameter_is_one_line_naming_it() -> None:
    with pytest.raises(UsageError) as err:
        parse_fault({"kind": "pause", "seconds": 3})
    assert "fault pause: seconds" in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(UsageError, match="unknown fault kind 'explode'"):
        parse_fault({"kind": "explode"})


def test_degrade_needs_an_effect_and_sane_jitter() -> None:
    with pytest.raises(ValueError, match="needs latency_ms"):
        Degrade()
    with pytest.raises(ValueError, match="jitter_ms may not exceed"):
        Degrade(latency_ms=10, jitter_ms=20)


def test_partition_cuts_clients_only_when_isolating_by_default() -> None:
    assert Partition(mode="isolate").clients_cut
    assert not Partition(mode="isolate", cut_clients=False).clients_cut
    assert not Partition(mode="split").clients_cut
    assert Partition(mode="split", cut_clients=True).clients_cut


def test_failpoint_presets() -> None:
    slow = Failpoint(preset="slow", block_ms=250, commands=["find"]).command_document()
    assert slow == {
        "configureFailPoint": "failCommand",
        "mode": "alwaysOn",
        "data": {"failCommands": ["find"], "blockConnection": True, "blockTimeMS": 250},
    }
    drop = Failpoint(preset="drop", times=3).command_document()
    assert drop["mode"] == {"times": 3}
    assert drop["data"]["closeConnection"] is True
    error = Failpoint(preset="error", error_code=10107, probability=0.5, error_labels=[]).command_document()
    assert error["mode"] == {"activationProbability": 0.5}
    assert error["data"]["errorCode"] == 10107
    assert error["data"]["errorLabels"] == []
