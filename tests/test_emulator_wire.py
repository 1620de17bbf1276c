"""The wire layer of a live `mongoemu` process, driven by unmodified PyMongo and raw sockets."""

from __future__ import annotations

import socket
import struct

import bson
import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from mongoemu import wire
from mongoemu.errors import CommandError
from tests.conftest import ReplicaSet
from tests.wire_support import op_msg, read_reply


def test_pymongo_discovers_a_one_member_set_as_primary(single_member: ReplicaSet) -> None:
    with single_member.client() as client:
        hello = client.admin.command("hello")
        assert hello["isWritablePrimary"] is True
        assert hello["setName"] == "rs0"
        assert hello["hosts"] == [single_member.members[0].address]
        assert hello["maxWireVersion"] == 17
        assert hello["electionId"].binary[:4] == b"\x7f\xff\xff\xff"
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
        sock.sendall(op_msg({"ping": 1, "$db": "admin"}, flags=1, trailer=b"\x00\x00\x00\x00"))
        assert read_reply(sock).doc["codeName"] == "IllegalOpMsgFlag"
        sock.sendall(op_msg({"ping": 1, "$db": "admin"}))
        assert read_reply(sock).doc["ok"] == 1.0


def test_malformed_frame_closes_only_that_connection(single_member: ReplicaSet) -> None:
    m = single_member.members[0]
    with single_member.client() as client, socket.create_connection((m.host, m.port), timeout=5) as bad:
        bad.sendall(struct.pack("<iiii", 64, 1, 0, 2013) + b"\x00" * 48)
        assert bad.recv(1) == b""  # closed by the server
        assert client.admin.command("ping")["ok"] == 1.0
    with MongoClient(m.host, m.port, directConnection=True) as again:
        assert again.admin.command("ping")["ok"] == 1.0


def test_document_sequences_decode_each_document_as_it_is_read() -> None:
    docs = [bson.encode({"_id": i, "x": "y" * i}) for i in range(3)]
    seq = b"documents\x00" + b"".join(docs)
    body = bson.encode({"insert": "c", "$db": "d"})
    msg = struct.pack("<I", 0) + b"\x00" + body + b"\x01" + struct.pack("<i", 4 + len(seq)) + seq
    header = wire.Header(16 + len(msg), 1, 0, wire.OP_MSG)
    request = wire.decode(header, msg)
    sequence = request.command["documents"]
    assert isinstance(sequence, wire.DocumentSequence) and len(sequence) == 3
    assert [d["_id"] for d in sequence] == [0, 1, 2] and sequence[2]["x"] == "yy"
    broken = wire.DocumentSequence("documents", [docs[0][:-2] + b"\x07\x00"])
    with pytest.raises(CommandError) as err:
        list(broken)
    assert err.value.code == 22
