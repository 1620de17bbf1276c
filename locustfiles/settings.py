"""The workload's one settings object: driver profile, operation mix, corpus, users, limits.

Defaults are the hub's production driver profile (`mongoOptions` of the production guide).
Which user classes run is the hub's three by default; `locustfile` and `user_classes` name
others (see `locustfiles.classes`).
Values come, highest priority first, from `HUBCHAOS_*` environment variables (nested fields
joined by `__`, e.g. `HUBCHAOS_DRIVER__MAX_POOL_SIZE=20`), a YAML or JSON settings file, then
the defaults. Each user class has its own section whose `driver` block overrides single driver
options for that class only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from contract import safeyaml
from contract.driver import GUIDE, PROFILE_NAMES
from contract.errors import ScenarioError

ENV_PREFIX = "HUBCHAOS_"
SETTINGS_FILE_ENV = "HUBCHAOS_SETTINGS_FILE"


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the field and where it came from."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DriverProfile(_Strict):
    """PyMongo options; `None` leaves the driver's own default. The defaults are the production
    guide's `mongoOptions` (`contract.driver.GUIDE`)."""

    read_preference: str = GUIDE.read_preference  # type: ignore[assignment]
    max_pool_size: int = Field(GUIDE.max_pool_size, ge=1)
    min_pool_size: int = Field(GUIDE.min_pool_size, ge=0)
    server_selection_timeout_ms: int = Field(GUIDE.server_selection_timeout_ms, ge=1)
    socket_timeout_ms: int | None = Field(GUIDE.socket_timeout_ms, ge=1)
    connect_timeout_ms: int | None = Field(None, ge=1)
    retry_writes: bool = GUIDE.retry_writes  # type: ignore[assignment]
    retry_reads: bool = GUIDE.retry_reads  # type: ignore[assignment]
    w: int | str = GUIDE.w  # type: ignore[assignment]
    journal: bool | None = GUIDE.journal
    wtimeout_ms: int | None = Field(None, ge=0)
    read_concern: str | None = None
    heartbeat_frequency_ms: int | None = Field(None, ge=500)
    app_name: str = "hubchaos-workload"
    # Anything else MongoClient accepts (tls, compressors, ...), passed through unchanged.
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("w", mode="before")
    @classmethod
    def _numeric_w(cls, value: Any) -> Any:
        # From an environment variable "1" arrives as text; a text w is a tag-set name to the driver.
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return value

    @model_validator(mode="after")
    def _pool_bounds(self) -> DriverProfile:
        if self.min_pool_size > self.max_pool_size:
            raise ValueError(f"min_pool_size {self.min_pool_size} exceeds max_pool_size {self.max_pool_size}")
        return self

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `MongoClient` in the driver's own option names."""
        dumped = self.model_dump(exclude={"options"})
        kwargs = {PROFILE_NAMES[k]: v for k, v in dumped.items() if v is not None}
        kwargs.update(self.options)
        return kwargs

    def overridden(self, overrides: Mapping[str, Any]) -> DriverProfile:
        return DriverProfile.model_validate({**self.model_dump(), **overrides})


class VectorMode(StrEnum):
    KNN = "knn"  # exact k-NN computed by the client over a filtered candidate set
    ATLAS = "atlas"  # `$vectorSearch` against an Atlas Vector Search index


class VectorSettings(_Strict):
    mode: VectorMode = VectorMode.KNN
    k: int = Field(10, ge=1, le=1000)
    num_candidates: int = Field(100, ge=1)  # `$vectorSearch` numCandidates
    index_name: str = "hub_vectors"
    similarity: str = "cosine"


class CorpusSettings(_Strict):
    users: int = Field(1000, ge=1, le=10_000_000)
    prompts: int = Field(10_000, ge=1, le=10_000_000)
    stores: int = Field(100, ge=1, le=1_000_000)
    vectors_per_store: int = Field(40, ge=1, le=100_000)
    embedding_dim: int = Field(384, ge=2, le=8192)
    topics: int = Field(12, ge=1, le=1000)
    noise: float = Field(0.6, ge=0.0)  # noise norm relative to the unit topic centroid
    user_zipf: float = Field(1.1, gt=0.0)  # skew of user activity and prompt ownership
    prompt_zipf: float = Field(0.9, gt=0.0)  # skew of prompt popularity for reads
    batch_size: int = Field(1000, ge=1, le=100_000)  # bulk-load batch when seeding


