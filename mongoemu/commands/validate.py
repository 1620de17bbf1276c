"""`validate`: check a collection's records against its `_id` table and secondary indexes, and
report mongod's fields (`valid`, `nrecords`, `keysPerIndex`, `indexDetails`, `errors`...).

`background: true` is accepted as mongod accepts it (not with `full`); it checks the current
data, where mongod checks the last checkpoint's, since the emulator's check never blocks writes
for longer than one turn of its event loop anyway."""

from __future__ import annotations

from typing import Any

from bson import Int64

from mongoemu.commands.arguments import namespace
from mongoemu.commands.registry import CommandContext, command
from mongoemu.errors import CommandError, not_supported
from mongoemu.storage.collection import Collection, decode, unpack


def check(coll: Collection) -> dict[str, Any]:
    """Recompute every index key from the records and compare with what the indexes hold."""
    errors: list[str] = []
    expected = dict.fromkeys(coll.indexes, 0)
    ids = 0
    for blob in coll.docs.values():
        doc = decode(unpack(blob))
        if coll.rid_of(doc["_id"]) is not None:
            ids += 1
        for name, index in coll.indexes.items():
            expected[name] += len(index.keys_for(doc))
    keys: dict[str, Any] = {"_id_": Int64(len(coll.ids))}
    if ids != len(coll.docs) or len(coll.ids) != len(coll.docs):
        errors.append(f"index _id_ has {len(coll.ids)} keys for {len(coll.docs)} records")
    for name, index in coll.indexes.items():
        keys[name] = Int64(len(index.entries))
        if len(index.entries) != expected[name]:
            errors.append(f"index {name} has {len(index.entries)} keys, its records give {expected[name]}")
    if coll.text_name is not None:
        keys[coll.text_name] = Int64(0)  # postings are not keys; the text index is not checked
    return {
        "nInvalidDocuments": 0,
        "nNonCompliantDocuments": 0,
        "nrecords": len(coll.docs),
        "nIndexes": len(keys),
        "keysPerIndex": keys,
        "indexDetails": {name: {"valid": not any(f"index {name} " in e for e in errors)} for name in keys},
        "valid": not errors,
        "repaired": False,
        "warnings": [],
        "errors": errors,
        "extraIndexEntries": [],
        "missingIndexEntries": [],
        "corruptRecords": [],
    }


@command("validate", read=True)
async def validate(ctx: CommandContext) -> dict[str, Any]:
    db, name, ns = namespace(ctx)
    for option in ("repair", "metadata", "checkBSONConformance"):
        if ctx.body.get(option):
            raise not_supported(f"validate option '{option}'")
    if ctx.body.get("background") and ctx.body.get("full"):
        raise CommandError(
            2,
            "Running the validate command with both { background: true } and { full: true } "
            "is not supported.",
        )
    coll = ctx.member.engine.collection(db, name)
    if coll is None:
        raise CommandError(26, f"Collection '{ns}' does not exist to validate.")
    return {"ns": ns, "uuid": coll.uuid, **check(coll), "ok": 1.0}
