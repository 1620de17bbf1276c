"""The hub operations, seeding and search quality against real `mongoemu` processes, driven with
PyMongo alone (the Locust runs are in test_workload_locust.py)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from contract.rundir import LEDGER
from locustfiles.corpus import Corpus
from locustfiles.instrumented import Instrument, WriteIds
from locustfiles.merge import merge_run
from locustfiles.model import PROMPTS, USAGE, USERS, VECTORS
from locustfiles.operations import CanaryOperations, HubOperations, IngestOperations
from locustfiles.recorder import Recorder
from locustfiles.seeding import SeedingError, seed_corpus
from locustfiles.settings import CorpusSettings, WorkloadSettings
from locustfiles.verify import read_ledger, verify_ledger

CORPUS = CorpusSettings(users=150, prompts=1500, stores=12, vectors_per_store=25)


class Hook:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def fire(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)

    def failures(self) -> list[tuple[str, BaseException]]:
        return [(c["name"], c["exception"]) for c in self.calls if c["exception"] is not None]


@pytest.fixture
def settings() -> WorkloadSettings:
    return WorkloadSettings(database="aihub_test", corpus=CORPUS)


@pytest.fixture
def seeded(single_member: Any, settings: WorkloadSettings) -> Any:
    client = single_member.client(**settings.driver.client_kwargs())
    report = seed_corpus(client, settings)
    assert not report.skipped
    yield client
    client.close()


def test_seeding_creates_the_hub_indexes_and_loads_the_corpus(
    seeded: Any, settings: WorkloadSettings
) -> None:
    db = seeded[settings.database]
    assert db[USERS].count_documents({}) == CORPUS.users
    assert db[PROMPTS].count_documents({}) == CORPUS.prompts
    assert db[VECTORS].count_documents({}) == CORPUS.stores * CORPUS.vectors_per_store
    indexes = {ix["name"]: ix for ix in db[PROMPTS].list_indexes()}
    assert dict(indexes["user_category_recent"]["key"]) == {"userId": 1, "category": 1, "createdAt": -1}
    assert dict(indexes["prompt_text"]["weights"]) == {"title": 3, "content": 2, "tags": 1}
    assert dict(next(ix for ix in db[USAGE].list_indexes() if ix["name"] == "time_user")["key"]) == {
        "timestamp": 1,
        "userId": 1,
    }
    assert next(ix for ix in db[USERS].list_indexes() if ix["name"] == "email_unique")["unique"]
    again = seed_corpus(seeded, settings)
    assert again.skipped and again.total == 0


def _ops(client: Any, settings: WorkloadSettings, hook: Hook, ledger: Any = None) -> HubOperations:
    instrument = Instrument(hook, ledger, "HubUser", WriteIds("t"))
    return HubOperations(
        client[settings.database],
        instrument,
        corpus=Corpus(settings.corpus, settings.seed),
        settings=settings,
        rng=np.random.default_rng(1),
        owner="t-u1",
    )


def test_text_search_finds_a_prompt_by_its_rare_title_words(seeded: Any, settings: WorkloadSettings) -> None:
    corpus = Corpus(settings.corpus, settings.seed)
    prompts = [d for chunk in corpus.prompts() for d in chunk]
    words = Counter(
        w
        for d in prompts
        for w in re.findall(r"[a-z-]+", f"{d['title']} {d['content']} {' '.join(d['tags'])}".lower())
    )
    ops = _ops(seeded, settings, Hook())
    found = 0
    for doc in prompts[::150]:
        title = re.findall(r"[a-z]+", doc["title"].lower())
        rare = sorted(title, key=lambda w: words[w])[:2]
        hits = ops.text_search(" ".join(rare))
        top3 = [h["_id"] for h in hits[:3]]
        assert doc["_id"] in top3, (doc["title"], rare, [h["title"] for h in hits[:3]])
        found += 1
    assert found == 10


def test_a_topic_centroid_query_returns_that_topic_first(seeded: Any, settings: WorkloadSettings) -> None:
    corpus = Corpus(settings.corpus, settings.seed)
    ops = _ops(seeded, settings, Hook())
    for store in range(CORPUS.stores):
        for topic in set(corpus.store_topics[store].tolist()):
            hits = ops.query_vectors(store, corpus.centroids[topic])
            assert hits, f"store {store} returned nothing"
            assert hits[0]["topic"] == topic
            assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_every_operation_succeeds_and_every_acknowledged_write_is_there(
    seeded: Any, settings: WorkloadSettings, tmp_path: Path
) -> None:
    recorder = Recorder(tmp_path, "t")
    hook = Hook()
    ops = _ops(seeded, settings, hook, recorder)
    names = set(ops.operation_names)
    for _ in range(300):
        ops.step()
    for write in (
        ops.create_prompt,
        ops.update_prompt,
        ops.delete_prompt,
        ops.upsert_vector,
        ops.record_usage,
    ):
        assert write().ok
    db = seeded[settings.database]
    instrument = Instrument(hook, recorder, "CanaryUser", WriteIds("c"))
    canary = CanaryOperations(db, instrument, settings.canary, "t")
    for _ in range(5):
        call, doc = canary.tick()
        assert call.ok and doc is not None and doc["seq"] == canary.seq
    ingest = IngestOperations(
        db, Instrument(hook, recorder, "IngestUser", WriteIds("i")), ops.corpus, ops.rng, 50
    )
    assert ingest.batch().ok
    assert hook.failures() == []
    reported = {c["name"] for c in hook.calls}
    assert names | {"canary.write", "canary.read", "usage.ingest"} <= reported
    assert all(c["response_time"] > 0 for c in hook.calls)
    sizes: dict[str, list[int]] = {}
    for c in hook.calls:
        sizes.setdefault(c["name"], []).append(c["response_length"])
    # A page of a category or a search may be empty; a document read or written never is.
    assert all(sum(sizes[name]) > 0 for name in reported - {"prompts.delete"})
    assert all(
        min(sizes[name]) > 0
        for name in reported - {"prompts.delete", "prompts.list_by_category", "prompts.text_search"}
    )
    recorder.close()
    report = merge_run(tmp_path, wait_s=0)
    assert report.ledger > 100 and report.complete
    entries = read_ledger(tmp_path / LEDGER)
    assert {e.status for e in entries} == {"acked"}
    verification = verify_ledger(seeded, settings.database, entries)
    assert verification.acked_missing == []
    assert verification.failed_present == []


def test_verification_finds_a_lost_acknowledged_write(
    seeded: Any, settings: WorkloadSettings, tmp_path: Path
) -> None:
    recorder = Recorder(tmp_path, "t")
    ops = _ops(seeded, settings, Hook(), recorder)
    for _ in range(5):
        ops.create_prompt()
    recorder.close()
    merge_run(tmp_path, wait_s=0)
    entries = read_ledger(tmp_path / LEDGER)
    lost = ops.own_prompts[2]
    victim = next(e for e in entries if e.doc_id == str(lost))
    seeded[settings.database][PROMPTS].delete_one({"_id": lost})  # as a rollback would
    verification = verify_ledger(seeded, settings.database, entries)
    assert verification.acked_missing == [victim.write_id]


def _stepped_down(times: int | str) -> dict[str, Any]:
    """A fail point answering inserts with a retryable write concern error, as a primary that
    steps down while it waits for replication does."""
    mode: Any = {"times": times} if isinstance(times, int) else times
    return {
        "configureFailPoint": "failCommand",
        "mode": mode,
        "data": {
            "failCommands": ["insert"],
            "writeConcernError": {
                "code": 189,
                "codeName": "PrimarySteppedDown",
                "errmsg": "Primary stepped down while waiting for replication",
                "errorLabels": ["RetryableWriteError"],
            },
        },
    }


def test_seeding_retries_after_a_primary_change(single_member: Any, settings: WorkloadSettings) -> None:
    """The driver retries a retryable write once; a second stepdown is the seeding's to retry."""
    with single_member.client(**settings.driver.client_kwargs()) as client:
        client.admin.command(_stepped_down(3))
        report = seed_corpus(client, settings)
        db = client[settings.database]
        assert report.documents[USERS] == CORPUS.users == db[USERS].count_documents({})
        assert db[PROMPTS].count_documents({}) == CORPUS.prompts


def test_seeding_that_keeps_failing_is_one_line(single_member: Any, settings: WorkloadSettings) -> None:
    with single_member.client(**settings.driver.client_kwargs()) as client:
        client.admin.command(_stepped_down("alwaysOn"))
        try:
            with pytest.raises(SeedingError) as failed:
                seed_corpus(client, settings, retry_for_s=1.0)
        finally:
            client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    message = str(failed.value)
    assert message.startswith("seeding users: bulk write failed: ")
    assert (
        "write concern error: Primary stepped down while waiting for replication (PrimarySteppedDown, 189)"
        in (message)
    )
    assert "attempts in 1 s" in message
    assert "\n" not in message and "$clusterTime" not in message and "errorLabels" not in message
