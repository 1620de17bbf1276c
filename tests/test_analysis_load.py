"""Bad or missing files in a run directory: one AnalysisError naming the file, never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contract import rundir
from contract.errors import AnalysisError
from reports.analyse import analyse
from reports.load import load_run
from reports.synthetic.builder import RunBuilder


def run_dir(tmp_path: Path) -> Path:
    b = RunBuilder()
    b.series("canary.write", 0, 10, every=0.5, is_write=True)
    b.fault("f1", 3.0, heal=5.0)
    b.fault("f2", 6.0, heal=7.0)
    b.probe_round(1.0, {"m0": ("PRIMARY", 1), "m1": ("SECONDARY", 1)})
    b.discovered(1.0, "worker-1", "m0")
    b.machine(1.0, runnable=1)
    b.verify()
    return b.write_to(tmp_path / "run")


def test_a_complete_run_directory_loads(tmp_path: Path) -> None:
    data = load_run(run_dir(tmp_path))
    assert len(data.events) == 20 and len(data.faults) == 2 and data.absent == []
    assert str(data.events["op"].dtype) == "category"


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match=re.escape("not a run directory")):
        analyse(tmp_path / "nowhere")


@pytest.mark.parametrize("name", [rundir.RUN_INFO, rundir.EVENTS])
def test_required_files_missing(tmp_path: Path, name: str) -> None:
    d = run_dir(tmp_path)
    (d / name).unlink()
    with pytest.raises(AnalysisError, match=f"^{name}: missing from the run directory"):
        analyse(d)


def test_events_never_merged_from_their_shards(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    (d / rundir.EVENTS).unlink()
    (d / rundir.EVENTS_SHARDS).mkdir()
    message = "events.parquet: missing, and its events/ shards were never merged"
    with pytest.raises(AnalysisError, match=re.escape(message)):
        analyse(d)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (rundir.RUN_INFO, "{not json", "run.json: not valid JSON"),
        (rundir.RUN_INFO, '{"run_id": "r"}', "run.json: scenario: Field required (and"),
        (rundir.EVENTS, "garbage", "events.parquet: not a readable Parquet file"),
        (rundir.PROBES, "garbage", "probes.parquet: not a readable Parquet file"),
        (
            rundir.VERIFICATION,
            '{"checked_at": "x"}',
            "verification.json: checked_at: Input should be a valid",
        ),
        (rundir.SCENARIO, "slos: {rpo_s: forever}", "scenario.yaml: slos.rpo_s: Value error, expected a"),
    ],
)
def test_malformed_files_are_named(tmp_path: Path, name: str, content: str, message: str) -> None:
    d = run_dir(tmp_path)
    (d / name).write_text(content)
    with pytest.raises(AnalysisError, match=re.escape(message)):
        analyse(d)


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    table = pq.read_table(d / rundir.EVENTS).drop_columns(["ok", "op"])
    pq.write_table(table, d / rundir.EVENTS)
    with pytest.raises(AnalysisError, match=re.escape("events.parquet: missing column(s) op, ok")):
        analyse(d)


def test_a_column_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    table = pq.read_table(d / rundir.EVENTS)
    table = table.set_column(0, "t_start", pa.array(["x"] * table.num_rows))
    pq.write_table(table, d / rundir.EVENTS)
    with pytest.raises(
        AnalysisError, match=re.escape("events.parquet: column t_start holds string, expected double")
    ):
        analyse(d)


def test_empty_required_values_are_named(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    table = pq.read_table(d / rundir.EVENTS)
    table = table.set_column(5, "ok", pa.array([None] * table.num_rows, pa.bool_()))
    pq.write_table(table, d / rundir.EVENTS)
    with pytest.raises(AnalysisError, match=re.escape("events.parquet: column ok has 20 empty value")):
        analyse(d)


def test_no_events_at_all(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    pq.write_table(rundir.REQUEST_EVENT_SCHEMA.empty_table(), d / rundir.EVENTS)
    with pytest.raises(AnalysisError, match=re.escape("events.parquet: no request events")):
        analyse(d)


def test_a_bad_line_in_the_middle_of_a_jsonl_file_is_named_with_its_line(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    lines = (d / rundir.FAULTS).read_text().splitlines()
    lines[1] = '{"fault_id": "f1", "kind": "kill"'
    (d / rundir.FAULTS).write_text("\n".join(lines) + "\n")
    with pytest.raises(AnalysisError, match=re.escape("faults.jsonl:2: not a JSON object")):
        analyse(d)


def test_a_record_missing_fields_is_named_with_its_line(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    with (d / rundir.DISCOVERY).open("a") as fh:
        fh.write(json.dumps({"t": 5.0}) + "\n")
    with pytest.raises(AnalysisError, match=re.escape("discovery.jsonl:2: kind: Field required")):
        analyse(d)


def test_a_torn_last_line_is_what_a_killed_writer_leaves_and_is_skipped(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    with (d / rundir.FAULTS).open("a") as fh:
        fh.write('{"fault_id": "f3", "kind": "ki')
    data = load_run(d)
    assert [f.fault_id for f in data.faults] == ["f1", "f2"]


def test_an_unreadable_rollback_file_is_named(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    bad = d / "members" / "m0" / "db" / "rollback" / "hub.prompts" / "removed.1.bson"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x05\x00\x00")
    message = "members/m0/db/rollback/hub.prompts/removed.1.bson: not a readable BSON"
    with pytest.raises(AnalysisError, match=re.escape(message)):
        analyse(d)


def test_optional_files_may_all_be_absent(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    optional = [
        rundir.FAULTS,
        rundir.PROBES,
        rundir.DISCOVERY,
        rundir.LEDGER,
        rundir.RESOURCES,
        rundir.VERIFICATION,
    ]
    for name in optional:
        (d / name).unlink()
    data = load_run(d)
    assert data.absent == optional
    assert data.faults == [] and data.probes is None and data.ledger is None and data.resources is None
    summary = analyse(d)
    assert summary.faults == [] and summary.counts.ledger_entries is None
