"""Rollback files: the documents a former primary removed when it rejoined.

mongod (and the emulator) write them as `<dbpath>/rollback/<db>.<collection>/removed.<ts>.bson`;
a backend that keeps member data puts the dbpath under `members/<name>/`. Each document carries
its `_id` and, when the workload wrote it, the ledger token `_w` that ties it to one write.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bson
from bson import json_util
from bson.errors import BSONError

from contract.errors import AnalysisError
from contract.rundir import MEMBERS, TOKEN_FIELD


@dataclass(frozen=True, slots=True)
class RolledBackDoc:
    member: str
    file: str  # relative to the run directory
    namespace: str | None  # <db>.<collection>, from the file's folder
    doc_id: str  # rendered as the ledger renders ids
    token: str | None

    @property
    def collection(self) -> str | None:
        return self.namespace.split(".", 1)[1] if self.namespace and "." in self.namespace else None


def render_id(value: Any) -> str:
    """An `_id` as the ledger writes `doc_id`: ObjectId as hex, numbers and strings as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bson.ObjectId | int):
        return str(value)
    return json_util.dumps(value)


def read_rollback_files(run_dir: Path) -> list[RolledBackDoc]:
    """Every rolled-back document under `members/*/`, in file order; [] when there are none."""
    docs: list[RolledBackDoc] = []
    members_dir = run_dir / MEMBERS
    if not members_dir.is_dir():
        return docs
    for member_dir in sorted(p for p in members_dir.iterdir() if p.is_dir()):
        for path in sorted(member_dir.glob("**/rollback/**/*.bson")):
            relative = path.relative_to(run_dir).as_posix()
            namespace = path.parent.name if path.parent.name != "rollback" else None
            try:
                with path.open("rb") as fh:
                    for doc in bson.decode_file_iter(fh):
                        if "_id" not in doc:
                            raise AnalysisError(f"{relative}: a rolled-back document has no _id")
                        token = doc.get(TOKEN_FIELD)
                        docs.append(
                            RolledBackDoc(
                                member=member_dir.name,
                                file=relative,
                                namespace=namespace,
                                doc_id=render_id(doc["_id"]),
                                token=None if token is None else str(token),
                            )
                        )
            except (BSONError, OSError) as exc:
                raise AnalysisError(f"{relative}: not a readable BSON file ({exc})") from None
    return docs
