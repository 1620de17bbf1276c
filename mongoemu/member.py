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

from mongoemu.cursors import CursorManager
from mongoemu.failpoints import FailPoints
from mongoemu.groundtruth import FILE_NAME, GroundTruthLog
from mongoemu.options import MemberOptions
from mongoemu.repl.coordinator import ReplicationCoordinator
from mongoemu.server import WireServer
from mongoemu.storage.durable import DurableStore
from mongoemu.version import VERSION

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from mongoemu.oplog import OplogEntry, OpTime
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
        self.storage = DurableStore(options.dbpath, options.oplog_size_mb * 1024 * 1024)
        self.storage.recover()
        self.engine = self.storage.engine
        self.oplog = self.storage.window
        self.sessions = self.storage.sessions
        self.cursors = CursorManager()
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

    # --- the oplog contract with replication -----------------------------------------------
    def log_applied(self, entries: list[OplogEntry]) -> None:
        """Journal entries that storage applied on this primary, add them to the oplog window
        and tell the coordinator (the journal bytes are written before this returns)."""
        if not entries:
            return
        self.storage.append([e.to_document() for e in entries])
        self.coordinator.on_local_write(entries[-1].optime)

    def apply_replicated(self, docs: Iterable[Mapping[str, Any]]) -> None:
        """Apply oplog entry documents from a sync source, in order: storage, journal, window,
        session table and the majority view's pre-images (the applier advances the coordinator)."""
        for entry, before in self.storage.apply_replicated(docs):
            self.record_pre_image(entry, before)

    def record_pre_image(self, entry: OplogEntry, before: dict[str, Any] | None) -> None:
        """Give the majority view the version a document change replaced (None: an insert)."""
        if entry.op in ("i", "u", "d"):
            _id = (entry.o2 or entry.o)["_id"]
            self.coordinator.majority.record(entry.ns, _id, before, entry.optime)

    def truncate_oplog_after(self, optime: OpTime) -> list[Mapping[str, Any]]:
        """Rollback: drop oplog entries newer than `optime` from the window and the journal."""
        return self.storage.truncate_after(optime)

    async def checkpoint(self) -> None:
        """Make the in-memory state durable, so that a restart recovers exactly it."""
        await self.storage.checkpoint()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.cursors.reap()
            if self.storage.checkpoint_due():
                try:
                    await self.storage.checkpoint()
                except OSError:
                    log.exception("checkpoint failed; the journal still holds every write")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_shutdown)
        self.groundtruth.record("startup", pid=os.getpid(), port=self.options.port, version=VERSION)
        await self.server.start(self.options.bind_ip, self.options.port)
        await self.coordinator.start()
        housekeeping = asyncio.get_running_loop().create_task(self._housekeeping())
        await self._stop.wait()
        housekeeping.cancel()
        await self.shutdown()

    def request_shutdown(self) -> None:
        self._stop.set()

    async def shutdown(self) -> None:
        log.info("shutting down")
        await self.coordinator.stop()
        await self.server.close()
        self.storage.checkpoint_now()
        self.storage.close()
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
