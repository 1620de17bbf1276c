"""How reliably the shipped scenarios pass: each one run N times, one verdict per run.

    python benchmarks/scenario_reliability.py                      # every scenario, 3 runs each
    python benchmarks/scenario_reliability.py --runs 1 --scenario quickstart --scenario stepdown
    python benchmarks/scenario_reliability.py --runs 1 --set soak:workload.duration=5m
    python benchmarks/scenario_reliability.py --json > reliability.json

Each run is `hubchaos run SCENARIO --out DIR` in a fresh process, one at a time. Per run it
prints the verdict (pass, fail with the failed SLOs, unknown with why: the measuring host's
saturation figure when that is the cause), the RTO of each fault, the run's wall time, how busy
the host was while the drill recorded (every process on it: on a shared machine that includes
other work) and how many cores the drill itself used (its own process, Locust workers and local
members, from `resources.parquet`), so a scenario that needs more than the machine has shows it
even on a busy machine. A run that ends without a summary (exit 3) is an `error` with the last
line it printed. Then one line per scenario: passes, unknowns and fails out of its runs.

`--set KEY=VALUE` is passed to every run; `--set SCENARIO:KEY=VALUE` to that scenario's runs
only (sizing one down, e.g. the soak, without shortening the others). Run directories are kept
under `--out` (a new temporary directory by default), each with its console output beside it
(`<scenario>-<run>.log`), for a look at any run that did not pass.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
HUBCHAOS = [sys.executable, "-m", "chaos"]
HOST_ROLE = "host"
WHY_SHOWN = 200  # characters of a run's why in the table (--json keeps it whole)
SATURATED = "measuring host saturated"  # how reports/host.py begins an unknown it caused


@dataclass(slots=True)
class RunRow:
    scenario: str
    run: int
    exit_code: int
    verdict: str  # pass, fail, unknown, or error (no summary)
    why: str  # failed SLOs, the unknowns' reasons, or the error's last line
    rto_s: dict[str, float | None]  # per fault id; None: not recovered or not measured
    duration_s: float
    host_busy: float | None  # mean share of the host's cores busy while the drill recorded
    host_busy_p95: float | None
    drill_cores: float | None  # mean cores used by the drill's own processes
    run_queue: float | None  # the host's median runnable threads
    saturated_windows: list[str] = field(default_factory=list)
    run_dir: str = ""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: Path


def scenarios(directory: Path, wanted: Iterable[str]) -> list[Scenario]:
    """The scenarios under `directory`, by name or file stem when `wanted` names some."""
    found = []
    for path in sorted(directory.glob("*.yaml")):
        name = str((yaml.safe_load(path.read_text()) or {}).get("name") or path.stem)
        found.append(Scenario(name, path))
    wanted = set(wanted)
    unknown = wanted - {s.name for s in found} - {s.path.stem for s in found}
    if unknown:
        raise SystemExit(f"no scenario named {', '.join(sorted(unknown))} in {directory}")
    return [s for s in found if not wanted or s.name in wanted or s.path.stem in wanted]


def overrides_for(scenario: Scenario, sets: Iterable[str]) -> list[str]:
    """`--set` values for one scenario: unscoped ones, and `NAME:KEY=VALUE` ones naming it."""
    out = []
    for item in sets:
        scope, colon, rest = item.partition(":")
        if colon and "=" not in scope:
            if scope in (scenario.name, scenario.path.stem):
                out.append(rest)
        else:
            out.append(item)
    return out


def host_use(resources: pd.DataFrame) -> tuple[float | None, float | None, float | None, float | None]:
    """Mean and p95 share of the host's cores busy, the mean cores of the drill's own processes and
    the host's median run queue.

    The host rows count every process on the machine; the others are the drill's (the hubchaos
    process, Locust workers, local members), summed per second before averaging."""
    if resources.empty:
        return None, None, None, None
    is_host = resources["role"].astype(str) == HOST_ROLE
    host = resources[is_host]
    busy = busy_p95 = queue = None
    if not host.empty and host["cores"].notna().any():
        # A sample's interval is timed by a busy sampler: a share a little over 1 is that jitter.
        share = (host["cpu"].astype(float) / float(host["cores"].dropna().iloc[0])).clip(upper=1.0)
        busy, busy_p95 = float(share.mean()), float(share.quantile(0.95))
    if not host.empty and host["runnable"].notna().any():
        queue = float(host["runnable"].dropna().median())
    own = resources[~is_host]
    drill = None
    if not own.empty:
        per_second = own.groupby(own["t"].astype(float).floordiv(1.0))["cpu"].sum()
        drill = float(per_second.mean())
    return busy, busy_p95, drill, queue


def judged(summary: dict[str, Any]) -> tuple[str, str, dict[str, float | None], list[str]]:
    """Verdict, why, RTO per fault, saturated windows (with their figures).

    Why: the failed SLOs; or for an unknown verdict, the windows a saturated host made unknown
    (with their saturated share), any other reason, and the unknown SLOs whose measurement was
    beyond its target all the same (a saturated host may hide a real miss, or cause one). Then
    the known failures, which do not decide the verdict."""
    verdict = str(summary["verdict"])
    results = summary.get("results") or []
    host = summary.get("host") or {}
    windows = [w for w in host.get("windows") or [] if w.get("saturated")]
    saturated = [f"{w['window']}: {w['figure']}" for w in windows]
    rto = {str(f["fault_id"]): f.get("rto_s") for f in summary.get("faults") or [] if f.get("injected")}
    # A failure the scenario declares known does not decide the verdict; it is shown after the rest.
    known = [f"known failure: {_failed(r)}" for r in results if r.get("known_failure")]
    if verdict == "fail":
        failed = [_failed(r) for r in results if r["verdict"] == "fail" and not r.get("known_failure")]
        return verdict, "; ".join(failed + known), rto, saturated
    if verdict != "unknown":
        return verdict, "; ".join(known), rto, saturated
    unknown = [r for r in results if r["verdict"] == "unknown"]
    parts = []
    if windows:
        shares = ", ".join(f"{w['window']} {(w.get('share') or 0) * 100:.0f} %" for w in windows)
        parts.append(f"host saturated in {shares}")
    reasons = (str(r.get("error") or r["slo"]) for r in unknown)
    parts += dict.fromkeys(reason for reason in reasons if not reason.startswith(SATURATED))
    beyond = [r for r in unknown if r.get("margin") is not None and r["margin"] < 0]
    if beyond:
        parts.append("beyond target meanwhile: " + ", ".join(_misses(beyond)))
    return verdict, "; ".join(parts + known), rto, saturated


def _misses(results: list[dict[str, Any]]) -> list[str]:
    """One per SLO category: the SLO itself, or how many and the worst (by measured / target)."""
    by_category: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_category.setdefault(str(r.get("category") or r["slo"]), []).append(r)
    out = []
    for category, group in by_category.items():
        worst = max(group, key=lambda r: r["measured"] / r["target"] if r["target"] else float("inf"))
        many = f"{len(group)} {category} SLOs, worst {_failed(worst)}"
        out.append(_failed(worst) if len(group) == 1 else many)
    return out


def _failed(result: dict[str, Any]) -> str:
    measured, target, unit = result.get("measured"), result.get("target"), result.get("unit", "")
    if measured is None or target is None:
        return f"{result['slo']} ({result.get('explanation', '')})"
    return f"{result['slo']} {_quantity(measured, unit)} > {_quantity(target, unit)}"


def _quantity(value: float, unit: str) -> str:
    return f"{value * 100:.3g} %" if unit == "ratio" else f"{value:.3g} {unit}".rstrip()


def run_once(scenario: Scenario, index: int, sets: list[str], out: Path, workers: int | None) -> RunRow:
    run_dir = out / f"{scenario.name}-{index}"
    args = [*HUBCHAOS, "run", str(scenario.path), "--out", str(run_dir)]
    args += [a for s in sets for a in ("--set", s)]
    if workers is not None:
        args += ["--workers", str(workers)]
    start = time.monotonic()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    duration = time.monotonic() - start
    (out / f"{scenario.name}-{index}.log").write_text(proc.stdout + proc.stderr)
    summary_path = run_dir / "summary.json"
    resources_path = run_dir / "resources.parquet"
    use = host_use(pd.read_parquet(resources_path)) if resources_path.exists() else (None,) * 4
    busy, busy_p95, drill, queue = use
    if summary_path.exists():
        verdict, why, rto, saturated = judged(json.loads(summary_path.read_text()))
    else:
        why = run_error(run_dir) or error_line(proc.stdout + proc.stderr, proc.returncode)
        verdict, rto, saturated = "error", {}, []
    return RunRow(
        scenario=scenario.name,
        run=index,
        exit_code=proc.returncode,
        verdict=verdict,
        why=why,
        rto_s=rto,
        duration_s=duration,
        host_busy=busy,
        host_busy_p95=busy_p95,
        drill_cores=drill,
        run_queue=queue,
        saturated_windows=saturated,
        run_dir=str(run_dir),
    )


def rejudged(row: RunRow) -> RunRow:
    """The row judged again from its run directory, when it is still there."""
    path = Path(row.run_dir) / "summary.json"
    if path.exists():
        row.verdict, row.why, row.rto_s, row.saturated_windows = judged(json.loads(path.read_text()))
    elif (error := run_error(Path(row.run_dir))) is not None:
        row.why = error
    resources = Path(row.run_dir) / "resources.parquet"
    if resources.exists():
        use = host_use(pd.read_parquet(resources))
        row.host_busy, row.host_busy_p95, row.drill_cores, row.run_queue = use
    return row


def run_error(run_dir: Path) -> str | None:
    """What made the run fail, as the drill recorded it in run.json."""
    try:
        return json.loads((run_dir / "run.json").read_text()).get("error")
    except (OSError, ValueError):
        return None


def error_line(output: str, exit_code: int) -> str:
    """The last line of a run's output that names an error, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    named = [line for line in lines if "error" in line.lower()]
    return (named or lines or [f"exit {exit_code}"])[-1]


