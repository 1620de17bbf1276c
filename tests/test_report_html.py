"""report.html and summary.md rendered from synthetic run directories: content, escaping, images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from analysis_helpers import kill_primary_run
from report_support import check_report, parse

from contract import rundir
from contract.errors import AnalysisError
from contract.rundir import ErrorClass
from reports.analyse import analyse, write_outputs
from reports.html import render_report
from reports.summary import Summary
from reports.synthetic.builder import RunBuilder
from reports.synthetic.generator import GeneratorSpec, generate_run

PAYLOAD = "<script>window.__pwned=1</script>"
ESCAPED = "&lt;script&gt;window.__pwned=1&lt;/script&gt;"


def hostile_run() -> RunBuilder:
    """A kill-primary run whose strings try to smuggle markup into the report: an operation
    name, an error class, a fault's heal error and target, and a second fault that failed to
    inject with a script in its error. `$` would start a formula in matplotlib."""
    b = kill_primary_run()
    op = f"{PAYLOAD}.$x$"
    b.series(op, 0, 60, every=0.5, duration_ms=30.0)
    b.series(op, 31, 31.5, every=0.1, ok=False, error_class=PAYLOAD)  # type: ignore[arg-type]
    heal = next(f for f in b.faults if f.action == "heal")
    heal.outcome, heal.error = "error", f"heal failed: {PAYLOAD}"
    b.fault("f2", 50.0, kind="pause", target=f"region:{PAYLOAD}", outcome="error")
    b.faults[-1].error = f"refused: {PAYLOAD} & 'quotes' \"too\""
    return b


def hostile_dir(tmp_path: Path) -> Path:
    run_dir = hostile_run().write_to(tmp_path / "hostile")
    info = json.loads((run_dir / rundir.RUN_INFO).read_text())
    info["description"] = f"proves nothing {PAYLOAD}"
    info["command"] = ["hubchaos", "run", f"{PAYLOAD}.yaml"]
    (run_dir / rundir.RUN_INFO).write_text(json.dumps(info))
    return run_dir


def test_every_string_from_the_run_is_escaped(tmp_path: Path) -> None:
    run_dir = hostile_dir(tmp_path)
    summary = analyse(run_dir)
    html = render_report(run_dir, summary)
    check_report(html, summary)
    assert PAYLOAD not in html and "<script" not in html
    # Description, command, fault target and error, heal error, operation, error class, SLO id.
    assert html.count(ESCAPED) >= 7
    assert f"refused: {ESCAPED} &amp; &#39;quotes&#39; &#34;too&#34;" in html
    assert f"heal failed: {ESCAPED}" in html
    classes = [row for row in parse(html).tables["errors"] if PAYLOAD in row]
    assert classes and classes[0][1] == f"{PAYLOAD}.$x$"  # the parsed text is the raw string


def test_a_kill_primary_report_shows_the_fault_anatomy(tmp_path: Path) -> None:
    run_dir = kill_primary_run().write_to(tmp_path / "run")
    summary = analyse(run_dir)
    html = render_report(run_dir, summary)
    page = check_report(html, summary)
    (f,) = summary.faults
    assert f.election is not None and f.rediscovery is not None and f.rto_s is not None
    moments = [(row[0], row[1]) for row in page.tables["faults"] if len(row) == 4]
    assert moments == [  # in time order
        ("injected", "+0.00 s"),
        ("detected", "+0.01 s"),
        ("new primary elected", "+1.50 s"),
        ("driver found it", "+1.90 s"),
        ("throughput recovered", "+2.00 s"),
        ("writes recovered", f"+{f.rto_s:.2f} s"),
    ]
    svg = html[html.index("<svg") : html.index("</svg>")]
    for label in ("injected +0.00 s", "new primary elected +1.50 s", "driver found it +1.90 s"):
        assert label in svg
    assert "f1 anatomy: injected → detected → new primary elected" in svg
    assert "m1 (term 1 → 2)" in html
    assert "hubchaos run scenarios/synthetic.yaml" in html


def test_a_generated_run_lists_the_first_hundred_writes_with_the_total(tmp_path: Path) -> None:
    spec = GeneratorSpec(events=200_000, first_fault_s=20, fault_every_s=30, heal_after_s=10, outage_s=3)
    generated = generate_run(tmp_path / "gen", spec)
    summary = analyse(generated.run_dir)
    html = render_report(generated.run_dir, summary)
    page = check_report(html, summary)
    assert len(summary.faults) == 3 and summary.data_loss is not None
    indeterminate = summary.data_loss.indeterminate_present + summary.data_loss.indeterminate_absent
    assert indeterminate > 100
    assert f"The first 100 of {indeterminate:,} resolved indeterminate writes" in html
    rows = [r for r in page.tables["data-loss"] if r[-1] in ("present", "absent")]
    assert len(rows) == 100
    assert all(r[1] != "-" and r[2].startswith("d") for r in rows)  # details found in the ledger
    lost = [r for r in page.tables["data-loss"] if r[0] in generated.lost]
    assert {r[0] for r in lost} == set(generated.lost) and all(r[-1] == "yes" for r in lost)


def test_missing_measurements_are_said_not_drawn(tmp_path: Path) -> None:
    b = RunBuilder()
    b.series("prompts.get", 0, 30, every=0.1)
    run_dir = b.write_to(tmp_path / "bare")  # no probes, canary, faults, ledger or verification
    summary = analyse(run_dir)
    html = render_report(run_dir, summary)
    check_report(html, summary)
    assert "no probe samples: the run recorded no member states." in html
    assert "the run has no canary writes." in html
    assert "The run injected no faults." in html
    assert "Data loss could not be measured" in html


def test_write_outputs_honours_the_scenario_flags(tmp_path: Path) -> None:
    b = kill_primary_run()
    b.slos = {"profile": "ai-hub-production"}
    run_dir = b.write_to(tmp_path / "run")
    write_outputs(run_dir, analyse(run_dir))
    assert (run_dir / rundir.REPORT).is_file() and (run_dir / rundir.SUMMARY_MD).is_file()

    scenario = yaml.safe_load((run_dir / rundir.SCENARIO).read_text())
    scenario["outputs"] = {"html": False, "markdown": True}
    (run_dir / rundir.SCENARIO).write_text(yaml.safe_dump(scenario))
    (run_dir / rundir.REPORT).unlink()
    (run_dir / rundir.SUMMARY_MD).unlink()
    write_outputs(run_dir, analyse(run_dir))
    assert not (run_dir / rundir.REPORT).exists() and (run_dir / rundir.SUMMARY_MD).is_file()

    scenario["outputs"] = {"html": "sometimes"}
    (run_dir / rundir.SCENARIO).write_text(yaml.safe_dump(scenario))
    with pytest.raises(AnalysisError, match=r"^scenario.yaml: outputs.html: Input should be a valid boolean"):
        write_outputs(run_dir, analyse(run_dir))


def test_a_report_renders_from_summary_json_alone(tmp_path: Path) -> None:
    """The summary read back (as `hubchaos report` and CI do) renders the same page."""
    run_dir = kill_primary_run().write_to(tmp_path / "run")
    summary = analyse(run_dir)
    summary.write(run_dir / rundir.SUMMARY)
    again = Summary.read(run_dir / rundir.SUMMARY)
    assert render_report(run_dir, again) == render_report(run_dir, summary)


def test_error_classes_and_latency_rows_are_complete(tmp_path: Path) -> None:
    b = kill_primary_run()
    b.series("vectors.upsert", 0, 60, every=0.5, duration_ms=40.0)
    b.series("vectors.upsert", 30, 31, every=0.1, ok=False, error_class=ErrorClass.NETWORK)
    run_dir = b.write_to(tmp_path / "run")
    summary = analyse(run_dir)
    page = parse(render_report(run_dir, summary))
    latency = {(r[0], r[1]) for r in page.tables["latency"]}
    assert latency == {(r.op, r.phase.value) for r in summary.latency}
    assert summary.errors is not None
    classes = [tuple(r) for r in page.tables["errors"] if len(r) == 4 and r[2] in {"network", "not_primary"}]
    assert classes == [(e.phase.value, e.op, e.error_class, str(e.count)) for e in summary.errors.by_class]


@pytest.mark.filterwarnings("error")
def test_a_tiny_run_with_an_operation_that_never_succeeded_renders(tmp_path: Path) -> None:
    b = RunBuilder()
    b.series("prompts.get", 0, 0.5, every=0.1)
    b.series("vectors.upsert", 0, 0.5, every=0.1, ok=False, error_class=ErrorClass.NETWORK)
    b.probe_round(0.1, {"m0": ("PRIMARY", -1), "m1": None, "m2": ("SECONDARY", 1)})
    b.fault("f1", 0.2, kind="stop", members=[])
    run_dir = b.write_to(tmp_path / "tiny")
    summary = analyse(run_dir)
    assert summary.timeline is not None and len(summary.timeline.start) == 1
    assert [s.p50_ms for s in summary.timeline.latency] == [[10.0], [None]]
    html = render_report(run_dir, summary)
    check_report(html, summary)
    assert "f1 · stop primary → no member" in html
