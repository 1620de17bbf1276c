"""The TCP side of a member: accept connections, read frames, answer in order.

Each connection is one asyncio task and runs one command at a time, as mongod's
thread-per-connection model does. A frame that cannot be parsed closes only its own
connection, with the reason logged. A command that streams (the awaitable hello under
exhaustAllowed) keeps answering on its connection until it stops or the client goes away.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mongoemu import exhaust, operation, wire
from mongoemu.dispatch import dispatch
from mongoemu.errors import CloseConnection
from mongoemu.operation import Operation

if TYPE_CHECKING:
    from mongoemu.member import Member

log = logging.getLogger("mongoemu.network")

# Messages larger than this are decoded in turns with the member's other work.
_DECODE_INLINE = 1 << 20


@dataclass(slots=True)
class Connection:
    id: int
    peer: str
    # Set by the handshake: another member (hello.internalClient) and the driver's appName.
    internal: bool = False
    app_name: str | None = None
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    # The next frame's header, read ahead while a command waits (see peer_gone).
    read_ahead: asyncio.Future[bytes] | None = field(default=None, repr=False)
    _gone: asyncio.Future[None] | None = field(default=None, repr=False)

    def peer_gone(self) -> asyncio.Future[None]:
        """A future that completes if the client closes the connection while a command waits,
        as mongod's markKillOnClientDisconnect notices. It reads the next frame's header ahead;
        `next_header` hands that to the connection's loop."""
        assert self.reader is not None
        if self.read_ahead is None or self._gone is None:
            self.read_ahead = asyncio.ensure_future(self.reader.readexactly(wire.HEADER_SIZE))
            self._gone = gone = asyncio.get_running_loop().create_future()

            def settle(task: asyncio.Future[bytes]) -> None:
                if not gone.done() and (task.cancelled() or task.exception() is not None):
                    gone.set_result(None)

            self.read_ahead.add_done_callback(settle)
        return self._gone

    async def next_header(self) -> bytes:
        assert self.reader is not None
        if self.read_ahead is not None:
            ahead, self.read_ahead, self._gone = self.read_ahead, None, None
            return await ahead
        return await self.reader.readexactly(wire.HEADER_SIZE)

    def abort(self) -> None:
        """Drop the connection without an answer (failCommand closeConnection, shutdown)."""
        if self.writer is not None and not self.writer.is_closing():
            transport = self.writer.transport
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # RST instead of FIN, so the client sees a network error at once.
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                except OSError:
                    pass
            transport.abort()


class WireServer:
    def __init__(self, member: Member) -> None:
        self.member = member
        self._servers: list[asyncio.Server] = []
        self._ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self.connections: dict[int, Connection] = {}
        self.total_created = 0
        # serverStatus.network
        self.bytes_in = 0
        self.bytes_out = 0
        self.requests = 0

    async def start(self, hosts: tuple[str, ...], port: int) -> None:
        for host in hosts:
            server = await asyncio.start_server(self._serve, host=host, port=port, reuse_address=True)
            self._servers.append(server)
        log.info("waiting for connections", extra={"attr": {"port": port, "bind_ip": list(hosts)}})

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for conn in list(self.connections.values()):
            conn.abort()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    def next_request_id(self) -> int:
        return next(self._request_ids) & 0x7FFFFFFF

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer_info = writer.get_extra_info("peername")
        peer = f"{peer_info[0]}:{peer_info[1]}" if peer_info else "?"
        conn = Connection(next(self._ids), peer, writer=writer, reader=reader)
        self.connections[conn.id] = conn
        self.total_created += 1
        try:
            await self._loop(conn, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except wire.WireError as exc:
            log.warning(
                "closing connection after a malformed message",
                extra={"attr": {"connectionId": conn.id, "remote": peer, "reason": str(exc)}},
            )
        except CloseConnection as exc:
            log.info("closing connection", extra={"attr": {"connectionId": conn.id, "reason": str(exc)}})
            conn.abort()
        finally:
            self.connections.pop(conn.id, None)
            if conn.read_ahead is not None:
                conn.read_ahead.cancel()
            writer.close()

    async def _loop(
        self, conn: Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            header = wire.parse_header(await conn.next_header())
            body = await reader.readexactly(header.length - wire.HEADER_SIZE)
            self.bytes_in += header.length
            self.requests += 1
            try:
                request = await self._decode(header, body)
            except wire.RejectedMessage as exc:
                reply = {"ok": 0.0, "errmsg": str(exc), "code": exc.code, "codeName": exc.code_name}
                writer.write(wire.encode_op_msg(self.next_request_id(), header.request_id, reply))
                continue
            finally:
                # An idle connection must not keep its last message (up to 48 MB) alive.
                del body
            await self._answer(conn, request, writer)
            del request

    async def _decode(self, header: wire.Header, body: bytes) -> wire.Request:
        if len(body) <= _DECODE_INLINE:
            return wire.decode(header, body)
        # Up to 100,000 documents to frame: an operation that yields.
        return await operation.run_sync(Operation("decode a message", user=False), wire.decode, header, body)

    async def _answer(self, conn: Connection, request: wire.Request, writer: asyncio.StreamWriter) -> None:
        """Run a request and write its reply. Under exhaust the stream goes on (exhaust.py says
        what runs next), each reply flagged moreToCome and answering the previous one, until a
        reply ends it or the client goes away."""
        reply = await dispatch(self.member, conn, request)
        if request.more_to_come:
            return
        response_to = request.request_id
        while True:
            following = exhaust.next_request(request, reply)
            request_id = self.next_request_id()
            encoded = wire.encode_reply(
                request, request_id, reply, response_to=response_to, more_to_come=following is not None
            )
            self.bytes_out += len(encoded)
            writer.write(encoded)
            if following is None:
                if writer.transport.get_write_buffer_size() > 1 << 20:
                    await writer.drain()
                return
            await writer.drain()
            response_to, request = request_id, following
            reply = await dispatch(self.member, conn, request)
