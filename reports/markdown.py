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

from reports.alerts import AlertsSummary
from reports.compare import Comparison
from reports.formatting import clock, count, date, finding, measured, offset, seconds, signed, value
from reports.milestones import milestones
from reports.summary import FaultAnatomy, Summary
from reports.verdicts import Verdict, tally

MARK = {Verdict.PASS: "✅", Verdict.FAIL: "❌", Verdict.UNKNOWN: "❔"}
KNOWN_MARK = "⚠️"  # a failure the scenario declares known: it does not fail the run
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
    counts = tally(summary.results)
    duration = f" ({seconds(run.ended_at - run.started_at)})" if run.ended_at else ""
    lines = [
        f"## {MARK[summary.verdict]} {text(run.scenario)}: {summary.verdict.value.upper()}",
        "",
    ]
    if run.description:
        lines += [text(run.description), ""]
    timing = summary.timing
    if timing is not None and not timing.production:
        lines += [f"> ⏱ **timing: shortened**, not production's: {text('; '.join(timing.shortened))}", ""]
    if timing is not None and timing.driver_changes:
        lines += [f"> Driver: the guide's profile but {text(', '.join(timing.driver_changes))}", ""]
    if run.status == "running":
        lines += ["> **Interrupted run:** run.json still says running: the drill ended unfinished", ""]
    elif run.status == "interrupted":
        lines += [f"> **Interrupted run:** {text(run.error or 'interrupted')}", ""]
    elif run.error:
        lines += [f"> **The run failed:** {text(run.error)}", ""]
    if summary.absent_files:
        absent = ", ".join(text(name) for name in summary.absent_files)
        lines += [f"Absent from the run directory: {absent}; what needs them is unknown.", ""]
    lines += [
        f"Run {text(run.run_id)} · {text(run.backend)} backend, {len(run.members)} members · seed {run.seed}"
        f" · {date(run.started_at)}{duration} · SLO profile {text(summary.slos.profile)}",
        "",
        "Reproduce:",
        "",
        fenced(shlex.join(run.command)),
        "",
        "### SLOs: " + ", ".join(f"{n} {label}" for label, n in counts) if counts else "### SLOs",
        "",
    ]
    lines += _table(
        ["", "SLO", "target", "measured", "margin", "explanation"],
        "llrrrl",
        [
            [
                f"{KNOWN_MARK if r.known_failure else MARK[r.verdict]} {r.label}",
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
    if summary.runbook:
        lines += ["", "### Runbook", ""]
        lines += _table(
            ["step", "action", "operator delay", "duration", "status", "found"],
            "llrrll",
            [
                [
                    text(r.step_id),
                    text(r.action),
                    seconds(r.operator_delay_s),
                    seconds(r.duration_s),
                    text(r.status),
                    text(r.error or finding(r.findings)),
                ]
                for r in summary.runbook
            ],
        )
    lines += ["", "### Measuring host", "", *_host(summary)]
    concerns = [d for d in summary.driver_findings if d.severity != "info"]
    if concerns:
        lines += ["", "### Driver configuration", ""]
        lines += [f"- **{d.severity.value}** {text(d.line())}" for d in concerns]
    lines += ["", "### Data loss", "", *_data_loss(summary)]
    if summary.alerts is not None:
        lines += ["", "### Alerts", "", *_alerts(summary.alerts)]
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
    seen = fault.impact
    impact = ""
    if seen is not None:
        why = "; ".join(text(c.explanation) for c in seen.by_class if c.explanation)
        impact = f" · {count(seen.surfaced)} errors surfaced, {count(seen.stalled)} stalled" + (
            f" ({why})" if why else ""
        )
    return (
        f"{head}: "
        + " → ".join(steps or ["nothing measured"])
        + f" · RTO {seconds(fault.rto_s)}{impact}{tail}"
    )


def _host(summary: Summary) -> list[str]:
    host = summary.host
    if host is None:
        return ["Not recorded (no resources.parquet): the verdicts were not checked against it."]
    return [
        f"- {text(w.window)}: "
        + ("**saturated**, its verdicts unknown" if w.saturated else "judged")
        + f" ({text(w.figure)})"
        for w in host.windows
    ]


def _alerts(alerts: AlertsSummary) -> list[str]:
    if alerts.error is not None:
        return [f"Prometheus could not be asked: {text(alerts.error)}"]
    lines = [
        f"- {text(e.fault_id)} {text(e.kind)}: **{text(e.alert)}** "
        + (f"fired {offset(e.time_to_fire_s)}" if e.time_to_fire_s is not None else "**never fired**")
        for e in alerts.expected
    ]
    alarms = ", ".join(f"{text(i.alert)} at {clock(i.start)}" for i in alerts.false_alarms)
    lines.append(f"- False alarms (fired in steady state): {alarms or 'none'}")
    shortened = [r for r in alerts.rules if r.overridden]
    if shortened:
        changed = ", ".join(
            f"{text(r.name)} {seconds(r.for_s)} (file: {seconds(r.for_in_file_s)})" for r in shortened
        )
        lines.append(f"- `for:` shortened by the scenario: {changed}")
    return lines


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
