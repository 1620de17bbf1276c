"""The docker backend: a 3-member set of containers, every fault kind, then teardown.

Runs against the locally built emulator image (docker/build-images.sh) and, when present,
against `mongo:7.0` (`docker pull mongo:7.0` where a registry is reachable, or
`docker load` it). A missing daemon skips these tests unless HUBCHAOS_REQUIRE_DOCKER=1
(CI), where it fails them; a missing image skips only that image's run (the emulator image
is required under HUBCHAOS_REQUIRE_DOCKER=1 too, since CI builds it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from chaos_support import gone_owner, needs_root
from docker.errors import NotFound
from drill_support import hubchaos
from replset_faults import MEMBERS, SETTINGS, check_all_fault_kinds

from chaos.backends import create
from chaos.backends.containers import LABEL_CLUSTER, docker_client
from chaos.target import EMULATOR_IMAGE, MONGO_IMAGE, parse_target
from contract.errors import BackendError

REQUIRED = os.environ.get("HUBCHAOS_REQUIRE_DOCKER") == "1"
pytestmark = [pytest.mark.docker, needs_root]


@pytest.fixture(scope="module")
def docker():  # type: ignore[no-untyped-def]
    try:
        return docker_client()
    except BackendError as exc:
        if REQUIRED:
            pytest.fail(f"HUBCHAOS_REQUIRE_DOCKER=1 but {exc}")
        pytest.skip(str(exc))


def require_image(docker, image: str) -> None:  # type: ignore[no-untyped-def]
    try:
        docker.images.get(image)
    except NotFound:
        if REQUIRED and image == EMULATOR_IMAGE:
            pytest.fail(f"{image} is missing: build it with docker/build-images.sh")
        pytest.skip(f"image {image} is not present locally")


@pytest.mark.parametrize("image", [EMULATOR_IMAGE, MONGO_IMAGE])
def test_every_fault_kind_on_a_container_set(docker, image: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require_image(docker, image)
    target = parse_target(
        {
            "backend": "docker",
            "image": image,
            "members": MEMBERS,
            "settings": SETTINGS,
            "healthy_timeout_s": 90,
        }
    )
    cluster = create(target, tmp_path / "c")
    with cluster:
        labelled = docker.containers.list(filters={"label": f"{LABEL_CLUSTER}={cluster.cluster_id}"})
        assert len(labelled) == 3
        check_all_fault_kinds(cluster, tmp_path / "journal")
    assert not docker.containers.list(all=True, filters={"label": f"{LABEL_CLUSTER}={cluster.cluster_id}"})
    assert not docker.networks.list(filters={"label": f"{LABEL_CLUSTER}={cluster.cluster_id}"})
    assert (tmp_path / "c" / "members" / "m0" / "container.log").exists()


@pytest.mark.usefixtures("heals_alone")
def test_heal_removes_a_killed_runs_containers_that_no_state_directory_knows(docker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A killed drill whose state directory went too: its containers and network are found by
    their owner label alone."""
    require_image(docker, EMULATOR_IMAGE)
    target = parse_target(
        {"backend": "docker", "image": EMULATOR_IMAGE, "members": 1, "healthy_timeout_s": 90}
    )
    cluster = create(target, tmp_path / "c")
    cluster.owner = gone_owner("dead-docker-run")
    mine = {"label": f"{LABEL_CLUSTER}={cluster.cluster_id}"}
    try:
        cluster.up()
        assert docker.containers.list(filters=mine)
        healed = hubchaos(
            "heal",
            "--no-wait",
            env={**os.environ, "HUBCHAOS_STATE_DIR": str(tmp_path / "state")},
            timeout=120,
        )
        assert healed.returncode == 0, healed.stdout + healed.stderr
        assert f"container hubchaos-{cluster.cluster_id}-m0 of run dead-docker-run" in healed.stdout
        assert f"docker network hubchaos-{cluster.cluster_id} of run dead-docker-run" in healed.stdout
        assert not docker.containers.list(all=True, filters=mine)
        assert not docker.networks.list(filters=mine)
    finally:
        cluster.down()
