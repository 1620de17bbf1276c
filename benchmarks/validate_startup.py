"""Cold start of `hubchaos validate`: wall time of the whole command, and what it imports.

    python benchmarks/validate_startup.py                    # every shipped scenario, 7 rounds
    python benchmarks/validate_startup.py --rounds 15 scenarios/quickstart.yaml
    python benchmarks/validate_startup.py --compare /tmp/old  # also an older checkout, same rounds

Each round starts fresh processes (nothing cached in memory but the OS's file cache): first
`python -c pass`, the interpreter's own start-up and the baseline of the same run, then
`python -m chaos validate SCENARIOS`. It prints the median and best wall times, the median CPU
time (user + system, which a busy machine disturbs less than wall time), the ratio to the
baseline, and how many modules the command imported, naming whether Docker, testcontainers,
Locust or gevent were among them (`hubchaos validate` should need none). With `--compare DIR`
(another checkout of the project, e.g. `git worktree add /tmp/old <commit>`), each round also
runs that checkout's command (PYTHONPATH=DIR), so both are measured under the same load.
Goal: under 1 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("docker", "testcontainers", "locust", "gevent", "pandas", "matplotlib")
# Runs the command in-process after recording sys.modules, so the imports can be counted.
PROBE = """
import runpy, sys
sys.argv = ["hubchaos", "validate", *sys.argv[1:]]
try:
    runpy.run_module("chaos", run_name="__main__")
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
print(len(sys.modules), ",".join(heavy) or "-", file=sys.stderr)
"""


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], root: Path = ROOT) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of the command."""
    start, cpu = time.perf_counter(), cpu_of_children()
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run(args, cwd=root, env=env, check=False, capture_output=True)
    return time.perf_counter() - start, cpu_of_children() - cpu


def imports(root: Path, scenarios: list[str]) -> tuple[str, str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *scenarios],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    modules, heavy = probe.stderr.strip().splitlines()[-1].split(" ")
    return modules, heavy


def show(label: str, runs: list[tuple[float, float]], base: float, root: Path, scenarios: list[str]) -> None:
    wall = [w for w, _ in runs]
    median = statistics.median(wall)
    cpu = statistics.median([c for _, c in runs])
    modules, heavy = imports(root, scenarios)
    print(
        f"{label:18} median {median * 1000:6.0f} ms  best {min(wall) * 1000:6.0f} ms  "
        f"cpu {cpu * 1000:6.0f} ms  ratio to baseline {median / base:5.1f}  modules {modules}  heavy: {heavy}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--compare", type=Path, help="another checkout to measure in the same rounds")
    parser.add_argument("scenarios", nargs="*", type=Path)
    opts = parser.parse_args()
    scenarios = [str(p) for p in opts.scenarios] or sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "scenarios").glob("*.yaml")
    )
    command = [sys.executable, "-m", "chaos", "validate", *scenarios]
    check = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if check.returncode != 0:
        sys.exit(f"validate failed ({check.returncode}): {check.stderr.strip()}")
    baseline, runs, older = [], [], []
    for _ in range(opts.rounds):
        baseline.append(timed([sys.executable, "-c", "pass"]))
        runs.append(timed(command))
        if opts.compare is not None:
            older.append(timed(command, opts.compare.resolve()))
    base = statistics.median(w for w, _ in baseline)
    print(f"scenarios: {len(scenarios)}, rounds: {opts.rounds}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'python -c pass':18} median {base * 1000:7.0f} ms")
    show("hubchaos validate", runs, base, ROOT, scenarios)
    if opts.compare is not None:
        show(f"  {opts.compare.name}", older, base, opts.compare.resolve(), scenarios)


if __name__ == "__main__":
    main()
