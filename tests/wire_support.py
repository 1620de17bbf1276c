"""Raw wire-protocol frames for tests that must see what PyMongo hides (flags, responseTo)."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Any

import bson

OP_MSG = 2013
MORE_TO_COME = 1 << 1
EXHAUST_ALLOWED = 1 << 16


@dataclass(frozen=True)
class Reply:
    request_id: int
    response_to: int
    flags: int
    doc: dict[str, Any]

    @property
    def more_to_come(self) -> bool:
        return bool(self.flags & MORE_TO_COME)


def op_msg(doc: dict[str, Any], flags: int = 0, request_id: int = 7, trailer: bytes = b"") -> bytes:
    payload = bson.encode(doc) + trailer
    return struct.pack("<iiiiI", 16 + 4 + 1 + len(payload), request_id, 0, OP_MSG, flags) + b"\x00" + payload


def read_reply(sock: socket.socket) -> Reply:
    header = sock.recv(16, socket.MSG_WAITALL)
    if len(header) < 16:
        raise ConnectionError("the server closed the connection")
    length, request_id, response_to, _ = struct.unpack("<iiii", header)
    body = sock.recv(length - 16, socket.MSG_WAITALL)
    (flags,) = struct.unpack("<I", body[:4])
    return Reply(request_id, response_to, flags, bson.decode(body[5:]))
