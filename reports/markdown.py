"""Markdown for CI job summaries (GitHub Actions' `$GITHUB_STEP_SUMMARY`, GitLab, a PR comment):
a run's `summary.md` and a comparison of two runs.

GitHub renders HTML inside Markdown, so every string from a run goes through `text()`: HTML
escaped and Markdown's own punctuation backslash-escaped, so neither markup nor a `|` in a table
cell can come from the run. Commands go in fenced blocks longer than any backtick run in them.
"""

from __future__ import annotations

import html
import re
import shlex
from collections import Counter

from reports.compare import Comparison
from reports.formatting import count, date, measured, offset, seconds, signed, value
from reports.milestones import milestones
from reports.summary import FaultAnatomy, Summary
from reports.verdicts import Verdict

MARK = {Verdict.PASS: "✅", Verdict.FAIL: "❌", Verdict.UNKNOWN: "❔"}
LOST_LISTED = 10
_PUNCTUATION = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def text(raw: object) -> str:
    """Any string from a run, safe inline in Markdown and in a table cell."""
    escaped = html.escape(" ".join(str(raw).split()), quote=False)
    return _PUNCTUATION.sub(r"\\\1", escaped)


def fenced(raw: str) -> str:
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", raw)), default=0))
    return f"{fence}\n{raw}\n{fence}"


def _table(header: list[str], align: str, rows: list[list[str]]) -> list[str]:
    """`align`: one character per column, l or r."""
    rule = ["---:" if a == "r" else "---" for a in align]
    return ["| " + " | ".join(cells) + " |" for cells in [header, rule, *rows]]


def run_summary(summary: Summary) -> str:
    run = summary.run
    tally = Counter(r.verdict for r in summary.results)
    duration = f" ({seconds(run.ended_at - run.started_at)})" if run.ended_at else ""
    lines = [
        f"## {MARK[summary.verdict]} {text(run.scenario)}: {summary.verdict.value.upper()}",
        "",
    ]
    if run.description:
        lines += [text(run.description), ""]
    if run.error:
        lines += [f"> **The run failed:** {text(run.error)}", ""]
    lines += [
        f"Run {text(run.run_id)} · {text(run.backend)} backend, {len(run.members)} members · seed {run.seed}"
        f" · {date(run.started_at)}{duration} · SLO profile {text(summary.slos.profile)}",
        "",
        "Reproduce:",
        "",
        fenced(shlex.join(run.command)),
        "",
        "### SLOs: " + ", ".join(f"{tally[v]} {v.value}" for v in Verdict if tally[v])
        if tally
        else "### SLOs",
        "",
    ]
    lines += _table(
        ["", "SLO", "target", "measured", "margin", "explanation"],
        "llrrrl",
        [
            [
                f"{MARK[r.verdict]} {r.verdict.value}",
                text(r.slo),
                value(r.target, r.unit),
                measured(r),
                value(r.margin, r.unit),
                text(r.explanation) if r.verdict is not Verdict.PASS else "",
            ]
            for r in summary.results
        ],
    )
    lines += ["", "### Faults", ""]
    lines += [_fault_line(f) for f in summary.faults] or ["The run injected no faults."]
    lines += ["", "### Data loss", "", *_data_loss(summary)]
    if summary.analyser_errors:
        lines += ["", f"### Analyser errors ({len(summary.analyser_errors)})", ""]
        lines += [
            f"- {text(e.analyser)}" + (f" ({text(e.fault_id)})" if e.fault_id else "") + f": {text(e.error)}"
            for e in summary.analyser_errors
        ]
    return "\n".join(lines) + "\n"


def _fault_line(fault: FaultAnatomy) -> str:
    head = (
        f"- **{text(fault.fault_id)}** {text(fault.kind)} {text(fault.target)} → "
        f"{text(', '.join(fault.members)) or 'no member'} ({fault.fault_class.value})"
    )
    if not fault.injected:
        return f"{head}: not injected ({text(fault.inject_error or 'no reason recorded')})"
    steps = [
        f"{m.label} {offset(m.after_s)}" + (f" ({text(m.detail)})" if m.key == "elected" else "")
        for m in milestones(fault)[1:]
        if m.after_s is not None
    ]
    missing = [m.label for m in milestones(fault) if m.after_s is None]
    tail = f"; not measured: {', '.join(missing)}" if missing else ""
    return f"{head}: " + " → ".join(steps or ["nothing measured"]) + f" · RTO {seconds(fault.rto_s)}{tail}"


def _data_loss(summary: Summary) -> list[str]:
    loss = summary.data_loss
    if loss is None:
        return ["Not measured (no verification or ledger; see the analyser errors)."]
    rpo = seconds(summary.rpo.rpo_s) if summary.rpo else "-"
    lines = [
        f"- Acknowledged writes lost: **{count(loss.lost_acked)}** of {count(loss.acked_writes)} · RPO {rpo}",
        f"- Indeterminate writes: {count(loss.indeterminate)} ({count(loss.indeterminate_present)} present, "
        f"{count(loss.indeterminate_absent)} absent, {count(loss.indeterminate_unresolved)} unresolved)",
    ]
    if loss.lost:
        listed = ", ".join(
            f"{text(w.write_id)} ({text(w.collection or '?')} {text(w.doc_id or '?')})"
            for w in loss.lost[:LOST_LISTED]
        )
        more = f", and {count(loss.lost_acked - LOST_LISTED)} more" if loss.lost_acked > LOST_LISTED else ""
        lines.append(f"- Lost: {listed}{more}")
    return lines


def comparison_summary(comparison: Comparison) -> str:
    base, cand = comparison.baseline, comparison.candidate
    verdict = "REGRESSED" if comparison.regressed else "no regression"
    lines = [
        f"## {'❌' if comparison.regressed else '✅'} {text(cand.scenario)}: {verdict}",
        "",
        f"Baseline {text(base.run_id)} ({base.verdict.value}, {date(base.started_at)}) against candidate "
        f"{text(cand.run_id)} ({cand.verdict.value}, {date(cand.started_at)}).",
        "",
        f"{text(comparison.tolerance.describe())}.",
        "",
    ]
    lines += [f"> {text(w)}" for w in comparison.warnings]
    if comparison.warnings:
        lines.append("")
    lines += _table(
        ["", "SLO", "target", "baseline", "candidate", "change", "why"],
        "llrrrrl",
        [
            [
                row.status.mark,
                text(row.slo),
                value(row.target, row.unit),
                _side(row.baseline_verdict, row.baseline, row.unit),
                _side(row.candidate_verdict, row.candidate, row.unit),
                signed(row.delta, row.unit) + (f" ({row.relative:+.0%})" if row.relative is not None else ""),
                text(row.reason),
            ]
            for row in comparison.rows
        ],
    )
    return "\n".join(lines) + "\n"


def _side(verdict: Verdict | None, measured_value: float | None, unit: str) -> str:
    if verdict is None:
        return "not checked"
    return f"{value(measured_value, unit)} {MARK[verdict]}"
