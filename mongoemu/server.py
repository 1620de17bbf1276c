"""The TCP side of a member: accept connections, read frames, answer in order.

Each connection is one asyncio task and runs one command at a time, as mongod's
thread-per-connection model does. A frame that cannot be parsed closes only its own
connection, with the reason logged.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mongoemu import wire
from mongoemu.dispatch import CloseConnection, dispatch

if TYPE_CHECKING:
    from mongoemu.member import Member

log = logging.getLogger("mongoemu.network")


@dataclass(slots=True)
class Connection:
    id: int
    peer: str
    # Set by the handshake: another member (hello.internalClient) and the driver's appName.
    internal: bool = False
    app_name: str | None = None
    writer: asyncio.StreamWriter | None = None

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
        conn = Connection(next(self._ids), peer, writer=writer)
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
            writer.close()

    async def _loop(
        self, conn: Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            head = await reader.readexactly(wire.HEADER_SIZE)
            header = wire.parse_header(head)
            body = await reader.readexactly(header.length - wire.HEADER_SIZE)
            try:
                request = wire.decode(header, body)
            except wire.RejectedMessage as exc:
                reply = {"ok": 0.0, "errmsg": str(exc), "code": exc.code, "codeName": exc.code_name}
                writer.write(wire.encode_op_msg(self.next_request_id(), header.request_id, reply))
                continue
            reply = await dispatch(self.member, conn, request)
            if request.more_to_come:
                continue
            writer.write(wire.encode_reply(request, self.next_request_id(), reply))
            if writer.transport.get_write_buffer_size() > 1 << 20:
                await writer.drain()
