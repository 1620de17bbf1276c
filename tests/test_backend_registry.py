"""Backends through their registry: a target model names its cluster class, found by name or
registration, imported only when a cluster is made; state records re-attach through it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from chaos.backends import create, parse_state
from chaos.backends.local import LocalCluster
from chaos.scenario.load import loads
from chaos.target import BACKENDS, LocalTarget, parse_target
from contract.errors import BackendError, ScenarioError


class LaptopTarget(LocalTarget):
    """A third party's backend: local processes under another name, with a field of its own."""

    backend: Literal["laptop"] = "laptop"  # type: ignore[assignment]
    cluster = "chaos.backends.local:LocalCluster"
    battery_saver: bool = False


@pytest.fixture
def laptop() -> object:
    BACKENDS.register("laptop", LaptopTarget)
    yield
    BACKENDS._registered.pop("laptop")


def test_a_registered_backend_validates_its_own_fields(laptop: object) -> None:
    target = parse_target({"backend": "laptop", "members": 2, "battery_saver": True})
    assert isinstance(target, LaptopTarget) and target.battery_saver
    scenario = loads("name: t\ntarget: {backend: laptop, members: 2}\n", "t.yaml")
    assert isinstance(scenario.target, LaptopTarget)


def test_a_misspelt_field_of_a_registered_backend_names_its_line(laptop: object) -> None:
    with pytest.raises(ScenarioError, match=r"t\.yaml:3: target\.batery_saver: unknown field"):
        loads("name: t\ntarget:\n  batery_saver: true\n  backend: laptop\n", "t.yaml")


def test_create_makes_the_cluster_class_the_target_names(laptop: object, tmp_path: Path) -> None:
    cluster = create(parse_target({"backend": "laptop", "members": 1}), tmp_path)
    assert type(cluster) is LocalCluster and cluster.kind == "laptop"


def test_unknown_backends_and_bad_state_files_are_one_line() -> None:
    with pytest.raises(
        ScenarioError, match=r"target\.backend: unknown backend 'kubernetes' \(known: compose"
    ):
        parse_target({"backend": "kubernetes"}, "s.yaml")
    with pytest.raises(BackendError, match=r"cluster\.json: unknown backend 'nomad'"):
        parse_state('{"backend": "nomad"}', "cluster.json")
    with pytest.raises(BackendError, match=r"cluster.json: not a cluster state file \(Field required\)"):
        parse_state('{"backend": "local"}', "cluster.json")
    with pytest.raises(BackendError, match="not a cluster state file"):
        parse_state("[1, 2", "cluster.json")
