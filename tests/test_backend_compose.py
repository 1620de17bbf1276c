"""docker-compose.chaos.yml: it validates with the compose tool, and its stack comes up with
the locally built images, elects a primary in the primary region, and takes a fault."""

from __future__ import annotations

import ipaddress
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from chaos_support import gone_owner, needs_root, wait_until

from chaos.backends import create, netns
from chaos.backends.compose import ComposeCluster, compose_command, read_topology
from chaos.backends.containers import docker_client, docker_subnets
from chaos.faults.injector import FaultInjector
from chaos.faults.journal import Journal
from chaos.faults.kinds.pause import Pause
from chaos.system import run
from chaos.target import EMULATOR_IMAGE, parse_target
from contract.errors import BackendError

ROOT = Path(__file__).resolve().parent.parent
FILE = ROOT / "docker-compose.chaos.yml"
SUITE_IMAGE = "hubchaos/hubchaos:latest"
REQUIRED = os.environ.get("HUBCHAOS_REQUIRE_DOCKER") == "1"
pytestmark = [pytest.mark.docker, needs_root]


def test_topology_from_the_file() -> None:
    topology = read_topology(FILE, env={})
    assert topology.set_name == "rs0"
    by_name = {m.name: m for m in topology.members}
    assert sorted(by_name) == ["analytics", "ap-1", "eu-1", "eu-2", "us-1"]
    assert {m.region for m in topology.members} == {"eu", "us", "ap"}
    assert by_name["eu-1"].priority > by_name["us-1"].priority > by_name["analytics"].priority == 0
    assert by_name["eu-1"].host == "10.215.0.11:27017"
    assert read_topology(FILE, env={"HUBCHAOS_NET": "10.215.9"}).members[0].host == "10.215.9.11:27017"


@pytest.fixture
def stack_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    try:
        client = docker_client()
        compose_command()
    except BackendError as exc:
        if REQUIRED:
            pytest.fail(f"HUBCHAOS_REQUIRE_DOCKER=1 but {exc}")
        pytest.skip(str(exc))
    for image in (EMULATOR_IMAGE, SUITE_IMAGE):
        if not client.images.list(name=image):
            if REQUIRED:
                pytest.fail(f"{image} is missing: build it with docker/build-images.sh")
            pytest.skip(f"image {image} is not present locally")
    # A free /24 for the interregion network, so the stack never collides with another.
    pool = ipaddress.IPv4Network("10.215.0.0/16")
    subnet = netns.pick_subnet(pool, netns.networks_in_use() + docker_subnets(client))
    monkeypatch.setenv("HUBCHAOS_NET", str(subnet.network_address).rsplit(".", 1)[0])
    yield f"hubchaos-test-{secrets.token_hex(3)}"


def test_the_file_validates_with_the_compose_tool(stack_env: str) -> None:
    for profile in ([], ["--profile", "load"]):
        done = run([*compose_command(), "-f", str(FILE), *profile, "config", "-q"], check=False)
        assert done.returncode == 0, done.stderr


def test_the_stack_comes_up_and_takes_a_fault(stack_env: str, tmp_path: Path) -> None:
    target = parse_target(
        {"backend": "compose", "file": str(FILE), "project": stack_env, "healthy_timeout_s": 120}
    )
    cluster = create(target, tmp_path / "stack")
    assert isinstance(cluster, ComposeCluster)
    with cluster:
        assert len(cluster.members) == 5
        # Priorities make the primary region (eu, priority 2) win, the analytics member never.
        wait_until(lambda: (p := cluster.primary()) is not None and p.region == "eu" and p.priority == 2, 120,
                   "a primary in the eu region")  # fmt: skip
        cluster.wait_healthy(timeout=120)
        inj = FaultInjector(cluster, Journal(tmp_path / "journal"))
        fault = inj.inject(Pause(target="us-1"))
        # `docker pause` can return a moment before the container's cgroup is frozen.
        wait_until(
            lambda: cluster.member_status("us-1").state == "(not reachable)", 30, "us-1 to stop answering"
        )
        inj.heal(fault)
        cluster.wait_healthy(timeout=60)
    client = docker_client()
    assert not client.containers.list(all=True, filters={"label": f"com.docker.compose.project={stack_env}"})
    assert (tmp_path / "stack" / "members" / "eu-1" / "container.log").exists()