class MixWeights(_Strict):
    """Relative weights of the hub operations; a weight of 0 leaves an operation out."""

    prompts_create: float = Field(8, ge=0)
    prompts_list_by_category: float = Field(25, ge=0)
    prompts_get: float = Field(25, ge=0)
    prompts_update: float = Field(6, ge=0)
    prompts_delete: float = Field(2, ge=0)
    prompts_text_search: float = Field(10, ge=0)
    vectors_upsert: float = Field(4, ge=0)
    vectors_query: float = Field(10, ge=0)
    usage_record: float = Field(6, ge=0)
    users_login: float = Field(4, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> MixWeights:
        if not any(self.model_dump().values()):
            raise ValueError("every operation weight is 0; give at least one a positive weight")
        return self

    def by_operation(self) -> dict[str, float]:
        """Weights keyed by operation family (`prompts.create`, `vectors.query`, ...)."""
        return {name.replace("_", ".", 1): weight for name, weight in self.model_dump().items()}


class UserClassSettings(_Strict):
    driver: dict[str, Any] = Field(default_factory=dict)  # single driver options for this class only


class HubUserSettings(UserClassSettings):
    weight: int = Field(10, ge=0)  # Locust's class weight
    wait_min_s: float = Field(0.05, ge=0)
    wait_max_s: float = Field(0.25, ge=0)
    mix: MixWeights = Field(default_factory=MixWeights)
    page_size: int = Field(20, ge=1, le=1000)  # prompts per list page and text-search page
    owned_max: int = Field(200, ge=1)  # own prompt ids a user remembers for edits and deletes

    @model_validator(mode="after")
    def _wait_bounds(self) -> HubUserSettings:
        if self.wait_min_s > self.wait_max_s:
            raise ValueError(f"wait_min_s {self.wait_min_s} exceeds wait_max_s {self.wait_max_s}")
        return self


class CanaryUserSettings(UserClassSettings):
    count: int = Field(1, ge=1)  # canary users in the whole run (Locust's fixed_count)
    interval_s: float = Field(0.1, gt=0)  # one write and its read-back per interval
    collection: str = "canary"
    write_concern: int | str = "majority"
    # The canary reads its own write back, so it must read from the primary.
    driver: dict[str, Any] = Field(default_factory=lambda: {"read_preference": "primary"})


class IngestUserSettings(UserClassSettings):
    weight: int = Field(1, ge=0)
    batch_size: int = Field(100, ge=1, le=100_000)
    interval_s: float = Field(1.0, gt=0)  # one bulk insert per interval


class UserClassSpec(_Strict):
    """One user class a workload runs: `module:Class` (or the name of a class of the workload's
    locustfile), Locust's `weight`/`fixed_count` when given, and the class's own settings,
    validated by its `Settings` model when the run starts."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    class_: str = Field(alias="class", pattern=r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")
    weight: int | None = Field(None, ge=0)
    fixed_count: int | None = Field(None, ge=0)
    settings: dict[str, Any] = Field(default_factory=dict)

    def names(self, cls: type) -> bool:
        """Whether this entry is about `cls` (by module:qualname, or by bare class name)."""
        module, sep, name = self.class_.rpartition(":")
        if not sep:
            return self.class_ == cls.__name__
        return (module, name) == (cls.__module__, cls.__qualname__)


class LimitSettings(_Strict):
    """Every user stops by itself when either bound is reached."""

    max_duration_s: float = Field(3600.0, gt=0)
    max_ops_per_user: int = Field(10_000_000, ge=1)


class RecorderSettings(_Strict):
    flush_interval_s: float = Field(1.0, gt=0, le=60)
    max_buffered: int = Field(200_000, ge=1000)  # a writer that falls behind makes callers wait
    # A Locust worker's batches to its master (locustfiles.channel): at most `window` not yet
    # acknowledged, each sent again after `resend_after_s` without an acknowledgement; the
    # master waits `drain_timeout_s` for every worker's last batches when the load stops, and a
    # worker whose master acknowledges nothing for that long with its window full stops sending.
    window: int = Field(8, ge=1, le=1000)
    resend_after_s: float = Field(5.0, gt=0, le=600)
    drain_timeout_s: float = Field(30.0, gt=0, le=3600)


class WorkloadSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    uri: str | None = None  # the target; Locust's --host wins when given
    database: str = "aihub"
    seed: int = 42
    run_dir: Path | None = None  # where shards, ledger and merged files go; None: runs/<time>
    seed_on_start: bool = True  # load the corpus when a test starts, unless it is already there
    # The user classes: every User class of `locustfile` and those of `user_classes`; neither
    # given, the hub's HubUser, CanaryUser and IngestUser.
    locustfile: Path | None = None
    user_classes: list[UserClassSpec] = Field(default_factory=list)
    driver: DriverProfile = Field(default_factory=DriverProfile)
    corpus: CorpusSettings = Field(default_factory=CorpusSettings)
    vector: VectorSettings = Field(default_factory=VectorSettings)
    hub: HubUserSettings = Field(default_factory=HubUserSettings)
    canary: CanaryUserSettings = Field(default_factory=CanaryUserSettings)
    ingest: IngestUserSettings = Field(default_factory=IngestUserSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    recorder: RecorderSettings = Field(default_factory=RecorderSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file's values, which arrive as init arguments.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _class_drivers(self) -> WorkloadSettings:
        for name in ("hub", "canary", "ingest"):
            try:
                self.driver_for(name)
            except ValidationError as exc:
                raise ValueError(f"{name}.driver: {_first_error(exc)}") from None
        return self

    @field_validator("locustfile")
    @classmethod
    def _locustfile_exists(cls, path: Path | None) -> Path | None:
        # Checked when the settings are read (hubchaos validate too); imported only by a run.
        if path is not None and not path.is_file():
            raise ValueError(f"no such file: {path}")
        return path

    def driver_for(self, section: str | None) -> DriverProfile:
        """The driver profile of one user class: the common profile with its section's
        overrides applied (a class without a section uses the common profile)."""
        if section is None:
            return self.driver
        user: UserClassSettings = getattr(self, section)
        return self.driver.overridden(user.driver)

    def user_class_spec(self, cls: type) -> UserClassSpec | None:
        """The `user_classes` entry about `cls`, if any."""
        return next((spec for spec in self.user_classes if spec.names(cls)), None)


def _first_error(exc: ValidationError) -> str:
    """pydantic's first error as `field.path: message` (or the message alone)."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _env_name(loc: tuple[Any, ...]) -> str:
    return ENV_PREFIX + "__".join(str(p) for p in loc).upper()


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise SettingsError(f"settings file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else safeyaml.load(text, str(path))
    except json.JSONDecodeError as exc:
        raise SettingsError(f"settings file {path}, line {exc.lineno}: {exc.msg}") from None
    except ScenarioError as exc:
        line = f", line {exc.line}" if exc.line is not None else ""
        raise SettingsError(f"settings file {path}{line}: {exc.problem}") from None
    except RecursionError:  # the JSON parser's own recursion
        raise SettingsError(f"settings file {path}: nested too deeply") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"settings file {path}: expected a mapping at the top, got {type(data).__name__}")
    return data


def load_settings(path: Path | str | None = None) -> WorkloadSettings:
    """Settings from the environment and an optional YAML/JSON file (`HUBCHAOS_SETTINGS_FILE`).

    Raises `SettingsError` with one line naming the field and its source.
    """
    if path is None and os.environ.get(SETTINGS_FILE_ENV):
        path = os.environ[SETTINGS_FILE_ENV]
    file_path = Path(path) if path is not None else None
    data = _read_file(file_path) if file_path is not None else {}
    try:
        return WorkloadSettings(**data)
    except ValidationError as exc:
        loc = tuple(exc.errors()[0]["loc"])
        names = [_env_name(loc[:n]) for n in range(len(loc), 0, -1)]
        env_name = next((name for name in names if name in os.environ), None)
        if env_name is not None:
            source = f"environment variable {env_name}"
        elif file_path is not None:
            source = f"settings file {file_path}"
        else:
            source = "settings"
        raise SettingsError(f"{source}: {_first_error(exc)}") from None
