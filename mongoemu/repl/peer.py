"""The member-to-member wire client: heartbeats, votes, oplog fetching and progress reports.

Written on asyncio streams around `wire.py` because PyMongo is synchronous and would block the
member's event loop. Every connection introduces itself with `hello.internalClient`, so the
receiving member treats it as intra-cluster traffic (`failCommand` skips it, as in mongod).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

from mongoemu import wire
from mongoemu.version import MAX_WIRE_VERSION, MIN_WIRE_VERSION

log = logging.getLogger("mongoemu.network")

_REQUEST_IDS = itertools.count(1)
_MAX_IDLE = 4
_ANY_MEMBER = {"mode": "secondaryPreferred"}


class PeerError(Exception):
    """The peer could not be reached, closed the connection or did not answer in time."""


class CommandFailed(Exception):
    """The peer answered a command with ok: 0."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def roundtrip(self, doc: dict[str, Any], raw_batches: bool = False) -> dict[str, Any]:
        request_id = next(_REQUEST_IDS) & 0x7FFFFFFF
        self.writer.write(wire.encode_op_msg(request_id, 0, doc))
        await self.writer.drain()
        head = await self.reader.readexactly(wire.HEADER_SIZE)
        header = wire.parse_header(head)
        body = await self.reader.readexactly(header.length - wire.HEADER_SIZE)
        if header.response_to != request_id:
            raise wire.WireError(f"unexpected reply (to {header.response_to}, not {request_id})")
        return wire.decode_reply(header, body, raw_batches)

    def close(self) -> None:
        transport = self.writer.transport
        if transport is not None and not transport.is_closing():
            transport.abort()


class Peer:
    """A small pool of connections to one member; each command takes one idle connection."""

    def __init__(self, host: str) -> None:
        self.host = host
        name, _, port = host.rpartition(":")
        self._address = (name, int(port))
        self._idle: list[_Connection] = []
        self._closed = False

    async def command(
        self, db: str, doc: dict[str, Any], timeout: float, raw_batches: bool = False
    ) -> dict[str, Any]:
        """Run one command and return its reply document (which may say ok: 0); with
        `raw_batches` a cursor reply's documents stay raw BSON.

        Raises PeerError on any network failure or when no answer arrives within `timeout`
        seconds; the connection concerned is then discarded, as its reply may still come."""
        if self._closed:
            raise PeerError(f"connection pool to {self.host} is closed")
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(timeout):
                conn = self._idle.pop() if self._idle else await self._connect()
                # Members read from each other in any state, as mongod's internal clients do.
                reply = await conn.roundtrip({**doc, "$db": db, "$readPreference": _ANY_MEMBER}, raw_batches)
        except (OSError, EOFError, asyncio.IncompleteReadError, wire.WireError) as exc:
            if conn is not None:
                conn.close()
            raise PeerError(f"{self.host}: {type(exc).__name__}: {exc}") from None
        except TimeoutError:
            if conn is not None:
                conn.close()
            raise PeerError(f"{self.host}: no answer within {timeout:.1f} s") from None
        except asyncio.CancelledError:
            if conn is not None:
                conn.close()
            raise
        if self._closed or len(self._idle) >= _MAX_IDLE:
            conn.close()
        else:
            self._idle.append(conn)
        return reply

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(*self._address)
        conn = _Connection(reader, writer)
        hello = {
            "hello": 1,
            "internalClient": {"minWireVersion": MIN_WIRE_VERSION, "maxWireVersion": MAX_WIRE_VERSION},
            "$db": "admin",
        }
        try:
            await conn.roundtrip(hello)
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        self._closed = True
        for conn in self._idle:
            conn.close()
        self._idle.clear()


class Peers:
    """One pool per member host, shared by every replication component."""

    def __init__(self) -> None:
        self._pools: dict[str, Peer] = {}

    def get(self, host: str) -> Peer:
        peer = self._pools.get(host)
        if peer is None:
            peer = self._pools[host] = Peer(host)
        return peer

    def close(self) -> None:
        for peer in self._pools.values():
            peer.close()
        self._pools.clear()


def command_error(reply: dict[str, Any]) -> str | None:
    """The error a reply reports, or None when it says ok: 1."""
    if reply.get("ok") in (1, 1.0, True):
        return None
    return f"{reply.get('codeName', 'error')} ({reply.get('code')}): {reply.get('errmsg', '')}"


async def call(peer: Peer, db: str, doc: dict[str, Any], timeout: float) -> dict[str, Any]:
    """A command whose failure is an exception (CommandFailed) rather than an ok: 0 reply."""
    reply = await peer.command(db, doc, timeout)
    error = command_error(reply)
    if error:
        raise CommandFailed(f"{peer.host}: {next(iter(doc))} failed: {error}")
    return reply


async def documents(
    peer: Peer, db: str, find: dict[str, Any], timeout: float, batch_size: int = 1000
) -> AsyncIterator[dict[str, Any]]:
    """Every document a `find` (or any cursor command) returns, following getMore batches; the
    cursor is killed if the caller stops early."""
    reply = await call(peer, db, {**find, "batchSize": batch_size}, timeout)
    cursor = reply["cursor"]
    cursor_id = cursor["id"]
    collection = str(cursor.get("ns", "")).partition(".")[2]
    try:
        for doc in cursor["firstBatch"]:
            yield doc
        while cursor_id:
            more = {"getMore": cursor_id, "collection": collection, "batchSize": batch_size}
            cursor = (await call(peer, db, more, timeout))["cursor"]
            cursor_id = cursor["id"]
            for doc in cursor["nextBatch"]:
                yield doc
    finally:
        if cursor_id:
            try:
                await peer.command(db, {"killCursors": collection, "cursors": [cursor_id]}, timeout)
            except PeerError:
                pass
