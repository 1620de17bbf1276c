"""Shared fixtures: real `mongoemu` processes on loopback ports picked by the kernel."""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from chaos.backends.processes import MemberProcess, free_port, initiate, wait_for_primary


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow tests first: `make test`'s two workers take whole files in this order, so
    the long drills start early instead of leaving one worker alone with them at the end."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


class ReplicaSet:
    """A replica set of emulator processes for one test; everything is killed at teardown."""

    def __init__(self, members: list[MemberProcess], config: dict[str, Any]) -> None:
        self.members = members
        self.config = config

    @property
    def uri(self) -> str:
        hosts = ",".join(m.address for m in self.members)
        return f"mongodb://{hosts}/?replicaSet={self.config['_id']}"

    def client(self, **kwargs: Any) -> MongoClient[dict[str, Any]]:
        kwargs.setdefault("serverSelectionTimeoutMS", 10_000)
        return MongoClient(self.uri, **kwargs)

    def primary(self, timeout: float = 30.0) -> MemberProcess:
        return wait_for_primary(self.members, timeout)

    def stop(self) -> None:
        for m in self.members:
            m.kill()


StartSet = Callable[..., ReplicaSet]


@pytest.fixture
def heals_alone() -> Iterator[None]:
    """`hubchaos heal` removes what any gone run left on the machine, whatever its state
    directory. A test that leaves a gone run's things for its own heal to find, or that runs a
    heal, holds this lock throughout, so the other pytest-xdist worker's heals do not remove
    them first."""
    with (Path(tempfile.gettempdir()) / "hubchaos-tests-heal.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def start_replica_set(tmp_path: Path) -> Iterator[StartSet]:
    """Start N members, initiate them and wait for a primary: `start_replica_set(3, settings={...})`."""
    started: list[ReplicaSet] = []

    def start(
        n: int = 1,
        settings: dict[str, Any] | None = None,
        member_options: dict[str, dict[str, Any]] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> ReplicaSet:
        base = tmp_path / f"rs{len(started)}"
        members = [
            MemberProcess(f"m{i}", "127.0.0.1", free_port(), base / f"m{i}", extra_args=extra_args)
            for i in range(n)
        ]
        rs = ReplicaSet(members, {})
        started.append(rs)
        for m in members:
            m.start()
        for m in members:
            m.wait_ready()
        rs.config = initiate(members, settings, member_options)
        wait_for_primary(members)
        return rs

    yield start
    for rs in started:
        rs.stop()


@pytest.fixture
def single_member(start_replica_set: StartSet) -> ReplicaSet:
    """A one-member replica set: the emulator's single-node half."""
    return start_replica_set(1)


def _shared_set(tmp_path_factory: pytest.TempPathFactory, size: int) -> Iterator[ReplicaSet]:
    base = tmp_path_factory.mktemp("shared")
    members = [MemberProcess(f"m{i}", "127.0.0.1", free_port(), base / f"m{i}") for i in range(size)]
    rs = ReplicaSet(members, {})
    try:
        for m in members:
            m.start()
        for m in members:
            m.wait_ready()
        rs.config = initiate(members)
        wait_for_primary(members)
        yield rs
    finally:
        rs.stop()


def _fresh_database(client: MongoClient[dict[str, Any]], request: pytest.FixtureRequest) -> Any:
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50]
    client.drop_database(name)
    return client[name]


@pytest.fixture(scope="module")
def shared_member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaSet]:
    """One initiated one-member set shared by a module's tests (each test uses its own database)."""
    yield from _shared_set(tmp_path_factory, 1)


@pytest.fixture(scope="module")
def shared_client(shared_member: ReplicaSet) -> Iterator[MongoClient[dict[str, Any]]]:
    with shared_member.client() as client:
        yield client


@pytest.fixture
def fresh_db(shared_client: MongoClient[dict[str, Any]], request: pytest.FixtureRequest) -> Any:
    """A database of the shared member that only this test uses."""
    return _fresh_database(shared_client, request)


@pytest.fixture(scope="module")
def shared_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaSet]:
    """A 3-member set shared by a module's tests (each test uses its own database)."""
    yield from _shared_set(tmp_path_factory, 3)


@pytest.fixture
def set_client(shared_set: ReplicaSet) -> Iterator[MongoClient[dict[str, Any]]]:
    """A client of the shared 3-member set that writes with w: majority."""
    with shared_set.client(w="majority") as client:
        yield client


@pytest.fixture
def set_db(set_client: MongoClient[dict[str, Any]], request: pytest.FixtureRequest) -> Any:
    """A database of the shared 3-member set that only this test uses."""
    return _fresh_database(set_client, request)