def _shortened(text: str, limit: int = WHY_SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.0f} %"


def _rto(rto: dict[str, float | None]) -> str:
    if not rto:
        return "-"
    return ", ".join(f"{k} {'none' if v is None else f'{v:.1f} s'}" for k, v in rto.items())


def table(rows: list[RunRow]) -> str:
    """Markdown: one line per run, then one per scenario."""
    lines = [
        "| scenario | run | verdict | RTO | duration | host busy (mean / p95) | run queue "
        "| drill's own cores | why |",
        "| --- | ---: | --- | --- | ---: | --- | ---: | ---: | --- |",
    ]
    for r in rows:
        cores = "-" if r.drill_cores is None else f"{r.drill_cores:.2f}"
        queue = "-" if r.run_queue is None else f"{r.run_queue:g}"
        why = _shortened(r.why).replace("|", "\\|")
        lines.append(
            f"| {r.scenario} | {r.run} | {r.verdict} | {_rto(r.rto_s)} | {r.duration_s:.0f} s "
            f"| {_pct(r.host_busy)} / {_pct(r.host_busy_p95)} | {queue} | {cores} | {why} |"
        )
    lines += ["", "| scenario | runs | pass | unknown | fail | error |", "| --- |" + " ---: |" * 5]
    for name, counts in tally(rows).items():
        lines.append(
            f"| {name} | {sum(counts.values())} | {counts['pass']} | {counts['unknown']} "
            f"| {counts['fail']} | {counts['error']} |"
        )
    return "\n".join(lines)


