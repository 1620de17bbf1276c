"""What `hubchaos check-driver` reads: driver options from a connection string, an options object
(the Node.js driver's camelCase, as an application writes its `mongoOptions`), or a scenario's
`workload.driver`; the cluster's election settings from a scenario's target or a live
`replSetGetConfig`.

An options file holds one options object, or several named ones (`mongoOptions:` and
`poolSettings:`), each checked on its own. JSON and YAML both read, and so does most of a
JavaScript object literal pasted as it is (YAML's flow mappings take unquoted keys and single
quotes). Option names match without regard to case, as in connection strings; the Node driver's
nested forms (`writeConcern: {w, j, wtimeout}`, `readPreference: {mode, maxStalenessSeconds}`,
`readConcern: {level}`) are flattened. A name neither driver knows is refused with the file and
the name: the Node driver throws MongoParseError on it at startup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from pymongo import MongoClient
from pymongo.common import URI_OPTIONS_VALIDATOR_MAP
from pymongo.errors import PyMongoError

from chaos.scenario.load import load
from chaos.scenario.model import Scenario
from contract import safeyaml
from contract.driver import Driver, DriverOptions, from_profile, options_from
from contract.errors import ScenarioError, UsageError, describe_validation_error
from reports.drivercheck import REMOVED, ClusterTiming, Load
from reports.slo import FaultClass

# The Node.js driver's options (connection_string.ts) that PyMongo's URI options lack, and
# mongoose's own connect options, which it strips before the driver sees them.
NODE_ONLY = frozenset(
    name.lower()
    for name in [
        "enableOverloadRetargeting",
        "appName",
        "auth",
        "autoEncryption",
        "autoSelectFamily",
        "autoSelectFamilyAttemptTimeout",
        "bsonRegExp",
        "serverApi",
        "checkKeys",
        "dbName",
        "driverInfo",
        "family",
        "fieldsAsRaw",
        "forceServerObjectId",
        "fsync",
        "ignoreUndefined",
        "maxAdaptiveRetries",
        "minInternalBufferSize",
        "minHeartbeatFrequencyMS",
        "monitorCommands",
        "name",
        "noDelay",
        "pkFactory",
        "promoteBuffers",
        "promoteLongs",
        "promoteValues",
        "proxyHost",
        "proxyPassword",
        "proxyPort",
        "proxyUsername",
        "raw",
        "readConcern",
        "runtimeAdapters",
        "serializeFunctions",
        "servername",
        "srvMaxHosts",
        "srvServiceName",
        "ssl",
        "tlsCAFile",
        "tlsCRLFile",
        "tlsCertificateKeyFile",
        "tlsInsecure",
        "writeConcern",
        "wtimeout",
        "zlibCompressionLevel",
        "mongodbLogPath",
        "mongodbLogComponentSeverities",
        "mongodbLogMaxDocumentLength",
        "keepAliveInitialDelay",
        "ca",
        "cert",
        "ciphers",
        "crl",
        "key",
        "passphrase",
        "pfx",
        "localAddress",
        "localPort",
    ]
)
MONGOOSE = frozenset(
    n.lower()
    for n in [
        "bufferCommands",
        "bufferTimeoutMS",
        "autoIndex",
        "autoCreate",
        "user",
        "pass",
        "promiseLibrary",
    ]
)
KNOWN = frozenset(URI_OPTIONS_VALIDATOR_MAP) | NODE_ONLY | MONGOOSE | {"j"}


@dataclass(frozen=True, slots=True)
class OptionSet:
    name: str  # what the output calls it: the connection string, mongoOptions, a scenario's driver
    options: DriverOptions
    driver: Driver  # whose defaults apply to what it leaves unset
    removed: tuple[str, ...] = ()  # options today's drivers refuse (reports.drivercheck.REMOVED)


def from_uri(uri: str, driver: Driver = "pymongo") -> OptionSet:
    """The options of a `mongodb://` or `mongodb+srv://` connection string (its hosts are not
    looked up)."""
    if not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise UsageError(f"{uri!r}: a connection string starts with mongodb:// or mongodb+srv://")
    _, _, query = uri.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
    raw = {key: _scalar(value) for key, value in pairs}
    return _option_set("the connection string", raw, "the connection string", driver)


def from_object(data: dict[str, Any], name: str, where: str, driver: Driver = "node") -> OptionSet:
    """One options object as an application writes it (Node's camelCase)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        lower = str(key).lower()
        if lower == "writeconcern" and isinstance(value, dict):
            flat.update({_WRITE_CONCERN.get(k.lower(), k): v for k, v in value.items()})
        elif lower == "readpreference" and isinstance(value, dict):
            flat["readPreference"] = value.get("mode")
            if "maxStalenessSeconds" in value:
                flat["maxStalenessSeconds"] = value["maxStalenessSeconds"]
        elif lower == "readconcern" and isinstance(value, dict):
            flat["readConcernLevel"] = value.get("level")
        else:
            flat[str(key)] = value
    return _option_set(name, flat, where, driver)


_WRITE_CONCERN = {"j": "journal", "wtimeout": "wtimeoutMS", "wtimeoutms": "wtimeoutMS"}
_ALIASES = {"j": "journal", "wtimeout": "wtimeoutMS"}


def _option_set(name: str, raw: dict[str, Any], where: str, driver: Driver) -> OptionSet:
    gone = tuple(k for k in raw if k.lower() in REMOVED)
    current = {k: v for k, v in raw.items() if k not in gone}
    return OptionSet(name, _options(current, where), driver, gone)


def _options(raw: dict[str, Any], where: str) -> DriverOptions:
    unknown = [k for k in raw if k.lower() not in KNOWN]
    if unknown:
        raise UsageError(
            f"{where}: {', '.join(unknown)}: not an option of PyMongo, the Node.js driver or mongoose "
            "(the Node driver refuses an unknown option with MongoParseError when the client is created)"
        )
    # Deprecated spellings the drivers still take.
    renamed = {_ALIASES.get(k.lower(), k): v for k, v in raw.items()}
    try:
        return options_from(renamed)
    except ValidationError as exc:
        raise UsageError(f"{where}: {describe_validation_error(exc)}") from None


def _scalar(text: str) -> Any:
    """A connection-string value as the drivers read it: true/false, integers, else text."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        return text


def read_options_file(path: Path, driver: Driver = "node") -> list[OptionSet]:
    """The option sets of a JSON/YAML file: one object, or several named ones."""
    data = safeyaml.read(path).data  # JSON is YAML too
    if not isinstance(data, dict) or not data:
        raise UsageError(f"{path}: expected an options object, or named options objects")
    options = KNOWN | REMOVED.keys()
    named = all(isinstance(v, dict) for v in data.values()) and not any(
        str(k).lower() in options for k in data
    )
    if named:
        return [from_object(v, str(k), f"{path}: {k}", driver) for k, v in data.items()]
    return [from_object(data, path.name, str(path), driver)]


def is_scenario(path: Path) -> bool:
    try:
        data = safeyaml.read(path).data
    except ScenarioError:
        return False
    return isinstance(data, dict) and ("workload" in data or "target" in data)


@dataclass(frozen=True, slots=True)
class ScenarioInput:
    options: OptionSet
    cluster: ClusterTiming
    load: Load


def from_scenario(path: Path, overrides: tuple[str, ...] = ()) -> ScenarioInput:
    """A scenario's driver (`workload.driver`), its target's election settings and its load."""
    scenario = load(path, overrides)
    workload = scenario.workload
    workers = max(workload.workers, 1)
    users = max(s.users for s in workload.stages) if workload.stages else workload.users
    cluster, members = _cluster_of(scenario, path)
    return ScenarioInput(
        options=OptionSet(
            f"{path} workload.driver", from_profile(workload.settings.driver.model_dump()), "pymongo"
        ),
        cluster=cluster,
        load=Load(
            concurrency=-(-users // workers),
            instances=workers,
            members=members,
            rto_s=scenario.slos.resolve().rto_for(FaultClass.SINGLE_NODE),
        ),
    )


def cluster_from_scenario(path: Path) -> tuple[ClusterTiming, int]:
    """A scenario target's election settings and member count."""
    return _cluster_of(load(path), path)


def _cluster_of(scenario: Scenario, path: Path) -> tuple[ClusterTiming, int]:
    settings = scenario.target.settings
    timing = ClusterTiming(
        election_timeout_ms=settings.election_timeout_millis,
        heartbeat_interval_ms=settings.heartbeat_interval_millis,
        catch_up_timeout_ms=settings.catch_up_timeout_millis,
        source=f"{path} target",
    )
    return timing, len(scenario.target.members) or 3


def cluster_from_live(uri: str) -> tuple[ClusterTiming, int]:
    """A live replica set's election settings (`replSetGetConfig`)."""
    try:
        with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            config = client.admin.command("replSetGetConfig")["config"]
    except PyMongoError as exc:
        raise UsageError(f"--live: replSetGetConfig failed ({exc})") from None
    settings = config.get("settings", {})
    timing = ClusterTiming(
        election_timeout_ms=int(settings.get("electionTimeoutMillis", 10_000)),
        heartbeat_interval_ms=int(settings.get("heartbeatIntervalMillis", 2_000)),
        catch_up_timeout_ms=int(settings["catchUpTimeoutMillis"])
        if "catchUpTimeoutMillis" in settings
        else None,
        source=f"the live set {config.get('_id', '?')} (config version {config.get('version', '?')})",
    )
    return timing, len(config.get("members", [])) or 3
