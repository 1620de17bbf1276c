"""One replica-set member process: storage, oplog, replication, fail points and the server."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import socket
import time
from collections import Counter
from typing import TYPE_CHECKING

from mongoemu.failpoints import FailPoints
from mongoemu.groundtruth import FILE_NAME, GroundTruthLog
from mongoemu.options import MemberOptions
from mongoemu.repl.coordinator import ReplicationCoordinator
from mongoemu.server import WireServer
from mongoemu.version import VERSION

if TYPE_CHECKING:
    from mongoemu.repl.config import MemberConfig, ReplSetConfig

log = logging.getLogger("mongoemu.control")


class DbPathLocked(RuntimeError):
    """Another process holds this dbpath, as mongod refuses with "Unable to lock the lock file"."""


class Member:
    def __init__(self, options: MemberOptions) -> None:
        self.options = options
        self.started_monotonic = time.monotonic()
        self.started_at = time.time()
        self.advertised_host = _advertised_host(options.bind_ip)
        self.name = f"{self.advertised_host}:{options.port}"
        options.dbpath.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock_dbpath(options)
        self.groundtruth = GroundTruthLog(options.dbpath / FILE_NAME, self.name)
        self.failpoints = FailPoints()
        self.opcounters: Counter[str] = Counter()
        self.coordinator = ReplicationCoordinator(self)
        self.server = WireServer(self)
        self._stop = asyncio.Event()

    @property
    def test_commands_enabled(self) -> bool:
        return self.options.set_parameters.get("enableTestCommands", "1") not in ("0", "false")

    def uptime(self) -> float:
        return time.monotonic() - self.started_monotonic

    def find_self(self, config: ReplSetConfig) -> MemberConfig | None:
        """The config entry that names this process: same port and a host that resolves here."""
        names = _local_names(self.options.bind_ip, self.advertised_host)
        for m in config.members:
            host, _, port = m.host.rpartition(":")
            if int(port) == self.options.port and (host in names or _resolves_locally(host, names)):
                return m
        return None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_shutdown)
        self.groundtruth.record("startup", pid=os.getpid(), port=self.options.port, version=VERSION)
        await self.server.start(self.options.bind_ip, self.options.port)
        await self.coordinator.start()
        await self._stop.wait()
        await self.shutdown()

    def request_shutdown(self) -> None:
        self._stop.set()

    async def shutdown(self) -> None:
        log.info("shutting down")
        await self.coordinator.stop()
        await self.server.close()
        self.groundtruth.record("shutdown", clean=True)
        self.groundtruth.close()
        os.close(self._lock_fd)


def _advertised_host(bind_ip: tuple[str, ...]) -> str:
    for ip in bind_ip:
        if ip not in ("0.0.0.0", "::"):
            return ip
    return socket.gethostname()


def _local_names(bind_ip: tuple[str, ...], advertised: str) -> set[str]:
    names = {advertised, "localhost", "127.0.0.1", socket.gethostname(), socket.getfqdn(), *bind_ip}
    try:
        names.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None))
    except OSError:
        pass
    return names


def _resolves_locally(host: str, names: set[str]) -> bool:
    try:
        return any(info[4][0] in names for info in socket.getaddrinfo(host, None))
    except OSError:
        return False


def _lock_dbpath(options: MemberOptions) -> int:
    fd = os.open(options.dbpath / "mongod.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DbPathLocked(
            f"Unable to lock the lock file: {options.dbpath / 'mongod.lock'} "
            "(another mongod or mongoemu is using this dbpath)"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