# --- project names ------------------------------------------------------------------------------

HELPER_IMAGE = "hubchaos/debian-python:bookworm"


@contextmanager
def one_service_project(folder: Path, project: str, labels: str = "hubchaos.member: m0") -> Iterator[Path]:
    """A one-service compose stack running under `project` (a container that only sleeps: the
    project name and labels are what is looked for, not a replica set)."""
    net = os.environ["HUBCHAOS_NET"]
    file = folder / "docker-compose.yml"
    file.parent.mkdir()
    file.write_text(
        "x-hubchaos: {advertise_network: net}\n"
        f"networks:\n  net:\n    ipam: {{config: [{{subnet: {net}.0/24}}]}}\n"
        "services:\n  m0:\n"
        f"    image: {HELPER_IMAGE}\n    command: [sleep, '600']\n"
        f"    labels: {{{labels}}}\n"
        f"    networks: {{net: {{ipv4_address: {net}.11}}}}\n"
    )
    compose = [*compose_command(), "-f", str(file), "-p", project]
    run([*compose, "up", "-d"], timeout=120)
    try:
        yield file
    finally:
        run([*compose, "down", "-v", "--remove-orphans"], timeout=120, check=False)


@pytest.fixture
def running_project(stack_env: str, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with one_service_project(tmp_path / "stack", stack_env) as file:
        yield file, stack_env


def _hubchaos(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos", *args, "--state-dir", str(state)],
        capture_output=True, text=True, cwd=ROOT, timeout=180, check=False,
    )  # fmt: skip


@pytest.mark.usefixtures("heals_alone")
def test_heal_removes_a_killed_runs_project_that_no_state_directory_knows(
    stack_env: str, tmp_path: Path
) -> None:
    """A killed drill's compose stack, its state directory gone too: found by the members'
    owner label, removed whole (containers and networks), as `docker compose down` would."""
    owner = gone_owner("dead-compose-run")
    labels = f'hubchaos: "1", hubchaos.owner: "{owner.token()}", hubchaos.member: m0'
    project = {"label": f"com.docker.compose.project={stack_env}"}
    client = docker_client()
    with one_service_project(tmp_path / "stack", stack_env, labels):
        assert client.containers.list(filters=project)
        healed = _hubchaos(tmp_path / "state", "heal", "--no-wait")
        assert healed.returncode == 0, healed.stdout + healed.stderr
        assert f"compose project {stack_env} (1 container(s)) of run dead-compose-run" in healed.stdout
        assert not client.containers.list(all=True, filters=project)
        assert not client.networks.list(filters=project)


def test_a_project_with_no_containers_names_those_that_have_some(
    running_project: tuple[Path, str], tmp_path: Path
) -> None:
    file, project = running_project
    wrong = f"{project}-typo"
    target = tmp_path / "target.yaml"
    target.write_text(f"backend: compose\nfile: {file}\nproject: {wrong}\nmanage: false\n")
    up = _hubchaos(tmp_path / "state", "cluster", "up", str(target), "--name", "attach")
    assert up.returncode == 3, up.stderr
    said = up.stderr.strip()
    assert len(said.splitlines()) == 1 and "Traceback" not in said, said
    assert f"compose project {wrong!r} has no container for service m0" in said
    assert "compose projects with containers here: " in said and repr(project) in said
    assert "set target.project" in said

    # A registered cluster whose project has nothing left: `down` says so, naming the others.
    spec = {"backend": "compose", "file": str(file), "project": wrong}
    gone = create(parse_target(spec), tmp_path / "gone")
    gone.registration = tmp_path / "state" / "clusters" / "gone" / "cluster.json"
    gone.register()
    down = _hubchaos(tmp_path / "state", "cluster", "down", "--name", "gone")
    assert down.returncode == 0, down.stderr
    assert f"note: compose project {wrong!r} had no containers, so nothing was taken down (" in down.stdout
    assert repr(project) in down.stdout and "cluster 'gone' is down" in down.stdout
    assert not gone.registration.exists()