def tally(rows: list[RunRow]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        counts = out.setdefault(r.scenario, dict.fromkeys(("pass", "unknown", "fail", "error"), 0))
        counts[r.verdict] += 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each scenario (default 3)")
    parser.add_argument(
        "--scenario", action="append", default=[], help="only this scenario (name or file stem)"
    )
    parser.add_argument("--set", action="append", default=[], metavar="[SCENARIO:]KEY=VALUE")
    parser.add_argument("--workers", type=int, default=None, help="passed to hubchaos run")
    parser.add_argument("--scenarios-dir", type=Path, default=SCENARIOS)
    parser.add_argument("--out", type=Path, default=None, help="where run directories are kept")
    parser.add_argument("--json", action="store_true", help="print the runs as JSON instead of the table")
    parser.add_argument(
        "--from-json", type=Path, default=None, metavar="FILE", help="the table of an earlier --json output"
    )  # judged again from the run directories' summaries where they are still there
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.from_json is not None:
        print(table([rejudged(RunRow(**r)) for r in json.loads(args.from_json.read_text())]))
        return 0
    chosen = scenarios(args.scenarios_dir, args.scenario)
    out = args.out or Path(tempfile.mkdtemp(prefix="scenario-reliability-"))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for scenario in chosen:
        sets = overrides_for(scenario, args.set)
        for index in range(1, args.runs + 1):
            row = run_once(scenario, index, sets, out, args.workers)
            rows.append(row)
            print(
                f"{row.scenario} #{row.run}: {row.verdict} in {row.duration_s:.0f} s, "
                f"host busy {_pct(row.host_busy)} {row.why}",
                file=sys.stderr,
                flush=True,
            )
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
    else:
        print(table(rows))
        print(f"\nrun directories: {out}")
    return 0 if all(r.verdict in ("pass", "unknown") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
