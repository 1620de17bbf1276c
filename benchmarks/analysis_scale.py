"""Time and peak memory to analyse synthetic runs of 1M and 10M request events, or 100M (a soak).

    python benchmarks/analysis_scale.py                       # 1M and 10M events
    python benchmarks/analysis_scale.py --events 100000000    # a day-long soak's worth
    python benchmarks/analysis_scale.py --events 2000000      # other sizes
    python benchmarks/analysis_scale.py --keep runs/bench     # keep the generated runs
    python benchmarks/analysis_scale.py --analyse runs/bench/run-10000000   # one kept run again

Each run is generated first (reports.synthetic.generator: 2,000 ops/s, a primary kill every
120 s, probes every 250 ms, a ledger, a verification and rollback files), then analysed in a
fresh child process so that its peak RSS is the analysis's alone: load the run directory (check
the events, read the ledger, probes and the rest), analyse (the events streamed in row groups),
write summary.json, junit.xml, report.html and summary.md (the "write" column: the report).
Goals: 10M events in at most 60 s and 4 GB; 100M in at most 5 minutes and 4 GB, the report in
at most 60 s. 100M events take about 2 GB of disk in the temporary folder.
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

from reports.analyse import summarise, write_outputs
from reports.load import load_run
from reports.synthetic.generator import GeneratorSpec, generate_run

ROW = (
    "{events:>11,} {faults:>6} {load_s:>7.1f} {analyse_s:>9.1f} {write_s:>7.1f} {total_s:>7.1f}"
    " {peak_rss_mb:>11.0f} {run_dir_mb:>10.0f} {generate_s:>10.1f}"
)


def analyse_here(run_dir: Path) -> dict[str, float | int | str]:
    """Analyse in this process; the figures this benchmark reports."""
    started = time.perf_counter()
    data = load_run(run_dir)
    loaded = time.perf_counter()
    summary = summarise(data)
    analysed = time.perf_counter()
    write_outputs(run_dir, summary)
    written = time.perf_counter()
    return {
        "events": summary.counts.requests,
        "faults": len(summary.faults),
        "verdict": summary.verdict.value,
        "load_s": loaded - started,
        "analyse_s": analysed - loaded,
        "write_s": written - analysed,
        "total_s": written - started,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def bench(events: int, base: Path) -> dict[str, float | int | str]:
    run_dir = base / f"run-{events}"
    started = time.perf_counter()
    generate_run(run_dir, GeneratorSpec(events=events))
    generated = time.perf_counter() - started
    child = subprocess.run(
        [sys.executable, __file__, "--analyse", str(run_dir)], check=True, capture_output=True, text=True
    )
    figures = json.loads(child.stdout)
    size = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
    return {**figures, "generate_s": generated, "run_dir_mb": size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--keep", type=Path, help="generate the runs here and keep them")
    parser.add_argument("--analyse", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.analyse:
        print(json.dumps(analyse_here(args.analyse)))
        return

    header = f"{'events':>11} {'faults':>6} {'load s':>7} {'analyse s':>9} {'write s':>7} {'total s':>7}"
    print(f"{header} {'peak RSS MB':>11} {'run dir MB':>10} {'generate s':>10}")
    with tempfile.TemporaryDirectory() as scratch:
        base = args.keep or Path(scratch)
        for events in args.events:
            r = bench(events, base)
            print(ROW.format(**r), flush=True)


if __name__ == "__main__":
    main()
