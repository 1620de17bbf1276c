"""Synthetic runs at scale: millions of request events, with faults, probes, driver discovery, a
ledger, a verification and rollback files, written the way a real run writes them (Parquet
with zstd, JSON lines), for benchmarks and for report tests.

The run's shape is known, so its analysis can be checked against it:

- operations arrive at `ops_per_s` from a fixed mix (the canary writes about ten times a second);
- a kill-primary fault hits every `fault_every_s` from `first_fault_s`, healed `heal_after_s`
  later. For `outage_s` after each injection every write fails and so does every other read;
  the next member becomes primary `election_s` after the injection, in a term one higher;
- the `lost_per_fault` last acknowledged non-canary writes before each injection are missing
  after recovery and lie in the old primary's rollback file;
- one operation in 100,000 fails at random in steady state.

Events are generated and written a million at a time, so memory stays flat at any size.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import bson
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from contract import rundir
from contract.rundir import (
    DiscoveryEvent,
    ErrorClass,
    FaultAction,
    FaultEvent,
    MemberInfo,
    RunInfo,
    Verification,
    WriteStatus,
)

ORIGIN = 1_700_000_000.0
BACKGROUND_ERROR_RATE = 1e-5

# name, weight, is a write, median duration in ms
MIX = (
    ("prompts.create", 0.08, True, 12.0),
    ("prompts.list_by_category", 0.20, False, 8.0),
    ("prompts.get", 0.20, False, 4.0),
    ("prompts.update", 0.06, True, 10.0),
    ("prompts.delete", 0.02, True, 9.0),
    ("prompts.text_search", 0.08, False, 25.0),
    ("vectors.upsert", 0.06, True, 15.0),
    ("vectors.query.knn", 0.10, False, 40.0),
    ("usage.record", 0.15, True, 6.0),
    ("users.login", 0.05, False, 5.0),
)
CANARY = (("canary.write", True, 5.0), ("canary.read", False, 3.0))
CANARY_PER_S = 10.0
ERROR_CLASSES = (ErrorClass.NOT_PRIMARY, ErrorClass.NETWORK, ErrorClass.SELECTION_TIMEOUT, ErrorClass.OTHER)
ERROR_WEIGHTS = (0.7, 0.2, 0.05, 0.05)


@dataclass(frozen=True, slots=True)
class GeneratorSpec:
    events: int = 1_000_000
    ops_per_s: float = 2_000.0
    first_fault_s: float = 60.0
    fault_every_s: float = 120.0
    heal_after_s: float = 30.0
    outage_s: float = 3.0
    election_s: float = 2.0
    lost_per_fault: int = 5
    probe_interval_s: float = 0.25
    members: int = 3
    clients: int = 4
    seed: int = 0
    chunk: int = 1_000_000

    @property
    def duration_s(self) -> float:
        return self.events / self.ops_per_s


@dataclass(frozen=True, slots=True)
class GeneratedFault:
    fault_id: str
    t_inject: float
    t_heal: float
    old_primary: str
    new_primary: str
    term: int  # the new primary's


@dataclass(slots=True)
class GeneratedRun:
    """What was generated, to check an analysis against."""

    run_dir: Path
    spec: GeneratorSpec
    faults: list[GeneratedFault]
    lost: list[str] = field(default_factory=list)  # write ids
    events: int = 0
    ledger: int = 0


def generate_run(run_dir: Path, spec: GeneratorSpec) -> GeneratedRun:
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    members = [f"m{i}" for i in range(spec.members)]
    faults = _faults(spec, members)
    run = GeneratedRun(run_dir, spec, faults)
    indeterminate = _requests(run_dir, spec, faults, rng, run)
    _write_faults(run_dir, faults)
    _write_probes(run_dir, spec, faults, members, rng)
    _write_discovery(run_dir, spec, faults, members, rng)
    half = len(indeterminate) // 2
    verification = Verification(
        checked_at=ORIGIN + spec.duration_s + 1,
        read_from=_host(members, members[0]),
        acked_missing=run.lost,
        indeterminate_present=indeterminate[:half],
        indeterminate_absent=indeterminate[half:],
        failed_present=[],
    )
    (run_dir / rundir.VERIFICATION).write_text(json.dumps(asdict(verification)))
    info = RunInfo(
        run_id=f"synthetic-{spec.events}",
        scenario="synthetic-scale",
        description=f"{spec.events:,} synthetic events with a primary kill every {spec.fault_every_s:g} s",
        command=["benchmarks/analysis_scale.py"],
        started_at=ORIGIN,
        ended_at=ORIGIN + spec.duration_s,
        status="completed",
        backend="synthetic",
        seed=spec.seed,
        versions={"hubchaos": "synthetic"},
        members=[MemberInfo(name=m, host=_host(members, m)) for m in members],
    )
    (run_dir / rundir.RUN_INFO).write_text(json.dumps(asdict(info)))
    return run


def _host(members: list[str], member: str) -> str:
    return f"127.0.0.1:{27017 + members.index(member)}"


def _faults(spec: GeneratorSpec, members: list[str]) -> list[GeneratedFault]:
    count = max(0, math.ceil((spec.duration_s - spec.first_fault_s) / spec.fault_every_s))
    faults = []
    for i in range(count):
        t = ORIGIN + spec.first_fault_s + i * spec.fault_every_s
        faults.append(
            GeneratedFault(
                fault_id=f"f{i + 1}",
                t_inject=t,
                t_heal=t + spec.heal_after_s,
                old_primary=members[i % len(members)],
                new_primary=members[(i + 1) % len(members)],
                term=i + 2,
            )
        )
    return faults


def _operations(spec: GeneratorSpec) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    canary_weight = CANARY_PER_S / spec.ops_per_s
    names = [m[0] for m in MIX] + [c[0] for c in CANARY]
    mix = np.array([m[1] for m in MIX])
    weights = np.concatenate([mix / mix.sum() * (1 - 2 * canary_weight), [canary_weight, canary_weight]])
    writes = np.array([m[2] for m in MIX] + [c[1] for c in CANARY])
    medians = np.array([m[3] for m in MIX] + [c[2] for c in CANARY])
    return names, weights, writes, medians


def _requests(
    run_dir: Path,
    spec: GeneratorSpec,
    faults: list[GeneratedFault],
    rng: np.random.Generator,
    run: GeneratedRun,
) -> list[str]:
    """Writes events.parquet and ledger.parquet chunk by chunk; returns the indeterminate write ids."""
    names, weights, writes, medians = _operations(spec)
    injects = np.array([f.t_inject for f in faults])
    canary_write = names.index("canary.write")
    classes = pa.array([str(c) for c in ERROR_CLASSES])
    messages = pa.array([f"synthetic {c}" for c in ERROR_CLASSES])
    ops = pa.array(names)
    collections = pa.array([n.split(".")[0] for n in names])
    ledger_ops = pa.array(
        ["update" if ".update" in n else "delete" if ".delete" in n else "insert" for n in names]
    )
    indeterminate: list[str] = []
    lost_by_fault: dict[int, list[int]] = {}
    next_write = 0
    events_out = pq.ParquetWriter(run_dir / rundir.EVENTS, rundir.REQUEST_EVENT_SCHEMA, compression="zstd")
    ledger_out = pq.ParquetWriter(run_dir / rundir.LEDGER, rundir.LEDGER_SCHEMA, compression="zstd")
    for first in range(0, spec.events, spec.chunk):
        n = min(spec.chunk, spec.events - first)
        t0 = ORIGIN + first / spec.ops_per_s
        t_start = t0 + np.sort(rng.uniform(0, n / spec.ops_per_s, n))
        op = rng.choice(len(names), size=n, p=weights).astype(np.int32)
        is_write = writes[op]
        duration = medians[op] * rng.lognormal(0.0, 0.5, n)
        k = np.searchsorted(injects, t_start, side="right") - 1
        in_outage = (k >= 0) & (t_start < np.where(k >= 0, injects[np.maximum(k, 0)], 0) + spec.outage_s)
        failed = (in_outage & (is_write | (rng.random(n) < 0.5))) | (rng.random(n) < BACKGROUND_ERROR_RATE)
        error_class = np.where(failed, rng.choice(len(ERROR_CLASSES), size=n, p=ERROR_WEIGHTS), -1).astype(
            np.int32
        )
        t_end = t_start + duration / 1000.0
        mask = pa.array(~failed)
        events_out.write_table(
            pa.table(
                {
                    "t_start": t_start,
                    "t_end": t_end,
                    "duration_ms": duration,
                    "op": ops.take(pa.array(op)),
                    "user_class": pa.repeat("HubUser", n),  # type: ignore[attr-defined]
                    "ok": ~failed,
                    "is_write": is_write,
                    "error_class": pc.if_else(
                        mask, pa.nulls(n, pa.string()), classes.take(pa.array(np.maximum(error_class, 0)))
                    ),
                    "error": pc.if_else(
                        mask, pa.nulls(n, pa.string()), messages.take(pa.array(np.maximum(error_class, 0)))
                    ),
                    "response_size": rng.integers(100, 5000, n),
                    "worker": pa.repeat("local", n),  # type: ignore[attr-defined]
                },
                schema=rundir.REQUEST_EVENT_SCHEMA,
            )
        )

        w = np.flatnonzero(is_write)
        numbers = np.arange(next_write, next_write + len(w))
        next_write += len(w)
        write_ids = pc.binary_join_element_wise("local-", pa.array(numbers).cast(pa.string()), "")
        w_class = error_class[w]
        status = np.where(
            w_class < 0, 0, np.where(w_class == ERROR_CLASSES.index(ErrorClass.NETWORK), 1, 2)
        ).astype(np.int32)
        statuses = pa.array([str(WriteStatus.ACKED), str(WriteStatus.INDETERMINATE), str(WriteStatus.FAILED)])
        canary = op[w] == canary_write
        ledger_out.write_table(
            pa.table(
                {
                    "write_id": write_ids,
                    "collection": collections.take(pa.array(op[w])),
                    "op": ledger_ops.take(pa.array(op[w])),
                    "doc_id": pc.binary_join_element_wise("d", pa.array(numbers).cast(pa.string()), ""),
                    "id_type": pa.repeat("str", len(w)),  # type: ignore[attr-defined]
                    "write_concern": pc.if_else(pa.array(canary), "majority", "1"),
                    "t_start": t_start[w],
                    "status": statuses.take(pa.array(status)),
                    "t_ack": pa.array(np.where(status == 0, t_end[w], np.nan), mask=status != 0),
                    "token": pc.binary_join_element_wise("tok", pa.array(numbers).cast(pa.string()), ""),
                    "seq": pa.array(np.where(canary, numbers, 0), mask=~canary),
                    "user_class": pa.repeat("HubUser", len(w)),  # type: ignore[attr-defined]
                    "worker": pa.repeat("local", len(w)),  # type: ignore[attr-defined]
                },
                schema=rundir.LEDGER_SCHEMA,
            )
        )
        indeterminate += [f"local-{x}" for x in numbers[status == 1]]
        # The last acknowledged w:1 writes before each injection in this chunk are lost.
        acked_w1 = (status == 0) & ~canary
        for i, t in enumerate(injects):
            if t_start[0] <= t < t_start[-1]:
                before = np.flatnonzero(acked_w1 & (t_end[w] < t))[-spec.lost_per_fault :]
                lost_by_fault[i] = numbers[before].tolist()
        run.events += n
        run.ledger += len(w)
    events_out.close()
    ledger_out.close()

    for i, numbers_lost in sorted(lost_by_fault.items()):
        run.lost += [f"local-{x}" for x in numbers_lost]
        member = faults[i].old_primary
        path = run_dir / rundir.MEMBERS / member / "db" / "rollback" / "hub.prompts" / f"removed.{i}.bson"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            b"".join(bson.encode({"_id": f"d{x}", rundir.TOKEN_FIELD: f"tok{x}"}) for x in numbers_lost)
        )
    return indeterminate


def _write_faults(run_dir: Path, faults: list[GeneratedFault]) -> None:
    records = []
    for f in faults:
        for action, t in ((FaultAction.INJECT, f.t_inject), (FaultAction.HEAL, f.t_heal)):
            records.append(
                FaultEvent(
                    fault_id=f.fault_id,
                    kind="kill",
                    action=str(action),
                    target="primary",
                    members=[f.old_primary],
                    t_wall=t,
                    t_mono=t - ORIGIN,
                    outcome="ok",
                    primary=f.old_primary if action is FaultAction.INJECT else f.new_primary,
                )
            )
    records.sort(key=lambda r: r.t_wall)
    rundir.write_jsonl(run_dir / rundir.FAULTS, records)


def _write_probes(
    run_dir: Path,
    spec: GeneratorSpec,
    faults: list[GeneratedFault],
    members: list[str],
    rng: np.random.Generator,
) -> None:
    """Every member asked every `probe_interval_s`, each describing all members."""
    m = len(members)
    rounds = ORIGIN + np.arange(0, spec.duration_s, spec.probe_interval_s)
    elections = np.array([f.t_inject + spec.election_s for f in faults])
    elected = np.searchsorted(elections, rounds, side="right")  # elections so far, per round
    primary = elected % m
    term = elected + 1
    # A member is down from a fault on it until its heal.
    down = np.zeros((len(rounds), m), dtype=bool)
    for f in faults:
        during = (rounds >= f.t_inject) & (rounds < f.t_heal)
        down[during, members.index(f.old_primary)] = True
    observer = np.repeat(np.arange(m), m)
    described = np.tile(np.arange(m), m)
    r = np.repeat(np.arange(len(rounds)), m * m)
    obs, mem = np.tile(observer, len(rounds)), np.tile(described, len(rounds))
    observer_down = down[r, obs]
    member_down = down[r, mem]
    is_primary = (primary[r] == mem) & ~member_down
    state = np.where(member_down, 2, np.where(is_primary, 0, 1))
    states = pa.array(["PRIMARY", "SECONDARY", "(not reachable/healthy)"])
    lag = np.where(is_primary | member_down, 0.0, np.floor(rng.exponential(0.3, len(r))))
    keep = ~observer_down | (obs == mem)  # a down observer yields one unreachable row
    names = pa.array(members)
    table = pa.table(
        {
            "t": rounds[r] + obs * 0.002,
            "observer": names.take(pa.array(obs)),
            "reachable": ~observer_down,
            "member": names.take(pa.array(mem)),
            "state": states.take(pa.array(state)),
            "health": (~member_down).astype(np.int64),
            "term": np.where(observer_down, -1, term[r]),
            "optime": rounds[r] - lag,
            "lag_s": pa.array(lag, mask=member_down | observer_down),
            "primary": names.take(pa.array(primary[r])),
            "rtt_ms": rng.uniform(0.2, 2.0, len(r)),
            "optime_ts": (rounds[r] - lag).astype(np.int64) << 32,
            "optime_term": term[r],
            "applied_wall": rounds[r] - lag,
        },
        schema=rundir.PROBE_SCHEMA,
    )
    pq.write_table(table.filter(pa.array(keep)), run_dir / rundir.PROBES, compression="zstd")


def _write_discovery(
    run_dir: Path,
    spec: GeneratorSpec,
    faults: list[GeneratedFault],
    members: list[str],
    rng: np.random.Generator,
) -> None:
    records = []
    for c in range(spec.clients):
        client = f"worker-{c}"
        records.append(
            DiscoveryEvent(
                t=ORIGIN + 0.1, kind="topology_changed", client=client, primary=_host(members, "m0")
            )
        )
        for f in faults:
            lost = f.t_inject + float(rng.uniform(0.05, 0.5))
            found = f.t_inject + spec.election_s + float(rng.uniform(0.05, 0.5))
            records.append(DiscoveryEvent(t=lost, kind="topology_changed", client=client, primary=None))
            records.append(
                DiscoveryEvent(
                    t=found, kind="topology_changed", client=client, primary=_host(members, f.new_primary)
                )
            )
    records.sort(key=lambda e: e.t)
    rundir.write_jsonl(run_dir / rundir.DISCOVERY, records)
