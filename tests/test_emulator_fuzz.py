"""Fuzzing the wire layer of a live member: malformed, truncated and oversized frames from
raw sockets, while a well-behaved PyMongo client keeps getting answers."""

from __future__ import annotations

import socket
import struct
from typing import Any

import bson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

OP_CODES = st.sampled_from([2013, 2004, 2012, 1, 2001, 2002, 0, -1, 99999])


def _header(length: int, op_code: int) -> bytes:
    return struct.pack("<iiii", length, 1, 0, op_code)


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["garbage", "bad_length", "truncated", "oversized", "bad_body", "mutated"]))
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=200))
    if kind == "bad_length":
        body = draw(st.binary(max_size=64))
        length = draw(st.integers(min_value=-(2**31), max_value=15))
        return _header(length, draw(OP_CODES)) + body
    if kind == "oversized":
        return _header(draw(st.integers(min_value=48_000_001, max_value=2**31 - 1)), 2013)
    valid = bson.encode({"ping": 1, "$db": "admin"})
    msg = struct.pack("<I", 0) + b"\x00" + valid
    full = _header(16 + len(msg), 2013) + msg
    if kind == "truncated":
        return full[: draw(st.integers(min_value=1, max_value=len(full) - 1))]
    if kind == "bad_body":
        body = draw(st.binary(min_size=1, max_size=120))
        return _header(16 + len(body), draw(OP_CODES)) + body
    data = bytearray(full)
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        data[draw(st.integers(min_value=4, max_value=len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def test_malformed_frames_never_stop_the_member(shared_member: Any, shared_client: Any) -> None:
    address = (shared_member.members[0].host, shared_member.members[0].port)
    coll = shared_client.fuzz.probe
    coll.drop()

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(frame=frames(), close_early=st.booleans())
    def one(frame: bytes, close_early: bool) -> None:
        with socket.create_connection(address, timeout=2) as sock:
            sock.sendall(frame)
            if not close_early:
                sock.settimeout(0.2)
                try:
                    sock.recv(65536)
                except (TimeoutError, ConnectionError):
                    pass
        assert shared_client.admin.command("ping")["ok"] == 1.0
        coll.insert_one({"frame": len(frame)})

    one()
    assert coll.count_documents({}) >= 120
    status = shared_client.admin.command("serverStatus")
    assert status["connections"]["current"] < 20  # the fuzzed connections were closed, not leaked
