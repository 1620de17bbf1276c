"""The MongoDB wire protocol: frame headers, OP_MSG, OP_QUERY (handshake only) and OP_REPLY.

Written by hand because no maintained Python library implements the *server* side of the
protocol; PyMongo's `bson` does all BSON encoding and decoding.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

from mongoemu.errors import CommandError
from mongoemu.operation import checkpoint

OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013

HEADER = struct.Struct("<iiii")
HEADER_SIZE = HEADER.size

MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024
# mongod's BSONObjMaxInternalSize: a command document may exceed a user document by this much.
MAX_INTERNAL_OBJECT_SIZE = MAX_BSON_OBJECT_SIZE + 16 * 1024
MAX_MESSAGE_SIZE = 48_000_000
MAX_WRITE_BATCH_SIZE = 100_000

FLAG_CHECKSUM_PRESENT = 1 << 0
FLAG_MORE_TO_COME = 1 << 1
FLAG_EXHAUST_ALLOWED = 1 << 16
# Bits 0-15 are "required": a receiver must reject any it does not understand.
_REQUIRED_MASK = 0xFFFF
_KNOWN_FLAGS = FLAG_CHECKSUM_PRESENT | FLAG_MORE_TO_COME | FLAG_EXHAUST_ALLOWED

CODEC = CodecOptions(document_class=dict, tz_aware=False)
_RAW = CodecOptions(document_class=RawBSONDocument, tz_aware=False)
_BATCHES = ("firstBatch", "nextBatch")

_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")
_OP_REPLY_PREFIX = struct.Struct("<iqii")


class WireError(Exception):
    """A frame that cannot be parsed; the connection that sent it is closed."""


class RejectedMessage(Exception):
    """A well-formed frame that the server declines; it is answered with an error document."""

    def __init__(self, code: int, code_name: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.code_name = code_name


@dataclass(slots=True)
class Header:
    length: int
    request_id: int
    response_to: int
    op_code: int


@dataclass(slots=True)
class Request:
    """A decoded client message: the command document with kind-1 sequences folded in."""

    op_code: int
    request_id: int
    command: dict[str, Any]
    more_to_come: bool = False
    # The client accepts replies streamed with moreToCome (exhaust getMore, awaitable hello).
    exhaust_allowed: bool = False
    # For OP_QUERY only: the database taken from "<db>.$cmd".
    legacy_db: str | None = None


def parse_header(data: bytes, max_size: int = MAX_MESSAGE_SIZE) -> Header:
    length, request_id, response_to, op_code = HEADER.unpack(data)
    if length < HEADER_SIZE:
        raise WireError(f"message length {length} is smaller than the 16-byte header")
    if length > max_size:
        raise WireError(f"message length {length} exceeds maxMessageSizeBytes {max_size}")
    return Header(length, request_id, response_to, op_code)


def _decode_document(
    body: bytes,
    pos: int,
    end: int,
    what: str,
    *,
    max_size: int = MAX_INTERNAL_OBJECT_SIZE,
    decoder: Callable[[bytes], dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], int]:
    if end - pos < 5:
        raise WireError(f"{what}: truncated BSON document")
    (size,) = _INT32.unpack_from(body, pos)
    if size < 5 or pos + size > end:
        raise WireError(f"{what}: BSON document length {size} does not fit the frame")
    if size > max_size:
        raise WireError(f"{what}: BSON document of {size} bytes exceeds maxBsonObjectSize")
    try:
        data = body[pos : pos + size]
        doc = bson.decode(data, CODEC) if decoder is None else decoder(data)
    except Exception as exc:  # bson raises several types for corrupt input
        raise WireError(f"{what}: invalid BSON ({exc})") from exc
    return doc, pos + size


def _split_documents(body: bytes, pos: int, end: int, ident: str) -> list[bytes]:
    """The BSON of each document of a kind-1 section, each framed by its length and NUL."""
    out: list[bytes] = []
    what = f"OP_MSG sequence {ident!r}"
    while pos < end:
        if end - pos < 5:
            raise WireError(f"{what}: truncated BSON document")
        (size,) = _INT32.unpack_from(body, pos)
        if size < 5 or pos + size > end or body[pos + size - 1] != 0:
            raise WireError(f"{what}: BSON document length {size} does not fit the frame")
        if size > MAX_INTERNAL_OBJECT_SIZE:
            raise WireError(f"{what}: BSON document of {size} bytes exceeds maxBsonObjectSize")
        out.append(body[pos : pos + size])
        pos += size
        checkpoint()
    return out


class DocumentSequence(Sequence[dict[str, Any]]):
    """An OP_MSG document sequence (kind 1), each document kept as its BSON and decoded when
    the command reads it: 100,000 documents to insert are then 100,000 byte strings, which
    Python's cycle collector skips, rather than a few hundred thousand objects it would walk
    on every full pass while the insert runs; decoding happens at the command's checkpoints.
    A document that is not valid BSON fails the command when it is reached (InvalidBSON);
    mongod refuses such a message before running any of it."""

    __slots__ = ("_ident", "_raw")

    def __init__(self, ident: str, raw: list[bytes]) -> None:
        self._ident, self._raw = ident, raw

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._decode(raw) for raw in self._raw[index]]
        return self._decode(self._raw[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for raw in self._raw:
            yield self._decode(raw)

    def _decode(self, raw: bytes) -> dict[str, Any]:
        try:
            return bson.decode(raw, CODEC)  # type: ignore[no-any-return]
        except Exception as exc:  # bson raises several types for corrupt input
            raise CommandError(
                22, f"invalid BSON in document sequence {self._ident!r}: {exc}", code_name="InvalidBSON"
            ) from None


def _with_raw_batches(data: bytes) -> dict[str, Any]:
    """A cursor reply decoded but for its batch, whose documents stay raw BSON: a member
    decodes each oplog entry as it applies it (a checkpoint at a time), not all at once."""
    out: dict[str, Any] = {}
    for key, value in bson.decode(data, _RAW).items():
        if key == "cursor" and isinstance(value, RawBSONDocument):
            out[key] = {k: v if k in _BATCHES else _plain(v) for k, v in value.items()}
        else:
            out[key] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, RawBSONDocument):
        return bson.decode(value.raw, CODEC)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def decode_reply(header: Header, body: bytes, raw_batches: bool = False) -> dict[str, Any]:
    """Another member's OP_MSG reply (one body section). Unlike a request, a reply may exceed
    16 MiB: a batch of up to 16 MiB of documents plus the array and the envelope around it."""
    if header.op_code != OP_MSG or len(body) < 5 or body[4] != 0:
        raise WireError(f"unexpected reply (opcode {header.op_code})")
    decoder = _with_raw_batches if raw_batches else None
    doc, _ = _decode_document(body, 5, len(body), "OP_MSG reply", max_size=MAX_MESSAGE_SIZE, decoder=decoder)
    return doc


def _cstring(body: bytes, pos: int, end: int, what: str) -> tuple[str, int]:
    stop = body.find(b"\x00", pos, end)
    if stop < 0:
        raise WireError(f"{what}: unterminated C string")
    try:
        return body[pos:stop].decode("utf-8"), stop + 1
    except UnicodeDecodeError as exc:
        raise WireError(f"{what}: C string is not UTF-8") from exc


def decode_op_msg(header: Header, body: bytes) -> Request:
    if len(body) < 5:
        raise WireError("OP_MSG: too short for flag bits and one section")
    (flags,) = _UINT32.unpack_from(body, 0)
    end = len(body)
    if flags & FLAG_CHECKSUM_PRESENT:
        end -= 4
    unknown_required = flags & _REQUIRED_MASK & ~_KNOWN_FLAGS
    pos = 4
    command: dict[str, Any] | None = None
    sequences: dict[str, DocumentSequence] = {}
    while pos < end:
        kind = body[pos]
        pos += 1
        if kind == 0:
            if command is not None:
                raise WireError("OP_MSG: more than one kind-0 section")
            command, pos = _decode_document(body, pos, end, "OP_MSG body section")
        elif kind == 1:
            if end - pos < 4:
                raise WireError("OP_MSG: truncated document sequence")
            (size,) = _INT32.unpack_from(body, pos)
            seq_end = pos + size
            if size < 5 or seq_end > end:
                raise WireError(f"OP_MSG: document sequence length {size} does not fit the frame")
            ident, cur = _cstring(body, pos + 4, seq_end, "OP_MSG document sequence")
            if ident in sequences:
                raise WireError(f"OP_MSG: duplicate document sequence {ident!r}")
            sequences[ident] = DocumentSequence(ident, _split_documents(body, cur, seq_end, ident))
            pos = seq_end
        else:
            raise WireError(f"OP_MSG: unknown section kind {kind}")
    if command is None:
        raise WireError("OP_MSG: no kind-0 body section")
    if unknown_required:
        raise RejectedMessage(
            40429, "IllegalOpMsgFlag", f"Message contains illegal flags value: 0x{unknown_required:x}"
        )
    if flags & FLAG_CHECKSUM_PRESENT:
        raise RejectedMessage(
            40429, "IllegalOpMsgFlag", "OP_MSG checksums (checksumPresent) are not supported"
        )
    for ident, docs in sequences.items():
        if ident in command:
            raise WireError(f"OP_MSG: field {ident!r} is both in the body and a document sequence")
        command[ident] = docs
    return Request(
        op_code=OP_MSG,
        request_id=header.request_id,
        command=command,
        more_to_come=bool(flags & FLAG_MORE_TO_COME),
        exhaust_allowed=bool(flags & FLAG_EXHAUST_ALLOWED),
    )


def decode_op_query(header: Header, body: bytes) -> Request:
    if len(body) < 4:
        raise WireError("OP_QUERY: too short")
    end = len(body)
    collection, pos = _cstring(body, 4, end, "OP_QUERY collection name")
    if end - pos < 8:
        raise WireError("OP_QUERY: truncated skip/limit")
    pos += 8
    query, pos = _decode_document(body, pos, end, "OP_QUERY query")
    if pos < end:
        _decode_document(body, pos, end, "OP_QUERY field selector")
    db, _, coll = collection.partition(".")
    if coll != "$cmd":
        raise RejectedMessage(
            352, "UnsupportedOpQueryCommand", f"OP_QUERY on {collection!r} is not supported; use OP_MSG"
        )
    # Drivers wrap the handshake as {$query: {...}, $readPreference: ...}.
    if "$query" in query:
        query = query["$query"]
    return Request(op_code=OP_QUERY, request_id=header.request_id, command=query, legacy_db=db)


def decode(header: Header, body: bytes) -> Request:
    if header.op_code == OP_MSG:
        return decode_op_msg(header, body)
    if header.op_code == OP_QUERY:
        return decode_op_query(header, body)
    if header.op_code == OP_COMPRESSED:
        raise WireError("OP_COMPRESSED received although no compressor was negotiated")
    raise WireError(f"unsupported opcode {header.op_code}")


def encode_op_msg(request_id: int, response_to: int, doc: dict[str, Any], flags: int = 0) -> bytes:
    payload = bson.encode(doc, codec_options=CODEC)
    length = HEADER_SIZE + 4 + 1 + len(payload)
    return b"".join(
        (HEADER.pack(length, request_id, response_to, OP_MSG), _UINT32.pack(flags), b"\x00", payload)
    )


def encode_op_reply(request_id: int, response_to: int, doc: dict[str, Any]) -> bytes:
    payload = bson.encode(doc, codec_options=CODEC)
    length = HEADER_SIZE + _OP_REPLY_PREFIX.size + len(payload)
    return b"".join(
        (
            HEADER.pack(length, request_id, response_to, OP_REPLY),
            _OP_REPLY_PREFIX.pack(0, 0, 0, 1),
            payload,
        )
    )


def encode_reply(
    request: Request,
    request_id: int,
    doc: dict[str, Any],
    *,
    response_to: int | None = None,
    more_to_come: bool = False,
) -> bytes:
    """Answer in the opcode the request used, as mongod does. A streamed reply (moreToCome)
    answers the previous reply of its stream (`response_to`) rather than the request."""
    answered = request.request_id if response_to is None else response_to
    if request.op_code == OP_QUERY:
        return encode_op_reply(request_id, answered, doc)
    return encode_op_msg(request_id, answered, doc, FLAG_MORE_TO_COME if more_to_come else 0)
