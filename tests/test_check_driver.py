"""`hubchaos check-driver` and the rules behind it: the guide's option sets, connection strings
with every timeout and pool option the drivers document, scenarios, a live set's
replSetGetConfig, and the real Node.js driver refusing the options it reports as removed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from chaos.cli import main
from contract.driver import GUIDE, DriverOptions
from reports.drivercheck import REMOVED, ClusterTiming, Finding, Load, Severity, check
from tests.conftest import StartSet
from tests.node_support import NODE_DIR, node_binary

ROOT = Path(__file__).parent.parent
GUIDE_FILE = ROOT / "examples" / "guide" / "mongo-options.yaml"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["check-driver", *map(str, args)], catch_exceptions=False)


def findings(
    options: DriverOptions, cluster: ClusterTiming | None = None, **load: object
) -> dict[str, Finding]:
    return {f.check: f for f in check(options, cluster or ClusterTiming(), Load(**load))}  # type: ignore[arg-type]


# --- the rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selection_ms", "severity"),
    [(5000, Severity.ERROR), (9000, Severity.WARN), (11_000, Severity.WARN), (30_000, Severity.INFO)],
)
def test_selection_against_the_election(selection_ms: int, severity: Severity) -> None:
    # mongod's defaults: 10 s + up to 15 %, from 8 s on an idle set (one heartbeat earlier).
    assert ClusterTiming().election_s() == pytest.approx((8.0, 10.75, 11.5))
    found = findings(DriverOptions(serverSelectionTimeoutMS=selection_ms))["selection_vs_election"]
    assert found.severity is severity


def test_the_guide_profile_predicts_errors_from_the_selection_timeout_to_the_election() -> None:
    found = findings(GUIDE, concurrency=20)["selection_vs_election"]
    assert (found.option, found.value, found.severity) == ("serverSelectionTimeoutMS", "5000", Severity.ERROR)
    assert found.figure == "5 s < election 8.0-11.5 s"
    assert found.window_s == pytest.approx((5.0, 10.75))
    assert "up to ≈ 2 per concurrent request stream per failover, ≈ 40 at most for this load" in found.reason
    assert found.scenario == "primary-kill" and "selection_timeout" in found.error_classes


def test_a_client_side_operation_timeout_bounds_selection_too() -> None:
    found = findings(DriverOptions(serverSelectionTimeoutMS=30_000, timeoutMS=3000))["selection_vs_election"]
    assert (found.option, found.severity) == ("timeoutMS", Severity.ERROR)


def test_a_polling_driver_learns_of_the_new_primary_a_heartbeat_later() -> None:
    polling = DriverOptions(serverSelectionTimeoutMS=11_000, serverMonitoringMode="poll")
    got = findings(polling)
    assert got["heartbeat"].severity is Severity.WARN and got["heartbeat"].option == "serverMonitoringMode"
    # 11 s covers the election but not the 10 s poll after it.
    assert got["selection_vs_election"].figure == "11 s within election 8.0-11.5 s + up to 10 s of polling"


@pytest.mark.parametrize(
    ("options", "check_id", "severity"),
    [
        (DriverOptions(w=1), "write_concern", Severity.ERROR),
        (DriverOptions(retryWrites=False), "retry_writes", Severity.ERROR),
        (DriverOptions(retryReads=False), "retry_reads", Severity.WARN),
        (DriverOptions(journal=False), "journal", Severity.WARN),
        (DriverOptions(wtimeoutMS=2500), "wtimeout", Severity.WARN),
        (DriverOptions(heartbeatFrequencyMS=400), "heartbeat", Severity.ERROR),
        (DriverOptions(heartbeatFrequencyMS=500), "heartbeat", Severity.INFO),
        (DriverOptions(socketTimeoutMS=0), "socket_timeout", Severity.WARN),
        (DriverOptions(socketTimeoutMS=45_000), "socket_timeout", Severity.WARN),
        (DriverOptions(readPreference="secondaryPreferred"), "read_preference", Severity.WARN),
        (DriverOptions(readPreference="primary"), "read_preference", Severity.INFO),
        (DriverOptions(waitQueueTimeoutMS=1000), "wait_queue", Severity.WARN),
        (DriverOptions(minPoolSize=5), "min_pool", Severity.INFO),
    ],
)
def test_each_rule(options: DriverOptions, check_id: str, severity: Severity) -> None:
    found = findings(options)
    assert check_id in found and found[check_id].severity is severity, found.get(check_id)
    assert (
        found[check_id].scenario
        and (ROOT / "scenarios" / f"{found[check_id].scenario.split()[0]}.yaml").is_file()
    )


def test_the_pool_against_the_load() -> None:
    small = DriverOptions(maxPoolSize=10)
    assert findings(small, concurrency=8)["pool_vs_concurrency"].severity is Severity.INFO
    assert findings(small, concurrency=30)["pool_vs_concurrency"].severity is Severity.WARN
    waiting = DriverOptions(maxPoolSize=10, waitQueueTimeoutMS=500)
    assert findings(waiting, concurrency=30)["pool_vs_concurrency"].severity is Severity.ERROR


def test_the_socket_timeout_against_the_slowest_operation() -> None:
    slow = {"slowest_op": "usage.ingest", "slowest_ms": 800.0, "slowest_source": "p99 in steady state"}
    assert (
        findings(DriverOptions(socketTimeoutMS=500), **slow)["socket_vs_slowest"].severity is Severity.ERROR
    )
    assert (
        findings(DriverOptions(socketTimeoutMS=1000), **slow)["socket_vs_slowest"].severity is Severity.WARN
    )
    assert "socket_vs_slowest" not in findings(DriverOptions(socketTimeoutMS=2000), **slow)


def test_every_finding_names_a_shipped_scenario() -> None:
    every = check(
        DriverOptions(
            w=1,
            retryWrites=False,
            retryReads=False,
            journal=False,
            wtimeoutMS=100,
            waitQueueTimeoutMS=10,
            socketTimeoutMS=10,
            heartbeatFrequencyMS=100,
        ),
        ClusterTiming(),
        Load(concurrency=500, slowest_op="x", slowest_ms=50.0),
    )
    for f in every:
        assert (ROOT / "scenarios" / f"{f.scenario.split()[0]}.yaml").is_file(), f


# --- the command -----------------------------------------------------------------------------


def test_the_guide_options_fail_with_the_election_finding() -> None:
    result = run(GUIDE_FILE)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(
        "mongoOptions (node defaults for what it leaves unset), against mongod's defaults"
    )
    assert lines[1].startswith(
        "  ERROR serverSelectionTimeoutMS=5000: every failover of the primary surfaces"
    )
    assert lines[2] == "        5 s < election 8.0-11.5 s; demonstrated by scenarios/primary-kill.yaml"
    assert lines[-1] == "  1 error(s), 2 warning(s), 2 note(s)"


def test_named_option_sets_are_checked_each_on_its_own(tmp_path: Path) -> None:
    # The guide's two sets as an app writes them; the pool settings here are an example of the
    # shape (a JavaScript object pasted as it is), with an option driver 4.0 removed.
    path = tmp_path / "options.js.yaml"
    path.write_text(
        GUIDE_FILE.read_text()
        + "poolSettings: {\n  maxPoolSize: 50,\n  minPoolSize: 5,\n  maxIdleTimeMS: 30000,\n"
        "  waitQueueTimeoutMS: 5000,\n  poolSize: 50\n}\n"
    )
    result = run(path, "--json")
    assert result.exit_code == 1
    sets = {s["name"]: s for s in json.loads(result.output)["option_sets"]}
    assert set(sets) == {"mongoOptions", "poolSettings"}
    assert sets["mongoOptions"]["options"] == GUIDE.given()
    assert sets["poolSettings"]["options"] == {
        "maxPoolSize": 50,
        "minPoolSize": 5,
        "maxIdleTimeMS": 30000,
        "waitQueueTimeoutMS": 5000,
    }
    pool = {f["check"]: f for f in sets["poolSettings"]["findings"]}
    assert pool["removed_option"]["option"] == "poolSize" and pool["removed_option"]["severity"] == "error"
    assert "use maxPoolSize" in pool["removed_option"]["reason"]
    # The pool set alone leaves serverSelectionTimeoutMS at Node's 30 s default.
    assert pool["selection_vs_election"]["severity"] == "info"


# Every timeout and pool option of PyMongo's and the Node driver's connection-string docs.
EVERY_OPTION = {
    "connectTimeoutMS": 4000,
    "socketTimeoutMS": 30000,
    "serverSelectionTimeoutMS": 20000,
    "waitQueueTimeoutMS": 2000,
    "timeoutMS": 25000,
    "wtimeoutMS": 15000,
    "heartbeatFrequencyMS": 5000,
    "minHeartbeatFrequencyMS": 500,
    "localThresholdMS": 30,
    "maxIdleTimeMS": 60000,
    "maxPoolSize": 40,
    "minPoolSize": 2,
    "maxConnecting": 4,
    "maxStalenessSeconds": 90,
    "serverMonitoringMode": "stream",
    "readPreference": "secondaryPreferred",
    "retryWrites": True,
    "retryReads": True,
    "w": "majority",
    "journal": True,
}


def test_a_connection_string_with_every_timeout_and_pool_option() -> None:
    query = "&".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in EVERY_OPTION.items())
    result = run(f"mongodb://u:p@h1:27017,h2:27017/hub?replicaSet=rs0&authSource=admin&{query}", "--json")
    assert result.exit_code == 0, result.output
    [parsed] = json.loads(result.output)["option_sets"]
    assert parsed["options"] == EVERY_OPTION
    found = {f["check"]: f for f in parsed["findings"]}
    assert found["selection_vs_election"]["option"] == "serverSelectionTimeoutMS"  # 20 s < timeoutMS 25 s
    assert found["heartbeat"]["severity"] == "info"


def test_option_names_match_without_regard_to_case_and_deprecated_spellings_read() -> None:
    result = run("mongodb://h/?SERVERSELECTIONTIMEOUTMS=7000&j=true&wtimeout=100", "--json")
    [parsed] = json.loads(result.output)["option_sets"]
    assert parsed["options"] == {"serverSelectionTimeoutMS": 7000, "journal": True, "wtimeoutMS": 100}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "mongodb://h/?fooBar=1",
            "hubchaos: the connection string: fooBar: not an option of PyMongo, the Node.js driver or "
            "mongoose",
        ),
        (
            "mongodb://h/?maxPoolSize=lots",
            "hubchaos: the connection string: maxPoolSize: Input should be a valid integer",
        ),
        (
            "no-such-file.yaml",
            "hubchaos: no-such-file.yaml: neither a connection string (mongodb://...) nor a file",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(source: str, message: str) -> None:
    result = CliRunner().invoke(main, ["check-driver", source])
    assert result.exit_code == 2
    assert result.output.strip().startswith(message), result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_scenario_is_checked_against_its_own_target_and_load() -> None:
    result = run(ROOT / "scenarios" / "quickstart.yaml", "--json")
    data = json.loads(result.output)
    assert data["cluster"]["election_timeout_ms"] == 1000 and data["load"]["concurrency"] == 10
    assert result.exit_code == 0  # 5 s of selection outlasts a 1 s election
    production = run(ROOT / "scenarios" / "primary-kill.yaml")
    assert production.exit_code == 1
    assert "5 s < election 8.0-11.5 s" in production.output
    assert run(ROOT / "scenarios" / "primary-kill-selection-30s.yaml").exit_code == 0


def test_the_cluster_may_come_from_another_scenario(tmp_path: Path) -> None:
    short = tmp_path / "short.yaml"
    short.write_text("name: short\ntarget: {members: 3, settings: {electionTimeoutMillis: 2000}}\n")
    result = run(GUIDE_FILE, "--cluster", short, "--json")
    data = json.loads(result.output)
    assert data["cluster"]["election_timeout_ms"] == 2000 and data["load"]["members"] == 3
    assert result.exit_code == 0


def test_the_cluster_may_come_from_a_live_set(start_replica_set: StartSet) -> None:
    rs = start_replica_set(1, settings={"electionTimeoutMillis": 5000, "heartbeatIntervalMillis": 1000})
    result = run(GUIDE_FILE, "--live", rs.uri, "--json")
    data = json.loads(result.output)
    assert (data["cluster"]["election_timeout_ms"], data["cluster"]["heartbeat_interval_ms"]) == (5000, 1000)
    assert data["cluster"]["source"].startswith("the live set rs0")
    [options] = data["option_sets"]
    finding = next(f for f in options["findings"] if f["check"] == "selection_vs_election")
    assert finding["severity"] == "warn" and finding["figure"] == "5 s within election 4.0-5.8 s"


def test_the_node_driver_refuses_what_check_driver_calls_removed() -> None:
    node = node_binary()
    script = (
        "const {MongoClient} = require('mongodb');"
        "for (const name of process.argv.slice(1)) {"
        "  try { new MongoClient('mongodb://127.0.0.1:1/', {[name]: 1}); console.log(name + ' accepted'); }"
        "  catch (e) { console.log(name + ' ' + e.name); } }"
    )
    names = [
        "poolSize",
        "useNewUrlParser",
        "useUnifiedTopology",
        "useCreateIndex",
        "useFindAndModify",
        "autoReconnect",
        "reconnectTries",
        "reconnectInterval",
        "bufferMaxEntries",
        "keepAlive",
        "socketTimeout",
        "connectTimeout",
        "minHeartbeatFrequencyMS",
        "maxConnecting",
    ]
    assert {n.lower() for n in names[:12]} == set(REMOVED)
    out = subprocess.run(
        [node, "-e", script, *names], cwd=NODE_DIR, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split("\n")
    verdicts = dict(line.split(" ", 1) for line in out if line)
    assert {n: verdicts[n] for n in names[:12]} == dict.fromkeys(names[:12], "MongoParseError")
    assert verdicts["minHeartbeatFrequencyMS"] == verdicts["maxConnecting"] == "accepted"
