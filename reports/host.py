"""The measuring host during the run (`resources.parquet`), and whether it could measure honestly.

On a small machine the load generator, the probes and a local cluster compete for the CPU;
latencies, failover times and lags then describe the machine as much as the database. A second
is *saturated* when the host's run queue held more runnable threads than
`run_queue_per_core` times its cores while the cores were busy `host_cpu` of that second or more
(threads then waited for a CPU), or a load-generating or member process used `process_cpu` of
one core or more (a single-threaded Locust runner or emulator cannot go faster). Verdicts are
computed from judged windows:

    steady state   the steady phase windows together: latency, error rate, replication lag, and
                   every check about no particular fault
    <fault id>     from the fault's injection to the end of its horizon: RTO, throughput recovery

A window with `share` or more of its sampled seconds saturated makes every timed verdict
computed from it *unknown: measuring host saturated (<figure>)* instead of pass or fail
(`unknown_when_saturated`). Data-loss verdicts do not depend on timing and stay as judged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from contract.rundir import ResourceRole
from reports.faults import Fault
from reports.phases import Phase, PhaseWindow
from reports.results import Result
from reports.slo import Saturation
from reports.verdicts import SLOResult, Verdict

STEADY = "steady state"
CAUSES_SHOWN = 3


class SourceUse(Result):
    """What one process (or the host) used over the whole recording."""

    source: str
    role: str
    samples: int
    cpu_mean: float  # cores
    cpu_p95: float
    cpu_max: float
    memory_max_bytes: int | None


class WindowLoad(Result):
    """How saturated the host was in one judged window."""

    window: str  # "steady state" or a fault id
    fault_id: str | None
    seconds: int  # seconds with at least one sample
    saturated_seconds: int
    share: float | None  # saturated_seconds / seconds; None without samples
    saturated: bool  # share reached the limit: the window's verdicts are unknown
    figure: str  # what saturated it, in words


class HostLoad(Result):
    cores: int | None
    samples: int
    limits: Saturation | None
    sources: list[SourceUse]
    windows: list[WindowLoad]

    def window(self, result: SLOResult) -> WindowLoad | None:
        """The window a result was computed from; None for untimed results."""
        if not result.timed:
            return None
        name = result.fault_id or STEADY
        return next((w for w in self.windows if w.window == name), None)


@dataclass(frozen=True, slots=True)
class JudgedWindow:
    name: str
    fault_id: str | None
    spans: tuple[tuple[float, float], ...]


def judged_windows(phases: list[PhaseWindow], faults: list[Fault]) -> list[JudgedWindow]:
    steady = tuple((w.start, w.end) for w in phases if w.phase is Phase.STEADY)
    windows = [JudgedWindow(STEADY, None, steady)]
    windows += [
        JudgedWindow(f.fault_id, f.fault_id, ((f.t_inject, f.horizon_end),)) for f in faults if f.injected
    ]
    return windows


def host_load(resources: pd.DataFrame, windows: list[JudgedWindow], limits: Saturation | None) -> HostLoad:
    """Per source and per judged window; `limits` None judges no window saturated."""
    host = resources[resources["role"].to_numpy() == ResourceRole.HOST.value]
    cores = int(host["cores"].dropna().iloc[0]) if not host.empty and host["cores"].notna().any() else None
    by_source = resources.groupby("source", sort=True, observed=True)
    sources = [_use(str(source), group) for source, group in by_source]
    flags = _flags(resources, cores, limits) if limits is not None else None
    return HostLoad(
        cores=cores,
        samples=len(resources),
        limits=limits,
        sources=sources,
        windows=[_window(resources, flags, w, limits) for w in windows],
    )


def unknown_when_saturated(results: list[SLOResult], host: HostLoad | None) -> list[SLOResult]:
    """Every pass or fail computed from a saturated window, made unknown with the figure."""
    if host is None:
        return results
    out = []
    for r in results:
        window = host.window(r)
        if window is None or not window.saturated or r.verdict is Verdict.UNKNOWN:
            out.append(r)
            continue
        why = f"measuring host saturated ({window.figure})"
        update = {"verdict": Verdict.UNKNOWN, "error": why, "explanation": f"{r.explanation}; unknown: {why}"}
        out.append(r.model_copy(update=update))
    return out


def _use(source: str, rows: pd.DataFrame) -> SourceUse:
    cpu = rows["cpu"].to_numpy(dtype=float)
    memory = rows["memory_bytes"].dropna()
    return SourceUse(
        source=source,
        role=str(rows["role"].iloc[0]),
        samples=len(rows),
        cpu_mean=float(cpu.mean()),
        cpu_p95=float(np.percentile(cpu, 95)),
        cpu_max=float(cpu.max()),
        memory_max_bytes=int(memory.max()) if not memory.empty else None,
    )


def _flags(resources: pd.DataFrame, cores: int | None, limits: Saturation) -> pd.DataFrame:
    """Per sample: its whole second and the limit it broke in words (`cause`), else None."""
    role = resources["role"].to_numpy()
    is_host = role == ResourceRole.HOST.value
    queue_limit = (cores or 0) * limits.run_queue_per_core
    runnable = resources["runnable"].to_numpy(dtype=float)
    host_busy = resources["cpu"].to_numpy(dtype=float) >= (cores or 0) * limits.host_cpu
    over_queue = is_host & (cores is not None) & (runnable > queue_limit) & host_busy
    busy = ~is_host & (resources["cpu"].to_numpy(dtype=float) >= limits.process_cpu)
    queue_cause = f"run queue above {queue_limit:g} threads ({cores} cores busy)"
    process_cause = f"≥ {limits.process_cpu * 100:.0f} % of a core"
    cause = np.where(
        over_queue,
        queue_cause,
        np.where(busy, resources["source"].astype(str).to_numpy() + " at " + process_cause, None),
    )
    return pd.DataFrame({"second": np.floor(resources["t"].to_numpy()), "cause": cause})


def _window(
    resources: pd.DataFrame,
    flags: pd.DataFrame | None,
    window: JudgedWindow,
    limits: Saturation | None,
) -> WindowLoad:
    t = resources["t"].to_numpy()
    inside = np.zeros(len(t), dtype=bool)
    for start, end in window.spans:
        inside |= (t >= start) & (t < end)
    seconds = int(np.unique(np.floor(t[inside])).size)
    if flags is None or limits is None or seconds == 0:
        return WindowLoad(
            window=window.name,
            fault_id=window.fault_id,
            seconds=seconds,
            saturated_seconds=0,
            share=None,
            saturated=False,
            figure="not judged" if seconds else "no samples",
        )
    hits = flags[inside & flags["cause"].notna().to_numpy()]
    saturated_seconds = int(hits["second"].nunique())
    share = saturated_seconds / seconds
    # Each cause's share of the window's seconds, the largest first.
    causes = hits.groupby("cause")["second"].nunique().sort_values(ascending=False, kind="stable")
    named = [f"{cause} in {n / seconds * 100:.0f} %" for cause, n in causes.iloc[:CAUSES_SHOWN].items()]
    figure = f"{share * 100:.0f} % of its {seconds} s saturated" + (": " + "; ".join(named) if named else "")
    return WindowLoad(
        window=window.name,
        fault_id=window.fault_id,
        seconds=seconds,
        saturated_seconds=saturated_seconds,
        share=share,
        saturated=share >= limits.share,
        figure=figure,
    )
