"""Replication metadata that must survive a restart: config, term, the last vote and recovery flags.

mongod keeps these in `local.system.replset`, `local.replset.election` and `local.replset.minvalid`;
the emulator keeps them in one BSON file, `<dbpath>/replset.bson`, replaced atomically and fsynced
before the change is acted on (a vote is on disk before it is granted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bson
from bson import Int64

from mongoemu.oplog import NULL_OPTIME, OpTime

FILE_NAME = "replset.bson"


@dataclass(slots=True)
class ReplMetadata:
    config: dict[str, Any] | None = None
    term: int = 0
    last_vote_term: int = -1
    last_vote_candidate: int = -1
    # The data is not a consistent copy until initial sync finishes (mongod's initialSyncFlag).
    initial_sync_pending: bool = False
    # A rollback changed data and did not reach its end: the data cannot be trusted.
    rollback_pending: bool = False
    # Stay RECOVERING until this optime is applied (after a rollback, mongod's minValid).
    min_valid: OpTime = field(default=NULL_OPTIME)
    # The rollback id (mongod's local.system.rollback.id): bumped by every rollback, so a member
    # refetching from us can tell that our data moved under it.
    rbid: int = 1

    def to_document(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "term": Int64(self.term),
            "lastVote": {"term": Int64(self.last_vote_term), "candidateIndex": self.last_vote_candidate},
            "initialSyncFlag": self.initial_sync_pending,
            "rollbackInProgress": self.rollback_pending,
            "minValid": self.min_valid.to_document(),
            "rbid": self.rbid,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> ReplMetadata:
        vote = doc.get("lastVote") or {}
        return cls(
            config=doc.get("config"),
            term=int(doc.get("term", 0)),
            last_vote_term=int(vote.get("term", -1)),
            last_vote_candidate=int(vote.get("candidateIndex", -1)),
            initial_sync_pending=bool(doc.get("initialSyncFlag", False)),
            rollback_pending=bool(doc.get("rollbackInProgress", False)),
            min_valid=OpTime.from_document(doc["minValid"]) if doc.get("minValid") else NULL_OPTIME,
            rbid=int(doc.get("rbid", 1)),
        )


class MetadataFile:
    def __init__(self, dbpath: Path) -> None:
        self.path = dbpath / FILE_NAME

    def load(self) -> ReplMetadata:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return ReplMetadata()
        return ReplMetadata.from_document(bson.decode(data))

    def save(self, meta: ReplMetadata) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, bson.encode(meta.to_document()))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
