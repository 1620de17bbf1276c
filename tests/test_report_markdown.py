"""summary.md: the run's verdict, SLO table, fault anatomy lines and data loss, safe as Markdown."""

from __future__ import annotations

import re
from pathlib import Path

from analysis_helpers import kill_primary_run
from test_report_html import PAYLOAD, hostile_dir

from reports.analyse import analyse
from reports.markdown import fenced, run_summary, text
from reports.synthetic.generator import GeneratorSpec, generate_run

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def table_rows(md: str, header_start: str) -> list[list[str]]:
    lines = md.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[first + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in _UNESCAPED_PIPE.split(line)[1:-1]])
    return rows


def test_text_escapes_html_and_markdown_punctuation() -> None:
    assert text("<b>x</b> | y") == r"&lt;b&gt;x&lt;/b&gt; \| y"
    assert text("a_b*c[d](e)`f`") == r"a\_b\*c\[d\]\(e\)\`f\`"
    assert text("two\nlines\t here") == "two lines here"
    assert text(r"back\slash") == r"back\\slash"


def test_a_fence_is_longer_than_any_backtick_run_inside() -> None:
    assert fenced("hubchaos run x.yaml") == "```\nhubchaos run x.yaml\n```"
    assert fenced("echo ````x````").startswith("`````\n")


def test_the_summary_of_a_kill_primary_run(tmp_path: Path) -> None:
    b = kill_primary_run()
    b.slos = {"checks": {"failover_errors": None}}  # a passing run: its surfaced errors not judged
    summary = analyse(b.write_to(tmp_path / "run"))
    md = run_summary(summary)
    assert md.startswith("## ✅ synthetic: PASS\n")
    rows = table_rows(md, "|  | SLO |")
    assert [r[1] for r in rows] == [text(r.slo) for r in summary.results]
    assert all(r[0] == "✅ pass" and len(r) == 6 for r in rows)
    (fault,) = summary.faults
    line = next(x for x in md.splitlines() if x.startswith("- **f1**"))
    # In time order: throughput (binned by the second) is back before the recovery point.
    assert line.startswith(
        "- **f1** kill primary → m0 (single_node): detected +0.01 s → new primary elected +1.50 s "
        "(m1, term 2, between \\+1.25 s and \\+1.50 s) → driver found it +1.90 s → "
        "throughput recovered +2.00 s → writes recovered +2.01 s"
    )
    assert f"RTO {fault.rto_s:.2f} s" in line
    assert "- Acknowledged writes lost: **0** of" in md
    assert "```\nhubchaos run scenarios/synthetic.yaml\n```" in md


def test_a_failing_run_explains_its_failures_and_lists_lost_writes(tmp_path: Path) -> None:
    spec = GeneratorSpec(events=100_000, first_fault_s=20, fault_every_s=20, heal_after_s=5, lost_per_fault=8)
    generated = generate_run(tmp_path / "gen", spec)
    summary = analyse(generated.run_dir)
    md = run_summary(summary)
    assert md.startswith("## ❌ synthetic-scale: FAIL\n")
    failed = [r for r in table_rows(md, "|  | SLO |") if r[0] == "❌ fail"]
    assert failed and all(r[5] for r in failed)  # an explanation for each failure
    assert f"- Acknowledged writes lost: **{len(generated.lost)}** of" in md
    lost_line = next(x for x in md.splitlines() if x.startswith("- Lost: "))
    assert lost_line.count("local-") == 10 and lost_line.endswith(f"and {len(generated.lost) - 10} more")


def test_nothing_from_the_run_becomes_markup(tmp_path: Path) -> None:
    summary = analyse(hostile_dir(tmp_path))
    md = run_summary(summary)
    # A fenced block shows its content as code, never as markup: the command stays exact there.
    assert f"```\nhubchaos run '{PAYLOAD}.yaml'\n```" in md
    outside = re.sub(r"```.*?```", "", md, flags=re.DOTALL)
    assert PAYLOAD not in outside and "<" not in outside
    assert "&lt;script&gt;" in outside
    for row in table_rows(md, "|  | SLO |"):
        assert len(row) == 6, row  # a | in a string did not add a cell
    assert "- **f2** pause region:&lt;script&gt;" in md and ": not injected (refused: &lt;script&gt;" in md
