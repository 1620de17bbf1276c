"""`dbHash`: an md5 per collection over its documents in `_id` order, as mongod's, so that the
members of a set can be compared for identical data."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import bson

from mongoemu.commands.registry import CommandContext, command
from mongoemu.errors import CommandError
from mongoemu.operation import checkpoint
from mongoemu.storage.collection import id_key
from mongoemu.wire import CODEC


@command("dbHash", "dbhash", read=True)
async def db_hash(ctx: CommandContext) -> dict[str, Any]:
    started = time.monotonic()
    wanted = ctx.body.get("collections")
    if wanted is not None and not (isinstance(wanted, list) and all(isinstance(c, str) for c in wanted)):
        raise CommandError(2, "dbHash: collections must be an array of strings")
    storage = ctx.member.storage
    prefix = ctx.db + "."
    names = sorted(ns[len(prefix) :] for ns in storage.namespaces() if ns.startswith(prefix))
    collections: dict[str, str] = {}
    overall = hashlib.md5()
    for name in names:
        if wanted is not None and name not in wanted:
            continue
        digest = hashlib.md5()
        for doc in sorted(storage.iter_documents(prefix + name), key=lambda d: id_key(d["_id"])):
            digest.update(bson.encode(doc, codec_options=CODEC))
            checkpoint()
        collections[name] = digest.hexdigest()
        overall.update(collections[name].encode())
    return {
        "host": ctx.member.name,
        "collections": collections,
        "capped": [],
        "md5": overall.hexdigest(),
        "timeMillis": int((time.monotonic() - started) * 1000),
        "ok": 1.0,
    }
