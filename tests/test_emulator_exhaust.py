"""Exhaust cursors: a getMore with OP_MSG exhaustAllowed is answered by a stream of batches,
each flagged moreToCome and answering the previous reply, until the cursor is exhausted."""

from __future__ import annotations

import socket
import struct
from typing import Any

import bson
from pymongo import CursorType

from tests.conftest import ReplicaSet

EXHAUST_ALLOWED = 1 << 16
MORE_TO_COME = 1 << 1


def _send(sock: socket.socket, doc: dict[str, Any], request_id: int, flags: int = 0) -> None:
    payload = bson.encode(doc)
    sock.sendall(struct.pack("<iiiiI", 21 + len(payload), request_id, 0, 2013, flags) + b"\x00" + payload)


def _receive(sock: socket.socket) -> tuple[int, int, int, dict[str, Any]]:
    """(requestID, responseTo, flag bits, document) of one reply."""
    header = sock.recv(16, socket.MSG_WAITALL)
    length, request_id, response_to, _ = struct.unpack("<iiii", header)
    body = sock.recv(length - 16, socket.MSG_WAITALL)
    (flags,) = struct.unpack_from("<I", body)
    return request_id, response_to, flags, bson.decode(body[5:])


def test_exhaust_get_more_streams_every_batch(single_member: ReplicaSet) -> None:
    with single_member.client() as client:
        client.t.c.insert_many([{"_id": i} for i in range(7)])
    member = single_member.members[0]
    with socket.create_connection((member.host, member.port), timeout=10) as sock:
        _send(sock, {"find": "c", "batchSize": 2, "$db": "t"}, request_id=1)
        _, _, _, first = _receive(sock)
        cursor_id = first["cursor"]["id"]
        assert [d["_id"] for d in first["cursor"]["firstBatch"]] == [0, 1]
        get_more = {"getMore": cursor_id, "collection": "c", "batchSize": 2, "$db": "t"}
        _send(sock, get_more, request_id=2, flags=EXHAUST_ALLOWED)
        answered, batches, streamed = 2, [], []
        while True:
            request_id, response_to, flags, reply = _receive(sock)
            assert response_to == answered  # each reply answers the previous one
            answered = request_id
            batches.append([d["_id"] for d in reply["cursor"]["nextBatch"]])
            streamed.append(bool(flags & MORE_TO_COME))
            if not flags & MORE_TO_COME:
                break
        assert batches == [[2, 3], [4, 5], [6]]
        assert streamed == [True, True, False]
        assert reply["cursor"]["id"] == 0
        # the connection serves ordinary requests again afterwards
        _send(sock, {"ping": 1, "$db": "admin"}, request_id=3)
        assert _receive(sock)[3]["ok"] == 1.0


def test_pymongo_exhaust_cursor_reads_everything(single_member: ReplicaSet) -> None:
    with single_member.client() as client:
        client.t.e.insert_many([{"_id": i} for i in range(250)])
        got = [
            d["_id"] for d in client.t.e.find(cursor_type=CursorType.EXHAUST, batch_size=20).sort("_id", 1)
        ]
        assert got == list(range(250))
