"""Workload settings: the production driver profile by default, overridable from a file, the
environment and per user class, with one clear error for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from locustfiles.settings import (
    CorpusSettings,
    DriverProfile,
    MixWeights,
    SettingsError,
    VectorMode,
    WorkloadSettings,
    differences,
    load_settings,
)

PRODUCTION_PROFILE = {
    "readPreference": "primaryPreferred",
    "maxPoolSize": 50,
    "minPoolSize": 5,
    "serverSelectionTimeoutMS": 5000,
    "socketTimeoutMS": 45000,
    "retryWrites": True,
    "retryReads": True,
    "w": "majority",
    "journal": True,
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("HUBCHAOS_"):
            monkeypatch.delenv(name)


def test_default_driver_profile_is_the_production_guides() -> None:
    kwargs = load_settings().driver.client_kwargs()
    assert {k: kwargs[k] for k in PRODUCTION_PROFILE} == PRODUCTION_PROFILE


def test_the_driver_accepts_the_profile() -> None:
    from pymongo import MongoClient

    client = MongoClient("mongodb://127.0.0.1:1/", connect=False, **DriverProfile().client_kwargs())
    try:
        assert client.options.pool_options.max_pool_size == 50
        assert client.write_concern.document == {"w": "majority", "j": True}
        assert client.read_preference.mongos_mode == "primaryPreferred"
        assert client.options.retry_writes and client.options.retry_reads
    finally:
        client.close()


def test_environment_overrides_file_and_file_overrides_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("driver:\n  max_pool_size: 20\n  w: 1\nhub:\n  mix:\n    prompts_get: 3\nseed: 5\n")
    monkeypatch.setenv("HUBCHAOS_DRIVER__MAX_POOL_SIZE", "9")
    monkeypatch.setenv("HUBCHAOS_VECTOR__MODE", "atlas")
    s = load_settings(path)
    assert s.driver.max_pool_size == 9  # environment beats the file
    assert s.driver.w == 1  # the file beats the default, and "1" is a number
    assert s.driver.journal is True  # untouched default survives a partial override
    assert s.hub.mix.prompts_get == 3 and s.hub.mix.prompts_create == MixWeights().prompts_create
    assert s.vector.mode is VectorMode.ATLAS
    assert s.seed == 5


def test_settings_file_from_environment_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hub.json"
    path.write_text('{"database": "hubtest", "corpus": {"prompts": 77}}')
    monkeypatch.setenv("HUBCHAOS_SETTINGS_FILE", str(path))
    s = load_settings()
    assert s.database == "hubtest" and s.corpus.prompts == 77


def test_per_class_driver_overrides(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("ingest:\n  driver: {w: 1, max_pool_size: 10}\n")
    s = load_settings(path)
    assert s.driver_for("canary").read_preference == "primary"  # the canary reads its own writes
    assert s.driver_for("hub").read_preference == "primaryPreferred"
    ingest = s.driver_for("ingest")
    assert (ingest.w, ingest.max_pool_size, ingest.min_pool_size) == (1, 10, 5)
    assert s.driver_for("hub").max_pool_size == 50


def test_vector_mode_names_the_query_operation_and_the_atlas_index() -> None:
    from pymongo import MongoClient

    from locustfiles.corpus import Corpus
    from locustfiles.instrumented import Instrument, WriteIds
    from locustfiles.model import vector_search_index
    from locustfiles.operations import HubOperations

    s = load_settings()
    s.vector.mode = VectorMode.ATLAS
    s.corpus = CorpusSettings(users=10, prompts=10, stores=2, vectors_per_store=2, embedding_dim=64)
    client: MongoClient = MongoClient("mongodb://127.0.0.1:1/", connect=False)
    try:
        ops = HubOperations(
            client.aihub,
            Instrument(None, None, "HubUser", WriteIds("t")),  # type: ignore[arg-type]
            corpus=Corpus(s.corpus, s.seed),
            settings=s,
            rng=np.random.default_rng(0),
            owner="t-u1",
        )
    finally:
        client.close()
    assert "vectors.query.atlas" in ops.operation_names and "vectors.query.knn" not in ops.operation_names
    index = vector_search_index(s).document
    assert index["name"] == "hub_vectors" and index["type"] == "vectorSearch"
    assert index["definition"]["fields"] == [
        {"type": "vector", "path": "embedding", "numDimensions": 64, "similarity": "cosine"},
        {"type": "filter", "path": "storeId"},
    ]


def test_operation_names_of_the_mix() -> None:
    assert set(MixWeights().by_operation()) == {
        "prompts.create",
        "prompts.list_by_category",
        "prompts.get",
        "prompts.update",
        "prompts.delete",
        "prompts.text_search",
        "vectors.upsert",
        "vectors.query",
        "usage.record",
        "users.login",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "driver:\n  max_pool_size: many\n",
            "settings file {path}: driver.max_pool_size: Input should be a valid integer",
        ),
        ("driver:\n  pool: 3\n", "settings file {path}: driver.pool: Extra inputs are not permitted"),
        (
            "hub:\n  driver:\n    max_pool_size: x\n",
            "hub.driver: max_pool_size: Input should be a valid integer",
        ),
        (
            "ingest:\n  driver:\n    max_pool_size: 2\n",
            "ingest.driver: min_pool_size 5 exceeds max_pool_size 2",
        ),
        ("driver:\n  min_pool_size: 60\n", "min_pool_size 60 exceeds max_pool_size 50"),
        (
            "hub:\n  mix: {" + ", ".join(f"{k}: 0" for k in MixWeights().model_dump()) + "}\n",
            "every operation weight is 0",
        ),
        ("driver: [1, 2\n", "settings file {path}, line 2"),
        ("- a\n- b\n", "expected a mapping at the top"),
    ],
)
def test_bad_settings_file_gives_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert message.format(path=path) in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBCHAOS_CANARY__INTERVAL_S", "-1")
    with pytest.raises(
        SettingsError, match=r"environment variable HUBCHAOS_CANARY__INTERVAL_S: canary.interval_s"
    ):
        load_settings()


def test_missing_settings_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"settings file .*nope.yaml: No such file"):
        load_settings(tmp_path / "nope.yaml")


def test_settings_read_back_from_their_dump_differ_only_where_the_environment_overrides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a remote worker checks before it runs the master's settings (locustfiles/join.py)."""
    sent = WorkloadSettings(seed=3, corpus=CorpusSettings(users=10)).model_dump(mode="json")
    assert differences(sent, WorkloadSettings.model_validate(sent).model_dump(mode="json")) == []
    monkeypatch.setenv("HUBCHAOS_DRIVER__MAX_POOL_SIZE", "7")
    monkeypatch.setenv("HUBCHAOS_SEED", "9")
    got = WorkloadSettings.model_validate(sent).model_dump(mode="json")
    assert differences(sent, got) == ["driver.max_pool_size", "seed"]


def test_differences_name_every_path_and_keys_on_one_side() -> None:
    assert differences({"a": {"b": 1, "c": [1]}}, {"a": {"b": 2, "c": [1], "d": 0}}) == ["a.b", "a.d"]
    assert differences(1, 2) == ["(the whole)"]
    assert differences({"x": 1}, None) == ["(the whole)"]
