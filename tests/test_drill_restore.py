"""The complete-disaster drill end to end, with a three-member set, short stages and short delays:
a backup (snapshot, continuous oplog backup, application export) under load, a marked restore
point, the wipe, the point-in-time restore into the wiped cluster, the load resuming.

What it proves: the restore reproduces the marked point exactly (every w:majority write
acknowledged by then present with its value, none sent after it, counts and dbHash, indexes and
the export equal to the reference read at the point); the restore RTO and RPO are measured; the
backup set is in mongodump's layout and readable by `bson`; one changed byte makes the set
refused before anything is restored.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import bson
import pytest
import yaml
from conftest import ReplicaSet
from drill_support import run_into
from test_drill import hubchaos, judged

from chaos.backup import reference
from chaos.backup.reference import Reference
from contract import rundir
from reports.summary import Summary

ROOT = Path(__file__).parent.parent
SHIPPED = ROOT / "scenarios" / "restore.yaml"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def shortened(path: Path) -> Path:
    """The shipped scenario with acceptance-test sizes: three members, 34 s of load, 1 s slices."""
    data = yaml.safe_load(SHIPPED.read_text())
    data["target"]["members"] = data["target"]["members"][:1] + data["target"]["members"][2:4]
    data["target"]["settings"] = {"electionTimeoutMillis": 1000, "heartbeatIntervalMillis": 200}
    data["workload"] = {
        "seed": 7,
        "corpus": {"users": 40, "prompts": 150, "stores": 4, "vectors_per_store": 10, "embedding_dim": 16},
        # The restore (5-20 s on a busy host) must end before the load does.
        "stages": [
            {"duration": "6s", "users": 4},
            {"duration": "24s", "users": 1},
            {"duration": "4s", "users": 4},
        ],
    }
    backup, mark, wipe, restore = data["runbook"]
    backup.update(at="1s", params={"slice": "1s"})
    mark["at"] = "4s"
    wipe["at"] = "6s"
    restore["operator_delay"] = "1s"
    # No ingest batch runs in so short a load: its latency target would be judged on nothing.
    del data["slos"]["latency_ms"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    return run_into(tmp_path_factory.mktemp("restore"), shortened, timeout=280)


def test_the_restore_reproduces_the_marked_point(
    drill: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, out = drill
    judged(result, out)
    steps = {s.step_id: s for s in rundir.read_jsonl(out / rundir.RUNBOOK, rundir.RunbookEvent)}
    assert [(s.action, s.status) for s in steps.values()] == [
        ("backup", "ok"),
        ("mark", "ok"),
        ("wipe", "ok"),
        ("restore", "ok"),
    ]
    backup, mark, restored = steps["r1"].findings, steps["r2"].findings, steps["r4"].findings
    assert backup["tool"] == "builtin" and backup["documents"] > 0 and backup["problems"] == []
    assert restored["restored_to"] == mark["point"]  # the point, not as far as the backup reached
    assert restored["problem_count"] == 0, restored["problems"]
    assert restored["ledger_writes"] > 0
    assert restored["acked_missing"] == 0 and restored["written_after_present"] == 0
    # The application's clients saw the wiped set's term: the restored primary's must be newer.
    assert restored["term"] > steps["r3"].findings["term"] >= 1
    assert restored["oplog_entries"] > 0  # the point lies after the snapshot: the oplog was replayed
    # The writes the app made after the point are lost by design, and the ledger sees them lost.
    lost = json.loads((out / rundir.VERIFICATION).read_text())["acked_missing"]
    assert lost


def test_the_report_has_a_restore_timeline(drill: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = drill
    summary = Summary.read(out / rundir.SUMMARY)
    [timeline] = summary.restores
    assert [m.label for m in timeline.moments][:2] == ["disaster", "restore started"]
    assert timeline.moments[-1].label == "set back"
    assert timeline.rto_s is not None, timeline.moments
    # No write can succeed before the restored set starts (after the validation); the app may
    # write before the step ends (it still waits for its elections and a healthy set).
    assert timeline.moments[-2].label == "data validated"
    assert timeline.moments[-2].after_s < timeline.rto_s < 900
    # The continuous backup reached within a few slices of the wipe.
    assert timeline.rpo_s is not None and 0 <= timeline.rpo_s < 60
    assert timeline.point_behind_s is not None and timeline.point_behind_s >= 1.5  # mark at 4 s, wipe at 6 s
    judged = {r.category: r for r in summary.results}
    assert {"restore_rto", "restore_rpo", "backup_integrity"} <= set(judged)
    assert judged["backup_integrity"].verdict.value == "pass"
    assert 'id="restore-r4"' in (out / rundir.REPORT).read_text()


def test_the_backup_is_in_mongodumps_layout(drill: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = drill
    dump = out / rundir.BACKUPS / "r1" / "snapshot" / "aihub"
    with (dump / "prompts.bson").open("rb") as fh:
        prompts = list(bson.decode_file_iter(fh))
    assert prompts and all("_id" in p for p in prompts)
    indexes = bson.json_util.loads((dump / "prompts.metadata.json").read_text())["indexes"]
    [text] = [ix for ix in indexes if "weights" in ix]
    assert text["weights"] == {"title": 3, "content": 2, "tags": 1}
    assert list((out / rundir.BACKUPS / "r1" / "oplog").glob("*.bson"))


def test_one_changed_byte_is_refused_before_the_target_is_touched(
    drill: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path, single_member: ReplicaSet
) -> None:
    _, out = drill
    copy = tmp_path / "r1"
    shutil.copytree(out / rundir.BACKUPS / "r1", copy)
    torn = copy / "snapshot" / "aihub" / "prompts.bson"
    data = bytearray(torn.read_bytes())
    data[len(data) // 2] ^= 0x01
    torn.write_bytes(bytes(data))
    refused = hubchaos("restore", copy, "--to", single_member.uri)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "snapshot/aihub/prompts.bson does not match its checksum" in refused.stderr
    assert "Traceback" not in refused.stderr
    with single_member.client() as client:
        assert "aihub" not in client.list_database_names()


def test_the_command_line_restores_the_point_into_a_fresh_set(
    drill: tuple[subprocess.CompletedProcess[str], Path], single_member: ReplicaSet
) -> None:
    _, out = drill
    mark = Reference.model_validate_json((out / rundir.BACKUPS / "marks" / "r2.json").read_bytes())
    restored = hubchaos(
        "restore", out / rundir.BACKUPS / "r1", "--to", single_member.uri, "--until", mark.at.ts
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"restored to {mark.at.ts}:" in restored.stdout
    assert "healthy after" in restored.stdout  # it waited for the restored set
    with single_member.client() as client:
        assert reference.compare(client["aihub"], mark) == []
