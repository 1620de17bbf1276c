"""One replica-set member process: storage, oplog, replication, fail points and the server."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import logging
import os
import signal
import socket
import time
from collections import Counter
from typing import TYPE_CHECKING

from mongoemu import operation
from mongoemu.changestreams.preimages import PreImages
from mongoemu.changestreams.preimages import enabled as preimages_enabled
from mongoemu.cursors import CursorManager
from mongoemu.failpoints import FailPoints
from mongoemu.groundtruth import FILE_NAME, GroundTruthLog
from mongoemu.operation import Operation, Operations
from mongoemu.options import MemberOptions
from mongoemu.parameters import ServerParameters
from mongoemu.repl.coordinator import ReplicationCoordinator
from mongoemu.server import WireServer
from mongoemu.session_cache import SessionCache
from mongoemu.storage.durable import DurableStore
from mongoemu.transactions import TransactionTable
from mongoemu.ttl import TTLMonitor
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
        self.parameters = ServerParameters(options.set_parameters)
        self.failpoints = FailPoints()
        self.opcounters: Counter[str] = Counter()
        self.user_asserts = 0  # commands answered with an error (serverStatus.asserts.user)
        self.storage = DurableStore(options.dbpath, options.oplog_size_mb * 1024 * 1024)
        self.storage.recover()
        self.engine = self.storage.engine
        self.oplog = self.storage.window
        self.sessions = self.storage.sessions
        self.cursors = CursorManager()
        self.transactions = TransactionTable(self)
        self.session_cache = SessionCache()
        self.preimages = PreImages()
        self.operations = Operations()
        self.coordinator = ReplicationCoordinator(self)
        self.ttl = TTLMonitor(self)
        self.server = WireServer(self)
        self._stop = asyncio.Event()
        self._shutdown_secs = 0.0

    @property
    def test_commands_enabled(self) -> bool:
        return bool(self.parameters["enableTestCommands"])

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

    async def apply_replicated(self, docs: Iterable[Mapping[str, Any]]) -> None:
        """Apply oplog entry documents from a sync source, in order: storage and the majority
        view's pre-images, then journal, window, session table and the coordinator's applied
        optime. The batch is an operation of replication's own that yields at every entry;
        before each turn it gives away, what it applied so far is journaled and reported, so
        the member always holds a whole prefix of the batch (also when the batch is cut
        short: a new primary stops fetching)."""
        await operation.run_sync(Operation("oplog application", user=False), self._apply_replicated, docs)

    def _apply_replicated(self, docs: Iterable[Mapping[str, Any]]) -> None:
        applied: list[dict[str, Any]] = []
        payloads: list[bytes] = []

        def publish() -> None:
            if applied:
                self.storage.append(applied, payloads)
                self.coordinator.on_replicated(applied[-1])
                applied.clear()
                payloads.clear()

        op = operation.current()
        if op is not None:
            op.on_yield(publish)
        try:
            for d in docs:
                operations, doc, payload = self.storage.apply_replicated(d)
                for entry, before in operations:
                    self.record_pre_image(entry, before)
                applied.append(doc)
                payloads.append(payload)
                operation.checkpoint()
        finally:
            publish()

    def record_pre_image(
        self, entry: OplogEntry, before: dict[str, Any] | None, doc: Mapping[str, Any] | None = None
    ) -> None:
        """Give the majority view the version a document change replaced (None: an insert), and
        change streams' pre-images the same when its collection keeps them; `doc` is the
        entry's document when the caller has it decoded."""
        if entry.op in ("i", "u", "d"):
            _id = doc["_id"] if doc is not None else (entry.o2 or entry.o)["_id"]
            self.coordinator.majority.record(entry.ns, _id, before, entry.optime)
            coll = self.engine.collection_ns(entry.ns)
            keep = coll is not None and entry.op != "i" and preimages_enabled(coll.options)
            self.preimages.record(entry, before, keep)

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
            self.transactions.reap()
            self.session_cache.expire()
            if self.oplog.first is not None:
                self.preimages.expire_before(self.oplog.first.ts)
            if self.storage.checkpoint_due():
                try:
                    await self.storage.checkpoint()
                except OSError:
                    log.exception("checkpoint failed; the journal still holds every write")

    async def run(self) -> None:
        # What exists now (modules, the recovered data) lives as long as the process: keep it out
        # of the cycle collector's full passes, which otherwise pause the event loop.
        gc.freeze()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_shutdown)
        self.groundtruth.record("startup", pid=os.getpid(), port=self.options.port, version=VERSION)
        await self.server.start(self.options.bind_ip, self.options.port)
        await self.coordinator.start()
        tasks = [loop.create_task(self._housekeeping()), loop.create_task(self.ttl.run())]
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await self.shutdown()

    def request_shutdown(self, timeout_secs: float | None = None) -> None:
        """Begin a clean shutdown, as mongod's shutdownTask: a primary steps down and a secondary
        then stays in quiesce mode for what is left of `timeout_secs` (a signal:
        shutdownTimeoutMillisForSignaledShutdown, 15 s by default)."""
        if self._stop.is_set():
            return
        if timeout_secs is None:
            timeout_secs = self.parameters["shutdownTimeoutMillisForSignaledShutdown"] / 1000
        self._shutdown_secs = timeout_secs
        self._stop.set()

    async def shutdown(self) -> None:
        log.info("shutting down")
        await self.coordinator.stop(self._shutdown_secs)
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
