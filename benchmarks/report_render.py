"""Time to render the report of synthetic runs of 1M and 10M request events, apart from analysing them.

    python benchmarks/report_render.py                        # 1M and 10M events
    python benchmarks/report_render.py --events 2000000       # other sizes
    python benchmarks/report_render.py --run runs/bench/run-10000000   # a run generated before

Each run is generated (reports.synthetic.generator, as in analysis_scale.py), then two fresh
child processes each do one job, so that their times and peak RSS are theirs alone:

- analyse: load the run directory, analyse it, write summary.json (what `analysis_scale.py`
  measures; here only to have the summary);
- render: read summary.json back, render report.html (plots, fault anatomies, the indeterminate
  writes looked up in the ledger) and summary.md, and write both. Goal: at most 30 s for 10M
  events on 2 cores. `plots` and `ledger` are those two parts timed alone beforehand.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from contract import rundir
from reports.analyse import summarise
from reports.html import render_report
from reports.html.plots import plots
from reports.html.report import LIST_LIMIT
from reports.indeterminate import indeterminate_writes
from reports.load import load_run
from reports.markdown import run_summary
from reports.summary import Summary
from reports.synthetic.generator import GeneratorSpec, generate_run

HEADER = (
    f"{'events':>11} {'faults':>6} {'analyse s':>9} {'plots s':>7} {'ledger s':>8} "
    f"{'render s':>8} {'html MB':>7} {'md KB':>6} {'render RSS MB':>13}"
)
ROW = (
    "{events:>11,} {faults:>6} {analyse_s:>9.1f} {plots_s:>7.1f} {ledger_s:>8.1f} "
    "{render_s:>8.1f} {html_mb:>7.2f} {md_kb:>6.1f} {peak_rss_mb:>13.0f}"
)


def analyse_here(run_dir: Path) -> dict[str, float | int]:
    started = time.perf_counter()
    summary = summarise(load_run(run_dir))
    summary.write(run_dir / rundir.SUMMARY)
    return {"events": summary.counts.requests, "analyse_s": time.perf_counter() - started}


def render_here(run_dir: Path) -> dict[str, float | int]:
    summary = Summary.read(run_dir / rundir.SUMMARY)
    started = time.perf_counter()
    plots(summary)
    plotted = time.perf_counter()
    indeterminate_writes(run_dir, LIST_LIMIT)
    looked_up = time.perf_counter()

    # The figure the goal is about: from summary.json on disk to both files written.
    render_start = time.perf_counter()
    summary = Summary.read(run_dir / rundir.SUMMARY)
    html = render_report(run_dir, summary)
    (run_dir / rundir.REPORT).write_text(html, encoding="utf-8")
    md = run_summary(summary)
    (run_dir / rundir.SUMMARY_MD).write_text(md, encoding="utf-8")
    rendered = time.perf_counter()
    return {
        "faults": len(summary.faults),
        "plots_s": plotted - started,
        "ledger_s": looked_up - plotted,
        "render_s": rendered - render_start,
        "html_mb": len(html.encode()) / 1e6,
        "md_kb": len(md.encode()) / 1e3,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child(job: str, run_dir: Path) -> dict[str, float | int]:
    done = subprocess.run(
        [sys.executable, __file__, f"--{job}", str(run_dir)], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout)


def bench(run_dir: Path) -> dict[str, float | int]:
    return {**child("analyse", run_dir), **child("render", run_dir)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--run", type=Path, nargs="+", help="benchmark these run directories instead")
    parser.add_argument("--analyse", type=Path, help=argparse.SUPPRESS)  # a child's job
    parser.add_argument("--render", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.analyse or args.render:
        print(json.dumps(analyse_here(args.analyse) if args.analyse else render_here(args.render)))
        return

    print(HEADER, flush=True)
    if args.run:
        for run_dir in args.run:
            print(ROW.format(**bench(run_dir)), flush=True)
        return
    with tempfile.TemporaryDirectory() as scratch:
        for events in args.events:
            run_dir = Path(scratch) / f"run-{events}"
            generate_run(run_dir, GeneratorSpec(events=events))
            print(ROW.format(**bench(run_dir)), flush=True)


if __name__ == "__main__":
    main()
