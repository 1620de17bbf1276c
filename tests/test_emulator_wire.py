"""The wire layer of a live `mongoemu` process, driven by unmodified PyMongo and raw sockets."""

from __future__ import annotations

import socket
import struct

import bson
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from tests.conftest import ReplicaSet


def _op_msg(doc: dict, flags: int = 0, request_id: int = 7, trailer: bytes = b"") -> bytes:
    payload = bson.encode(doc) + trailer
    return struct.pack("<iiiiI", 16 + 4 + 1 + len(payload), request_id, 0, 2013, flags) + b"\x00" + payload


def _read_reply(sock: socket.socket) -> dict:
    header = sock.recv(16, socket.MSG_WAITALL)
    length = struct.unpack("<i", header[:4])[0]
    body = sock.recv(length - 16, socket.MSG_WAITALL)
    return bson.decode(body[5:])


def test_pymongo_discovers_a_one_member_set_as_primary(single_member: ReplicaSet) -> None:
    with single_member.client() as client:
        hello = client.admin.command("hello")
        assert hello["isWritablePrimary"] is True
        assert hello["setName"] == "rs0"
        assert hello["hosts"] == [single_member.members[0].address]
        assert hello["maxWireVersion"] == 17
        assert hello["electionId"].binary[:4] == b"\x7f\xff\xff\xff"
        assert "topologyVersion" not in hello
        assert client.primary == ("127.0.0.1", single_member.members[0].port)


def test_unknown_command_answers_command_not_found(single_member: ReplicaSet) -> None:
    with single_member.client() as client:
        try:
            client.test.command("noSuchCommand")
        except OperationFailure as exc:
            assert exc.code == 59
            assert exc.details["codeName"] == "CommandNotFound"
        else:
            raise AssertionError("an unknown command succeeded")


def test_checksum_flag_is_rejected_and_connection_stays_usable(single_member: ReplicaSet) -> None:
    m = single_member.members[0]
    with socket.create_connection((m.host, m.port), timeout=5) as sock:
        sock.sendall(_op_msg({"ping": 1, "$db": "admin"}, flags=1, trailer=b"\x00\x00\x00\x00"))
        assert _read_reply(sock)["codeName"] == "IllegalOpMsgFlag"
        sock.sendall(_op_msg({"ping": 1, "$db": "admin"}))
        assert _read_reply(sock)["ok"] == 1.0


def test_malformed_frame_closes_only_that_connection(single_member: ReplicaSet) -> None:
    m = single_member.members[0]
    with single_member.client() as client, socket.create_connection((m.host, m.port), timeout=5) as bad:
        bad.sendall(struct.pack("<iiii", 64, 1, 0, 2013) + b"\x00" * 48)
        assert bad.recv(1) == b""  # closed by the server
        assert client.admin.command("ping")["ok"] == 1.0
    with MongoClient(m.host, m.port, directConnection=True) as again:
        assert again.admin.command("ping")["ok"] == 1.0
