"""Unit tests of the storage engine's pure parts: key order, text scoring, update operators,
projection, the journal's torn-tail handling, checkpoints and the retryable-write table."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import time
from pathlib import Path

import bson
import pytest
from bson import Int64, MaxKey, MinKey, ObjectId, Timestamp
from hypothesis import given
from hypothesis import strategies as st

from mongoemu import operation
from mongoemu.errors import CommandError, WriteError
from mongoemu.operation import Operation
from mongoemu.sessions import SessionTable
from mongoemu.storage import checkpoint, keystring, update
from mongoemu.storage.collection import Collection, decode, unpack
from mongoemu.storage.indexes import IndexSpec, SecondaryIndex
from mongoemu.storage.journal import Journal
from mongoemu.storage.projection import Projection
from mongoemu.storage.textindex import TextQuery, TextSpec, analyzer, score_string

numbers = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(allow_nan=False, allow_infinity=True)
)


@given(st.lists(numbers, min_size=2, max_size=20))
def test_numbers_order_by_value_across_int_and_double(values: list[float]) -> None:
    by_key = sorted(values, key=keystring.encode)
    assert all(a <= b for a, b in itertools.pairwise(by_key))


@given(st.lists(st.text(max_size=8), min_size=2, max_size=20))
def test_strings_order_by_utf8_bytes_and_descending_inverts(values: list[str]) -> None:
    assert sorted(values, key=keystring.encode) == sorted(
        values, key=lambda s: s.encode("utf-8", "surrogatepass")
    )
    desc = sorted(values, key=lambda s: keystring.invert(keystring.encode(s)))
    assert [s.encode("utf-8", "surrogatepass") for s in desc] == sorted(
        (s.encode("utf-8", "surrogatepass") for s in values), reverse=True
    )


def test_canonical_type_order_and_equal_numbers() -> None:
    ordered = [MinKey(), None, -1, 2.5, "a", {"a": 1}, [1], b"\x00", ObjectId(), False, True,
               datetime.datetime(2020, 1, 1), Timestamp(1, 1), MaxKey()]  # fmt: skip
    keys = [keystring.encode(v) for v in ordered]
    assert keys == sorted(keys)
    assert keystring.encode(1) == keystring.encode(1.0) == keystring.encode(Int64(1))
    assert keystring.encode(2**60) != keystring.encode(2**60 + 1)


@given(
    st.one_of(st.text(max_size=6), numbers, st.binary(max_size=6)), st.one_of(st.text(max_size=6), numbers)
)
def test_encodings_are_prefix_free_so_compound_keys_concatenate(x: object, y: object) -> None:
    kx, ky = keystring.encode(x), keystring.encode(y)
    if kx != ky:
        assert not ky.startswith(kx) and not kx.startswith(ky)
        assert (kx < ky) == (kx + keystring.encode("z") < ky + keystring.encode(""))


def test_sort_key_uses_min_ascending_and_max_descending_for_arrays() -> None:
    docs = [{"v": [1, 9]}, {"v": 5}, {"v": [3]}]
    asc = sorted(docs, key=lambda d: keystring.sort_key(d, [("v", 1)]))
    desc = sorted(docs, key=lambda d: keystring.sort_key(d, [("v", -1)]))
    assert asc == [{"v": [1, 9]}, {"v": [3]}, {"v": 5}]
    assert desc == [{"v": [1, 9]}, {"v": 5}, {"v": [3]}]


def test_analyzer_drops_stop_words_and_stems() -> None:
    assert analyzer("english").terms("The Runners were running quickly, didn't they?") == [
        "runner", "run", "quick",
    ]  # fmt: skip
    assert analyzer("none").terms("The Runners") == ["the", "runners"]


def test_score_string_matches_mongod_formula() -> None:
    scores: dict[str, float] = {}
    score_string("apple apple pie", 2.0, analyzer("english"), scores)
    assert scores["appl"] == pytest.approx(2.0 * 1.5 * (0.5 * 2 / 3 + 0.5))
    assert scores["pie"] == pytest.approx(2.0 * 1.0 * (0.5 / 3 + 0.5))
    alone: dict[str, float] = {}
    score_string("pie", 1.0, analyzer("english"), alone)
    assert alone["pie"] == pytest.approx(1.1)  # the whole string is the term
    spec = TextSpec(weights={"t": 3.0, "tags": 1.0})
    doc_scores = spec.score_document({"t": "pie", "tags": ["pie", "cake"]})
    assert doc_scores["pie"] == pytest.approx(3 * 1.1 + 1 * 1.1)


def test_text_query_parsing() -> None:
    q = TextQuery.parse({"$search": 'cake -burnt "apple pie" -"bad taste"'}, "english")
    assert q.terms == {"cake", "appl", "pie"}
    assert q.negated_terms == {"burnt"}
    assert q.phrases == ["apple pie"] and q.negated_phrases == ["bad taste"]
    assert q.phrases_match(["I like Apple Pie"]) and not q.phrases_match(["apple pie, bad taste"])
    with pytest.raises(CommandError):
        TextQuery.parse({"$search": 5}, "english")


def test_update_operators() -> None:
    doc = {"_id": 1, "n": 1, "arr": [{"k": 1}, {"k": 5}], "s": "x"}
    new = update.apply(doc, {"$inc": {"n": 2}, "$set": {"arr.$[e].big": True}, "$unset": {"s": 1}}, {},
                       array_filters=[{"e.k": {"$gt": 2}}])  # fmt: skip
    assert new == {"_id": 1, "n": 3, "arr": [{"k": 1}, {"k": 5, "big": True}]}
    assert doc["n"] == 1  # the input is not modified
    assert update.apply(doc, {"$mul": {"missing": 4}}, {})["missing"] == 0
    assert update.apply(doc, {"$max": {"n": 0}}, {})["n"] == 1
    assert update.apply(doc, {"$bit": {"n": {"or": 6}}}, {})["n"] == 7
    assert update.apply({"_id": 1}, {"x": 1}, {}) == {"_id": 1, "x": 1}


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ({"$set": {"a.b": 1}, "$unset": {"a": 1}}, 40),
        ({"$inc": {"s": 1}}, 14),
        ({"$set": {"s.x": 1}}, 28),
        ({"$set": {"_id": 2}}, 66),
        ({"$nope": {"a": 1}}, 9),
        ({"$push": {"s": 1}}, 2),
    ],
)
def test_update_errors_carry_mongod_codes(spec: dict, code: int) -> None:
    with pytest.raises(WriteError) as err:
        update.apply({"_id": 1, "s": "x"}, spec, {})
    assert err.value.code == code


def test_upsert_seed_takes_equalities_only() -> None:
    seed = update.upsert_seed({"a": 1, "b.c": 2, "d": {"$gt": 3}, "$and": [{"e": {"$eq": 4}}]})
    assert seed == {"a": 1, "b": {"c": 2}, "e": 4}


def test_projection() -> None:
    doc = {"_id": 1, "a": {"b": 1, "c": 2}, "l": [1, 2, 3]}
    assert Projection.parse({"a.c": 1}).apply(doc) == {"_id": 1, "a": {"c": 2}}
    assert Projection.parse({"a": 0, "_id": 0}).apply(doc) == {"l": [1, 2, 3]}
    assert Projection.parse({"l": {"$slice": [1, 1]}, "a": 0}).apply(doc) == {"_id": 1, "l": [2]}
    assert Projection.parse({"s": {"$meta": "textScore"}, "_id": 0, "a": 1}).apply(doc, 1.5) == {
        "a": {"b": 1, "c": 2},
        "s": 1.5,
    }
    with pytest.raises(CommandError) as err:
        Projection.parse({"a": 1, "l": 0})
    assert err.value.code == 31254


def test_journal_ignores_and_cuts_a_torn_tail(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open(1)
    payloads = [bson.encode({"i": i}) for i in range(3)]
    offsets = journal.append(payloads)
    with journal.path(1).open("ab") as fh:
        fh.write(b"\x01\x02\x03\x04\x30\x00\x00\x00partial")
    journal.close()
    assert [p for _, p in Journal(tmp_path).read(1)] == payloads
    again = Journal(tmp_path)
    again.open(1)
    assert again.current_size == sum(4 + len(p) for p in payloads)
    assert again.read_at(1, offsets[2], len(payloads[2])) == payloads[2]
    again.close()


def test_an_fsync_in_flight_survives_its_segment_being_closed(tmp_path: Path) -> None:
    """A checkpoint rotates the journal (closing the segment) while a `j: true` write's fsync
    runs in a thread: the fsync must not fail with EBADF (it did, as an InternalError to the
    client), and what was written before the rotation is flushed."""
    journal = Journal(tmp_path)

    async def race() -> None:
        for seq in range(1, 201):
            journal.open(seq)
            journal.append([bson.encode({"seq": seq})])
            flush = asyncio.create_task(journal.sync_async())
            await asyncio.sleep(0)  # the fsync is handed to its thread
            journal.close()  # as rotate() does, before it opens the next segment
            await flush

    asyncio.run(race())


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    image = checkpoint.Image(replay_from=3, sessions=[{"x": 1}])
    image.collections.append(
        checkpoint.CollectionImage("db.c", {"capped": True}, "u", [{"name": "a_1"}], [b"ab", b"c"])
    )
    path = tmp_path / "cp.bson"
    checkpoint.write(path, image)
    back = checkpoint.read(path)
    assert back == image


def test_session_table_remembers_the_newest_transaction() -> None:
    table = SessionTable()
    lsid = {"id": bson.Binary(b"0" * 16, 4)}
    entry = {
        "ts": Timestamp(1, 1),
        "t": 1,
        "op": "i",
        "ns": "d.c",
        "o": {"_id": 7},
        "lsid": lsid,
        "txnNumber": 2,
        "stmtId": 0,
    }
    table.observe(entry)
    result = table.lookup(lsid, 2, 0)
    assert result is not None and (result.op, result.doc_id) == ("i", 7)
    assert table.lookup(lsid, 2, 1) is None
    assert table.lookup(lsid, 3, 0) is None
    with pytest.raises(CommandError) as err:
        table.lookup(lsid, 1, 0)
    assert err.value.code == 225
    table.forget_after((1, 0, 5))
    assert table.lookup(lsid, 2, 0) is None


def test_overlay_reads_committed_versions_instead_of_stored_ones() -> None:
    from mongoemu.oplog import OplogEntry, OpTime
    from mongoemu.storage.engine import StorageEngine
    from mongoemu.storage.query import Overlay, Query, count, run

    engine = StorageEngine()
    for i in range(1, 5):
        engine.apply(OplogEntry("i", "d.c", {"_id": i, "v": "new"}, OpTime(Timestamp(i, 1), 1)))
    coll = engine.collection("d", "c")

    def key(v: object) -> bytes:
        return bson.encode({"_id": v})

    overlay = Overlay({key(2): {"_id": 2, "v": "old"}, key(4): None, key(9): {"_id": 9, "v": "old"}}, key)
    got = [m.doc for m in run(coll, Query(filter={}, sort=[("_id", 1)]), overlay)]
    assert got == [
        {"_id": 1, "v": "new"},
        {"_id": 2, "v": "old"},
        {"_id": 3, "v": "new"},
        {"_id": 9, "v": "old"},
    ]
    assert count(coll, Query(filter={"v": "old"}), overlay) == 2
    assert count(coll, Query(), overlay) == 4


def test_text_index_purges_stale_postings_and_keeps_scores() -> None:
    from mongoemu.oplog import OplogEntry, OpTime
    from mongoemu.storage.engine import StorageEngine
    from mongoemu.storage.indexes import IndexSpec
    from mongoemu.storage.query import Query, run

    engine = StorageEngine()
    engine.create_collection("d", "c", {}).add_index(
        IndexSpec.parse({"key": {"t": "text"}, "name": "t_text"})
    )
    coll = engine.collection("d", "c")
    ts = itertools.count(1)
    for i in range(50):
        engine.apply(OplogEntry("i", "d.c", {"_id": i, "t": "red apple"}, OpTime(Timestamp(next(ts), 1), 1)))
    for _round in range(50):  # 2,500 replacements: stale postings pass the purge threshold
        for i in range(50):
            text = "green pear" if i % 2 else "red apple"
            engine.apply(
                OplogEntry("u", "d.c", {"_id": i, "t": text}, OpTime(Timestamp(next(ts), 1), 1), {"_id": i})
            )
    assert coll.text is not None and coll.text._stale < 1000
    found = list(run(coll, Query(filter={"$text": {"$search": "apple"}})))
    assert sorted(m.doc["_id"] for m in found) == list(range(0, 50, 2))
    assert all(m.score == pytest.approx(0.75) for m in found)  # 1 of 2 terms: 1 * (0.5 / 2 + 0.5)


def test_oplog_entries_removed_by_rollback_stay_readable(tmp_path: Path) -> None:
    from mongoemu.oplog import OplogEntry, OpTime
    from mongoemu.storage.durable import DurableStore

    store = DurableStore(tmp_path, 64 * 2**20)
    store.recover()
    entries = [
        OplogEntry("i", "d.c", {"_id": i, "pad": "x" * 3000}, OpTime(Timestamp(100 + i, 1), 1))
        for i in range(6)
    ]
    for e in entries:
        store.engine.apply(e)
    store.append([e.to_document() for e in entries])
    held = store.window.entries_after(entries[2].optime, 10)  # as a rollback lists them first
    assert [d["o"]["_id"] for d in held] == [3, 4, 5]
    removed = store.truncate_after(entries[2].optime)
    store.append([OplogEntry("n", "", {"msg": "x" * 5000}, OpTime(Timestamp(200, 1), 2)).to_document()])
    assert [d["o"]["_id"] for d in removed] == [d["o"]["_id"] for d in held] == [3, 4, 5]
    assert [d["o"].get("_id") for d in store.window.entries_after(entries[0].optime, 10)] == [1, 2, None]
    store.close()
    again = DurableStore(tmp_path, 64 * 2**20)
    again.recover()
    assert [d["op"] for d in again.window.all()] == ["i", "i", "i", "n"]
    again.close()


def test_idle_cursors_are_reaped_unless_no_cursor_timeout() -> None:
    from mongoemu.cursors import CURSOR_TIMEOUT_S, CursorManager, QueryCursor

    manager = CursorManager()
    idle = manager.register(QueryCursor("db.c", iter([{"a": 1}])))
    kept = manager.register(QueryCursor("db.c", iter([{"a": 1}]), no_timeout=True))
    manager.reap(time.monotonic() + CURSOR_TIMEOUT_S + 1)
    assert not manager.close(idle) and manager.close(kept)


# --- index builds while writes go on ----------------------------------------------------------
def test_an_index_built_while_writes_go_on_equals_one_built_afterwards(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each scanned document is a checkpoint; the writes made in the turns given away (inserts,
    updates that move keys, in place or not, deletes, before and after the scan passes them)
    reach the index as side writes, so the live index is exactly what a build over the final
    documents gives."""

    monkeypatch.setattr(operation, "YIELD_PERIOD_S", 0.0)
    rids = itertools.count(1)
    coll = Collection("d", "c", {}, None, lambda: next(rids))

    def put(doc: dict) -> None:
        coll.delete(doc["_id"])
        coll.insert(bson.encode(doc), doc)

    for i in range(200):
        put({"_id": i, "k": i % 7, "t": f"word{i % 5} text"})
    specs = [
        IndexSpec.parse({"key": {"k": 1}, "name": "k_1"}),
        IndexSpec.parse({"key": {"t": "text"}, "name": "t_text"}),
    ]

    async def writes() -> None:
        for step in range(300):
            i = step % 250
            doc = {"_id": i, "k": (i * step) % 11, "t": f"word{step % 3} other"}
            if step % 3 == 0:
                coll.delete(i)
            elif step % 3 == 1 or coll.replace(bson.encode(doc), doc) is None:
                put(doc)
            await asyncio.sleep(0)

    async def main() -> None:
        writer = asyncio.create_task(writes())
        for spec in specs:
            await operation.run_sync(Operation("createIndexes"), coll.prepare_index, spec)
        await writer
        for spec in specs:
            coll.add_index(spec)

    asyncio.run(main())
    fresh = SecondaryIndex(specs[0], "d.c")
    for rid, blob in coll.docs.items():
        fresh.insert(rid, fresh.keys_for(decode(unpack(blob))))
    assert list(coll.indexes["k_1"].entries) == list(fresh.entries)
    assert coll.text is not None and coll.text_name == "t_text"
    assert not coll._builds and not coll._ready
