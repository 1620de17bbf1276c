"""The driver-conformance harness (benchmarks/driver_conformance.py): its record parsing and
summary on known records, and one small PyMongo test module run for real against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchmark_support import load_benchmark

dc = load_benchmark("driver_conformance")


def _rec(test: str, when: str, outcome: str = "", message: str = "") -> dict[str, str]:
    return {"test": test, "when": when, "outcome": outcome, "message": message}


def _phases(test: str, setup: str, call: str | None, teardown: str = "passed") -> list[dict[str, str]]:
    recs = [_rec(test, "start"), _rec(test, "setup", setup, "setup says" if setup == "failed" else "")]
    if call is not None:
        recs.append(_rec(test, "call", call, "call says" if call != "passed" else ""))
    recs.append(_rec(test, "teardown", teardown, "teardown says" if teardown == "failed" else ""))
    return recs


def test_one_outcome_per_test_from_phase_records() -> None:
    records = [
        {"collected": 7},
        *_phases("t::ok", "passed", "passed"),
        *_phases("t::fails", "passed", "failed"),
        *_phases("t::setup_error", "failed", None),
        *_phases("t::teardown_error", "passed", "passed", teardown="failed"),
        *_phases("t::fails_and_teardown", "passed", "failed", teardown="failed"),
        *_phases("t::skipped", "skipped", None),
        _rec("t::running", "start"),
        _rec("t::running", "setup", "passed"),
    ]
    outcomes = {o.test: o for o in dc.outcomes_from_records(records)}
    assert {t: o.outcome for t, o in outcomes.items()} == {
        "t::ok": "passed",
        "t::fails": "failed",
        "t::setup_error": "error",
        "t::teardown_error": "error",
        "t::fails_and_teardown": "failed",
        "t::skipped": "skipped",
    }
    assert outcomes["t::fails"].message == "call says"
    assert outcomes["t::teardown_error"].message == "teardown says"
    assert dc.collected_from_records(records) == 7
    # A module stopped by its timeout: the test that was running counts as an error.
    stopped = {o.test: o for o in dc.outcomes_from_records(records, stopped=True)}
    assert stopped["t::running"].outcome == "error"
    assert "time ran out" in stopped["t::running"].message


def test_pass_rate_counts_only_tests_that_ran() -> None:
    outcomes = [
        dc.TestOutcome(f"t{i}", o) for i, o in enumerate(["passed"] * 3 + ["failed", "skipped", "skipped"])
    ]
    result = dc.ModuleResult("m", ("test_m.py",), collected=8, outcomes=outcomes)
    assert result.ran == 4
    assert result.pass_rate == 0.75
    assert result.not_run == 2
    assert dc.ModuleResult("empty", ()).pass_rate is None
    doc = result.to_json()
    assert (doc["passed"], doc["failed"], doc["errors"], doc["skipped"]) == (3, 1, 0, 2)


def test_summary_table_has_a_row_per_module_and_a_total() -> None:
    a = dc.ModuleResult(
        "a", (), outcomes=[dc.TestOutcome("x", "passed"), dc.TestOutcome("y", "error", "boom")]
    )
    b = dc.ModuleResult("b", (), outcomes=[dc.TestOutcome("z", "skipped")], incomplete="stopped after 5 s")
    table = dc.summary_table([a, b]).splitlines()
    assert table[2] == "| a | 1 | 0 | 1 | 0 | 50.0 % | 0 s |"
    assert table[3] == "| b (stopped after 5 s) | 0 | 0 | 0 | 1 | n/a | 0 s |"
    assert table[4] == "| **total** | 1 | 0 | 1 | 1 | 50.0 % | 0 s |"
    assert "ERROR  y\n       boom" in dc.failure_lines([a, b])


def test_first_error_line_drops_the_reply_dump() -> None:
    text = (
        "def test():\n>   raise X\nE   pymongo.errors.OperationFailure: nope, full error: {'ok': 0}\nE   more"
    )
    assert dc.first_error_line(text) == "pymongo.errors.OperationFailure: nope"
    assert dc.first_error_line("only a last line\n") == "only a last line"
    assert dc.first_error_line("") == ""


def test_records_file_survives_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(_rec("t::a", "call", "passed")) + '\n{"test": "t::b", "wh')
    assert list(dc.read_records(path)) == [_rec("t::a", "call", "passed")]


@pytest.mark.slow
def test_runs_a_pymongo_test_module_against_the_emulator(tmp_path: Path) -> None:
    """PyMongo's read-concern tests, for real: sdist download (cached), 3 members, pytest."""
    tests = dc.driver_tests()
    settings = dc.RunSettings(tests, tmp_path, module_timeout=120, test_timeout=60, election_timeout_ms=2000)
    result = dc.run_module("read_concern", settings, files=("test_read_concern.py",))
    assert result.incomplete == ""
    assert result.collected == len(result.outcomes) > 0
    assert result.count("passed") >= 3, dc.failure_lines([result])
    # Every member was stopped.
    dbpaths = [p for p in (tmp_path / "read_concern" / "set").iterdir() if p.is_dir()]
    assert len(dbpaths) == 3
    assert not any(_alive(p) for p in dbpaths)


def _alive(dbpath: Path) -> bool:
    from chaos.backends.processes import MemberProcess

    return MemberProcess(dbpath.name, "127.0.0.1", 1, dbpath).alive


def test_default_host_tests_are_skipped_when_another_process_holds_27017(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Item:
        def __init__(self, nodeid: str) -> None:
            self.nodeid, self.markers = nodeid, []

        def add_marker(self, marker: object) -> None:
            self.markers.append(marker)

    items = [
        Item("test_retryable_writes.py::TestErrorPropagationAfterEncounteringMultipleErrors::test_01"),
        Item("x::y"),
    ]
    monkeypatch.setenv(dc.DEFAULT_PORT_ENV, "1")
    dc.pytest_collection_modifyitems(items, None)
    assert [len(i.markers) for i in items] == [0, 0]
    monkeypatch.setenv(dc.DEFAULT_PORT_ENV, "0")
    dc.pytest_collection_modifyitems(items, None)
    assert [len(i.markers) for i in items] == [1, 0]
    assert "27017" in items[0].markers[0].kwargs["reason"]
