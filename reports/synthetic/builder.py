"""A run directory written from records given one by one, for tests with hand-computed answers.

    run = RunBuilder()
    run.series("canary.write", 0.0, 10.0, every=0.1, is_write=True)   # times relative to `origin`
    run.fault("f1", 5.0, heal=8.0)
    run.write_to(tmp_path)

Times given to the builder are seconds after `origin`, so tests read like the timelines they
describe; the files hold absolute epoch seconds as real runs do.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import bson
import numpy as np
import pyarrow.parquet as pq
import yaml
from bson import json_util

from contract import rundir
from contract.alerting import AlertRule
from contract.groundtruth import FILE_NAME as GROUND_TRUTH
from contract.rundir import (
    UNREACHABLE,
    AlertsRecord,
    DiscoveryEvent,
    ErrorClass,
    FaultAction,
    FaultEvent,
    LedgerEntry,
    MemberInfo,
    ProbeSample,
    RequestEvent,
    ResourceSample,
    RunInfo,
    Verification,
    WriteStatus,
)

ORIGIN = 1_700_000_000.0


@dataclass
class RunBuilder:
    members: list[str] = field(default_factory=lambda: ["m0", "m1", "m2"])
    origin: float = ORIGIN
    scenario: str = "synthetic"
    run_id: str = "synthetic-run"
    slos: dict[str, Any] | None = None  # the scenario's `slos:` section; None writes no scenario.yaml
    # Other sections of scenario.yaml (target, workload, description); written with `slos`.
    sections: dict[str, Any] = field(default_factory=dict)
    events: list[RequestEvent] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    faults: list[FaultEvent] = field(default_factory=list)
    probes: list[ProbeSample] = field(default_factory=list)
    discovery: list[DiscoveryEvent] = field(default_factory=list)
    resources: list[ResourceSample] = field(default_factory=list)
    verification: Verification | None = None
    rollback: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # file path -> documents
    ground_truth: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # member -> records
    alerts: AlertsRecord | None = None  # an alert drill's Prometheus answers (see `fired`)

    def host(self, member: str) -> str:
        return f"127.0.0.1:{27017 + self.members.index(member)}"

    # --- requests and the ledger ----------------------------------------------------------
    def request(
        self,
        t: float,
        duration_ms: float = 10.0,
        op: str = "prompts.get",
        *,
        ok: bool = True,
        is_write: bool = False,
        error_class: ErrorClass | None = None,
        error: str | None = None,
        worker: str = "local",
    ) -> RequestEvent:
        """`error`: the exception's text (default: names the class)."""
        if not ok and error_class is None:
            error_class = ErrorClass.NOT_PRIMARY
        event = RequestEvent(
            t_start=self.origin + t,
            t_end=self.origin + t + duration_ms / 1000.0,
            duration_ms=duration_ms,
            op=op,
            user_class="HubUser",
            ok=ok,
            is_write=is_write,
            error_class=None if ok else str(error_class),
            error=None if ok else error or f"synthetic {error_class}",
            worker=worker,
        )
        self.events.append(event)
        return event

    def write(
        self,
        t: float,
        duration_ms: float = 10.0,
        op: str = "prompts.create",
        *,
        ok: bool = True,
        error_class: ErrorClass | None = None,
        error: str | None = None,
        write_id: str | None = None,
        doc_id: str | None = None,
        token: str | None = None,
        collection: str = "prompts",
        worker: str = "local",
    ) -> LedgerEntry:
        """A write request and its ledger entry: acked when ok, indeterminate after a network
        error, failed otherwise."""
        event = self.request(
            t, duration_ms, op, ok=ok, is_write=True, error_class=error_class, error=error, worker=worker
        )
        if ok:
            status = WriteStatus.ACKED
        elif event.error_class == ErrorClass.NETWORK:
            status = WriteStatus.INDETERMINATE
        else:
            status = WriteStatus.FAILED
        number = len(self.ledger)
        entry = LedgerEntry(
            write_id=write_id or f"w{number}",
            collection=collection,
            op="insert",
            doc_id=doc_id or f"d{number}",
            id_type="str",
            write_concern="majority",
            t_start=event.t_start,
            status=str(status),
            t_ack=event.t_end if ok else None,
            token=token or f"tok{number}",
            user_class="HubUser",
            worker=worker,
        )
        self.ledger.append(entry)
        return entry

    def series(
        self,
        op: str,
        start: float,
        end: float,
        *,
        every: float,
        duration_ms: float = 10.0,
        ok: bool = True,
        is_write: bool = False,
        error_class: ErrorClass | None = None,
        worker: str = "local",
    ) -> None:
        """Requests starting every `every` seconds in [start, end)."""
        for t in np.arange(start, end - 1e-9, every):
            if is_write:
                self.write(float(t), duration_ms, op, ok=ok, error_class=error_class, worker=worker)
            else:
                self.request(float(t), duration_ms, op, ok=ok, error_class=error_class, worker=worker)

    # --- faults, probes, discovery, verification ------------------------------------------
    def fault(
        self,
        fault_id: str,
        inject: float,
        heal: float | None = None,
        *,
        kind: str = "kill",
        target: str = "primary",
        members: list[str] | None = None,
        primary: str | None = "m0",
        outcome: str = "ok",
        params: dict[str, Any] | None = None,
    ) -> None:
        hit = members if members is not None else [self.members[0]]
        for action, t in ((FaultAction.INJECT, inject), (FaultAction.HEAL, heal)):
            if t is None:
                continue
            failed = action is FaultAction.INJECT and outcome != "ok"
            self.faults.append(
                FaultEvent(
                    fault_id=fault_id,
                    kind=kind,
                    action=str(action),
                    target=target,
                    members=hit,
                    t_wall=self.origin + t,
                    t_mono=t,
                    outcome="error" if failed else "ok",
                    primary=primary,
                    error="synthetic injection failure" if failed else None,
                    params=dict(params or {}),
                )
            )

    def probe_round(
        self,
        t: float,
        states: dict[str, tuple[str, int] | None],
        lag: dict[str, float] | None = None,
        optimes: dict[str, tuple[int, float]] | None = None,
    ) -> None:
        """Each member answering about itself (state, term); None: it did not answer. The
        primary's answer also describes every other member (`view`), with the given lag.
        `optimes`: members' last applied optimes as `view` takes them."""
        primary = next((m for m, s in states.items() if s is not None and s[0] == "PRIMARY"), None)
        for member, state in states.items():
            if state is None:
                self.probes.append(
                    ProbeSample(
                        t=self.origin + t,
                        observer=member,
                        reachable=False,
                        member=member,
                        state="(not reachable)",
                    )
                )
                continue
            self.probes.append(
                ProbeSample(
                    t=self.origin + t,
                    observer=member,
                    reachable=True,
                    member=self.host(member),
                    state=state[0],
                    health=1,
                    term=state[1],
                    lag_s=(lag or {}).get(member, 0.0),
                    primary=self.host(primary) if primary else None,
                    **self._optime((optimes or {}).get(member)),
                )
            )
        if primary is not None:
            others = {m: ("SECONDARY" if s else UNREACHABLE, (lag or {}).get(m, 0.0) if s else None)
                      for m, s in states.items() if m != primary}  # fmt: skip
            self.view(t, primary, others, term=states[primary][1], optimes=optimes)  # type: ignore[index]

    def view(
        self,
        t: float,
        primary: str,
        members: dict[str, tuple[str, float | None]],
        *,
        term: int = 1,
        observer: str | None = None,
        optimes: dict[str, tuple[int, float]] | None = None,
    ) -> None:
        """`observer`'s answer (the primary's own by default) describing other members: (state,
        lag) each; a member in state UNREACHABLE has health 0, as mongod reports one it cannot
        reach. `optimes`: a member's last applied optime as (term, time after `origin`)."""
        for member, (state, lag) in members.items():
            self.probes.append(
                ProbeSample(
                    t=self.origin + t,
                    observer=observer or primary,
                    reachable=True,
                    member=self.host(member),
                    state=state,
                    health=0 if state == UNREACHABLE else 1,
                    term=term,
                    lag_s=lag,
                    primary=self.host(primary),
                    **self._optime((optimes or {}).get(member)),
                )
            )

    def _optime(self, optime: tuple[int, float] | None) -> dict[str, Any]:
        """ProbeSample fields of an optime (term, time after `origin`); its timestamp counts
        milliseconds in the increment, so optimes order as their times do."""
        if optime is None:
            return {}
        term, at = optime
        seconds, millis = divmod(round((self.origin + at) * 1000), 1000)
        return {
            "optime": self.origin + at,
            "optime_ts": seconds << 32 | millis,
            "optime_term": term,
            "applied_wall": self.origin + at,
        }

    def machine(self, t: float, *, runnable: int, cpu: float = 1.0, cores: int = 2) -> None:
        """The measuring host's sample at `t`: its run queue and busy cores."""
        at = self.origin + t
        sample = ResourceSample(at, "host", "host", cpu, interval_s=1.0, cores=cores, runnable=runnable)
        self.resources.append(sample)

    def process(self, t: float, source: str, cpu: float, role: str = "load") -> None:
        """One process's sample at `t`: the cores it used over the second before."""
        self.resources.append(ResourceSample(self.origin + t, source, role, cpu, interval_s=1.0))

    def discovered(
        self, t: float, client: str, primary: str | None, *, kind: str = "topology_changed"
    ) -> None:
        self.discovery.append(
            DiscoveryEvent(
                t=self.origin + t,
                kind=kind,
                client=client,
                primary=self.host(primary) if primary else None,
            )
        )

    def server_changed(self, t: float, client: str, member: str, previous: str, new: str) -> None:
        """The client's driver changed its description of `member` (RSPrimary, RSSecondary, Unknown)."""
        self.discovery.append(
            DiscoveryEvent(
                t=self.origin + t,
                kind="server_changed",
                client=client,
                address=self.host(member),
                previous_type=previous,
                new_type=new,
            )
        )

    def verify(
        self,
        acked_missing: list[str] | None = None,
        indeterminate_present: list[str] | None = None,
        indeterminate_absent: list[str] | None = None,
        error: str | None = None,
    ) -> None:
        self.verification = Verification(
            checked_at=self.origin + max((e.t_end - self.origin for e in self.events), default=0.0) + 1,
            read_from=self.host(self.members[0]),
            acked_missing=list(acked_missing or []),
            indeterminate_present=list(indeterminate_present or []),
            indeterminate_absent=list(indeterminate_absent or []),
            failed_present=[],
            error=error,
        )

    def rolled_back(self, member: str, entries: list[LedgerEntry], namespace: str = "hub.prompts") -> None:
        """A rollback file on `member` holding the documents of these ledger writes."""
        self.rollback_file(
            member,
            [{"_id": e.doc_id, rundir.TOKEN_FIELD: e.token, "title": "synthetic"} for e in entries],
            namespace,
        )

    def rollback_file(self, member: str, docs: list[dict[str, Any]], namespace: str = "hub.prompts") -> None:
        path = f"{rundir.MEMBERS}/{member}/db/rollback/{namespace}/removed.{len(self.rollback)}.bson"
        self.rollback[path] = docs

    def logged(self, member: str, t: float, event: str, **fields: Any) -> None:
        """A record in the member's ground-truth log, as `mongoemu.groundtruth` writes it."""
        record = {"t": self.origin + t, "member": self.host(member), "pid": 1, "event": event, **fields}
        self.ground_truth.setdefault(member, []).append(record)

    # --- output ---------------------------------------------------------------------------
    def alert_drill(
        self, start: float, end: float, expect: dict[str, list[str]], **record: Any
    ) -> AlertsRecord:
        """An alert drill's record over [start, end] with no alert fired yet; `record` sets its
        other fields (rules, error, ...)."""
        self.alerts = AlertsRecord(
            prometheus_version="2.42.0",
            scrape_interval_s=1.0,
            evaluation_interval_s=1.0,
            start=self.origin + start,
            end=self.origin + end,
            rules=record.pop("rules", [AlertRule("A", "g", "a.yml", "up == 0", 2.0, 30.0)]),
            expect=expect,
            alerts={"resultType": "matrix", "result": []},
            for_state={"resultType": "matrix", "result": []},
            **record,
        )
        return self.alerts

    def fired(
        self, alert: str, start: float, end: float, *, pending: float | None = None, **labels: str
    ) -> None:
        """`alert` firing at every evaluation (each second) from `start` to `end`; pending since
        `pending` (when given: its ALERTS_FOR_STATE samples)."""
        assert self.alerts is not None, "alert_drill() first"
        own = {"__name__": "ALERTS", "alertname": alert, **labels}
        step = self.alerts.evaluation_interval_s
        times = np.arange(self.origin + start, self.origin + end + step / 2, step)  # `end` included
        self.alerts.alerts["result"].append(
            {"metric": {**own, "alertstate": "firing"}, "values": [[float(t), "1"] for t in times]}
        )
        if pending is not None:
            since = {**own, "__name__": "ALERTS_FOR_STATE"}
            values = [[float(t), str(self.origin + pending)] for t in times]
            self.alerts.for_state["result"].append({"metric": since, "values": values})

    def run_info(self) -> RunInfo:
        times = [e.t_start for e in self.events] or [self.origin]
        return RunInfo(
            run_id=self.run_id,
            scenario=self.scenario,
            description="a synthetic run",
            command=["hubchaos", "run", f"scenarios/{self.scenario}.yaml"],
            started_at=min(times),
            ended_at=max(e.t_end for e in self.events) if self.events else None,
            status="completed",
            backend="synthetic",
            seed=0,
            versions={"hubchaos": "test"},
            members=[MemberInfo(name=m, host=self.host(m)) for m in self.members],
        )

    def write_to(self, run_dir: Path) -> Path:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / rundir.RUN_INFO).write_text(json.dumps(asdict(self.run_info())))
        # The scenario as a drill saves it: its sections, its SLOs and the faults it declares.
        injected = [e for e in self.faults if e.action == FaultAction.INJECT]
        declared = [
            {"at": f"{e.t_wall - self.origin:g}s", "kind": e.kind, "target": e.target} for e in injected
        ]
        if self.slos is not None or self.sections or declared:
            scenario = {"name": self.scenario, **self.sections, "slos": self.slos or {}}
            (run_dir / rundir.SCENARIO).write_text(
                yaml.safe_dump({**scenario, "faults": declared} if declared else scenario)
            )
        pq.write_table(rundir.to_table(self.events, rundir.REQUEST_EVENT_SCHEMA), run_dir / rundir.EVENTS)
        if self.ledger:
            pq.write_table(rundir.to_table(self.ledger, rundir.LEDGER_SCHEMA), run_dir / rundir.LEDGER)
        if self.faults:
            rundir.write_jsonl(run_dir / rundir.FAULTS, self.faults)
        if self.probes:
            pq.write_table(rundir.to_table(self.probes, rundir.PROBE_SCHEMA), run_dir / rundir.PROBES)
        if self.discovery:
            rundir.write_jsonl(run_dir / rundir.DISCOVERY, self.discovery)
        if self.resources:
            table = rundir.to_table(sorted(self.resources, key=lambda r: r.t), rundir.RESOURCE_SCHEMA)
            pq.write_table(table, run_dir / rundir.RESOURCES)
        if self.verification is not None:
            (run_dir / rundir.VERIFICATION).write_text(json.dumps(asdict(self.verification)))
        if self.alerts is not None:
            (run_dir / rundir.ALERTS).write_text(json.dumps(asdict(self.alerts)))
        for member, records in self.ground_truth.items():
            path = run_dir / rundir.MEMBERS / member / "db" / GROUND_TRUTH
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json_util.dumps(r) + "\n" for r in records))
        for relative, docs in self.rollback.items():
            path = run_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"".join(bson.encode(d) for d in docs))
        return run_dir
