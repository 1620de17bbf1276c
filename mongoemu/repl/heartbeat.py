"""Heartbeats: every member asks every other member for its state every heartbeatIntervalMillis.

As mongod: a heartbeat that fails is retried at once up to twice while the 10 s heartbeat
timeout (`heartbeatTimeoutSecs`) lasts, then the member is marked down; a good reply from the
primary in our term postpones our election timeout; a newer config in a reply is installed; a
node without a config answers with configVersion -2 and fetches the config from whoever sent
it a heartbeat. A member that is not primary and has no sync source heartbeats four times as
often (at most every electionTimeout / 2) to find one sooner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from mongoemu.errors import CommandError
from mongoemu.oplog import NULL_OPTIME
from mongoemu.repl import reconfig
from mongoemu.repl.config import ReplSetConfig, version_and_term_newer
from mongoemu.repl.member_data import MemberData
from mongoemu.repl.messages import HeartbeatRequest, HeartbeatResponse, ReplData, now_wall
from mongoemu.repl.peer import PeerError, command_error
from mongoemu.repl.state import MemberState, Role

if TYPE_CHECKING:
    from mongoemu.repl.coordinator import ReplicationCoordinator

log = logging.getLogger("mongoemu.repl.heartbeats")

DEFAULT_TIMEOUT_SECS = 10.0
# The states in which a primary takes a newly added member as synced (mongod's heartbeat check).
SYNCED = frozenset({MemberState.SECONDARY, MemberState.RECOVERING, MemberState.ROLLBACK})


class Heartbeats:
    def __init__(self, coordinator: ReplicationCoordinator) -> None:
        self.coord = coordinator
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._in_flight: set[str] = set()
        self._fetching: set[str] = set()

    # --- sending --------------------------------------------------------------------------
    def restart(self) -> None:
        """(Re)start one heartbeat loop per other member of the current config."""
        self.stop()
        coord = self.coord
        if coord.config is None:
            return
        now = time.monotonic()
        for data in coord.members.values():
            if data.is_self:
                continue
            data.update_liveness(now)
            self._wake[data.host] = asyncio.Event()
            self._loops[data.host] = coord.spawn(self._loop(data.host))

    def stop(self) -> None:
        for task in self._loops.values():
            task.cancel()
        self._loops.clear()
        self._wake.clear()

    def wake_all(self) -> None:
        for event in self._wake.values():
            event.set()

    def restart_for_catch_up(self) -> None:
        """A new primary asks everyone again and waits for the answers (mongod restarts the
        heartbeats that are not in flight; those in flight keep their last answer)."""
        for data in self.coord.members.values():
            if not data.is_self and data.host in self._wake and data.host not in self._in_flight:
                data.updated_since_restart = False
                self._wake[data.host].set()

    def wake(self, host: str) -> None:
        """Heartbeat `host` now; when it is not a member we heartbeat, fetch its config once."""
        event = self._wake.get(host)
        if event is not None:
            event.set()
        elif host and host not in self._fetching:
            self._fetching.add(host)
            self.coord.spawn(self._fetch_config(host))

    def request(self) -> HeartbeatRequest:
        coord = self.coord
        config = coord.config
        if config is None:
            return HeartbeatRequest(coord.set_name or "", -2, -1, -1, coord.me, 0)
        primary = coord.primary_id()
        return HeartbeatRequest(
            config.name,
            config.version,
            config.term,
            coord.self_id if coord.self_id is not None else -1,
            coord.me,
            coord.term,
            primary if primary is not None else -1,
        )

    async def _loop(self, host: str) -> None:
        coord = self.coord
        wake = self._wake[host]
        while True:
            config = coord.config
            data = _by_host(coord.members, host)
            if config is None or data is None:
                return
            stats = data.ping
            timeout = float(config.settings.heartbeat_timeout_secs)
            now = time.monotonic()
            if not stats.trying or now - stats.started >= timeout:
                stats.start(now)
            remaining = max(0.001, timeout - (now - stats.started))
            response: HeartbeatResponse | None = None
            repl_data: ReplData | None = None
            error = ""
            self._in_flight.add(host)
            started = time.perf_counter()
            try:
                reply = await coord.peers.get(host).command("admin", self.request().to_command(), remaining)
                error = command_error(reply) or ""
                if not error:
                    response = HeartbeatResponse.from_reply(reply)
                    repl_data = ReplData.from_document(reply.get("$replData"))
            except PeerError as exc:
                error = str(exc)
            except CommandError as exc:
                error = f"bad heartbeat reply: {exc}"
            finally:
                self._in_flight.discard(host)
            rtt_ms = (time.perf_counter() - started) * 1000
            delay = self._process(host, response, repl_data, error, rtt_ms)
            wake.clear()
            if delay > 0:
                try:
                    async with asyncio.timeout(delay):
                        await wake.wait()
                except TimeoutError:
                    pass

    def _process(
        self,
        host: str,
        response: HeartbeatResponse | None,
        repl_data: ReplData | None,
        error: str,
        rtt_ms: float,
    ) -> float:
        """mongod's processHeartbeatResponse; returns the delay before the next heartbeat."""
        coord = self.coord
        config = coord.config
        data = _by_host(coord.members, host)
        if config is None or data is None:
            return 0.0
        now = time.monotonic()
        stats = data.ping
        if response is not None and response.set_name and response.set_name != config.name:
            error = (
                f"Our set name of {config.name} does not match name {response.set_name} "
                "reported by remote node"
            )
            response = None
        if response is not None:
            stats.hit(rtt_ms)
        else:
            stats.miss()
        election_ms, heartbeat_ms = coord.settings_ms
        interval = heartbeat_ms / 1000
        if not coord.sync_source and coord.role is not Role.LEADER:
            interval = min(election_ms / 2, heartbeat_ms / 4) / 1000
        elapsed = now - stats.started
        timeout = float(config.settings.heartbeat_timeout_secs)
        delay = 0.0 if stats.trying and elapsed < timeout else interval
        if response is None:
            if (stats.failed or elapsed >= timeout) and data.set_down(now, now_wall(), error):
                log.info("member is down", extra={"attr": {"member": host, "error": error}})
                coord.sync.on_topology_change()
                coord.refresh_topology(f"{host} is down")
            return delay
        coord.update_term(response.term, f"heartbeat response from {host}")
        if response.state is MemberState.PRIMARY and response.term == coord.term:
            coord.elections.reset_timer()
        if (
            response.config is not None
            and self.adopt_config(response.config, host)
            and coord.role is not Role.LEADER
        ):
            return delay
        if repl_data is not None:
            coord.learn_commit_point(repl_data.last_committed, repl_data.last_committed_wall, False)
        data = _by_host(coord.members, host)
        if data is None:
            return delay
        previous_primary = coord.primary_id()
        advanced, state_changed = data.set_up(now, now_wall(), response)
        if data.config.newly_added and coord.role is Role.LEADER and response.state in SYNCED:
            coord.spawn(reconfig.remove_newly_added(coord, data.config.id, config.version_and_term))
        coord.elections.consider_takeover(data)
        if advanced and response.state is not MemberState.PRIMARY:
            coord.on_progress()
        else:
            coord.progress.notify()
        if state_changed or coord.primary_id() != previous_primary:
            coord.sync.on_topology_change()
            coord.refresh_topology(f"heartbeat from {host}")
        return delay

    def adopt_config(self, doc: Any, host: str) -> bool:
        """Install a config a peer sent if it is newer than ours; True when installed."""
        coord = self.coord
        try:
            config = ReplSetConfig.from_document(doc)
        except CommandError as exc:
            log.warning(
                "ignoring an invalid config from a heartbeat",
                extra={"attr": {"from": host, "error": str(exc)}},
            )
            return False
        if config.name != coord.set_name or not config.newer_than(coord.config):
            return False
        if coord.config is None and coord.member.find_self(config) is None:
            return False
        coord.install_config(config, f"heartbeat from {host}")
        return True

    async def _fetch_config(self, host: str) -> None:
        try:
            reply = await self.coord.peers.get(host).command(
                "admin", self.request().to_command(), DEFAULT_TIMEOUT_SECS
            )
            if not command_error(reply) and isinstance(reply.get("config"), dict):
                self.adopt_config(reply["config"], host)
        except PeerError as exc:
            log.info("could not fetch the config", extra={"attr": {"from": host, "error": str(exc)}})
        finally:
            self._fetching.discard(host)

    async def check_initiate_quorum(self, config: ReplSetConfig, my_host: str) -> None:
        """replSetInitiate needs every proposed member up and without a config of its own."""
        request = HeartbeatRequest(config.name, config.version, config.term, -1, my_host, 0).to_command()
        others = [m.host for m in config.members if m.host != my_host]
        timeout = float(config.settings.heartbeat_timeout_secs)

        async def probe(host: str) -> str | None:
            try:
                reply = await self.coord.peers.get(host).command("admin", request, timeout)
            except PeerError as exc:
                return f"{host} failed with {exc}"
            error = command_error(reply)
            if error:
                return f"{host} failed with {error}"
            if int(reply.get("v", -2)) != -2:
                return f"{host} has data already, cannot initiate set"
            return None

        failures = [f for f in await asyncio.gather(*(probe(h) for h in others)) if f]
        if failures:
            raise CommandError(
                74,
                "replSetInitiate quorum check failed because not all proposed set members responded "
                "affirmatively: " + ", ".join(failures),
            )

    # --- answering ------------------------------------------------------------------------
    def handle(self, request: HeartbeatRequest) -> dict[str, Any]:
        coord = self.coord
        if request.set_name != coord.set_name:
            raise CommandError(
                185,
                f"Our set name of {coord.set_name} does not match name {request.set_name} "
                "reported by remote node",
                code_name="InconsistentReplicaSetNames",
            )
        config = coord.config
        if config is None:
            if request.config_version > -2:
                self.wake(request.sender_host)
            return HeartbeatResponse(coord.set_name or "", MemberState.STARTUP, -1, -2, -1).to_reply()
        if coord.self_id is None:
            raise CommandError(93, "Our replica set configuration is invalid or does not include us")
        if request.sender_id == coord.self_id:
            raise CommandError(
                2, f"Received heartbeat from member with the same member ID as ourself: {request.sender_id}"
            )
        coord.update_term(request.term, f"heartbeat from {request.sender_host}")
        sender = coord.members.get(request.sender_id)
        if sender is not None and sender.host == request.sender_host:
            sender.last_heartbeat_recv = now_wall()
            sender.update_liveness(time.monotonic())
        if version_and_term_newer((request.config_version, request.config_term), config.version_and_term):
            self.wake(request.sender_host)
        elif (
            request.primary_id >= 0
            and request.sender_id == request.primary_id
            and request.term >= coord.term
            and coord.primary_id() != request.primary_id
        ):
            # mongod restarts its heartbeats on learning of a new primary this way: their
            # answers tell it (and its hello) who the primary is, and postpone its election.
            log.info(
                "Restarting heartbeats after learning of a new primary",
                extra={"attr": {"primary": request.sender_host}},
            )
            self.wake_all()
        initial_syncing = coord.state is MemberState.STARTUP2
        applied = NULL_OPTIME if initial_syncing else coord.last_applied
        wall = coord.last_applied_wall
        primary = coord.primary_id()
        newer = version_and_term_newer(config.version_and_term, (request.config_version, request.config_term))
        return HeartbeatResponse(
            set_name=config.name,
            state=coord.state,
            term=coord.term,
            config_version=config.version,
            config_term=config.term,
            applied=applied,
            applied_wall=wall,
            durable=applied,
            durable_wall=wall,
            election_time=coord.election_time if coord.role is Role.LEADER else None,
            sync_source=coord.sync_source,
            primary_id=primary if primary is not None else -1,
            electable=not coord.unelectable_reasons(),
            config=config.to_document() if newer else None,
        ).to_reply()


def _by_host(members: dict[int, MemberData], host: str) -> MemberData | None:
    return next((d for d in members.values() if d.host == host), None)
