"""The fault injector: resolve the target, check it is allowed, journal, inject, record; heal.

    injector = FaultInjector(cluster, Journal(), FaultTimeline(run_dir / "faults.jsonl"))
    with healing(injector):                      # session.py: every exit path heals
        fault = injector.inject(Partition(mode="isolate", target="primary"))
        ...
        injector.heal(fault)                     # or leave it to healing()

Order of an inject: resolve the target against the cluster as it is now (recording the
primary of that moment); refuse a target that is empty or not allowed before anything
changes; write the journal entry (the heal steps) to disk; apply; record a FaultEvent.
A failed apply heals what it did at once. Heals are idempotent and may be repeated.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field

from chaos.backends.base import Cluster
from chaos.backends.health import current_primary
from chaos.errors import FaultError, HealError, HubchaosError, TargetError
from chaos.faults import actions
from chaos.faults.journal import Journal, JournalEntry
from chaos.faults.netfilter import fault_label
from chaos.faults.specs import DESTRUCTIVE, NETWORK, Degrade, FaultSpec, Kill, Partition, Stop
from chaos.faults.steps import HealStep, run_steps
from chaos.faults.targeting import resolve
from chaos.faults.timeline import FaultTimeline
from reports.rundir import FaultAction, FaultEvent


@dataclass
class ActiveFault:
    fault_id: str
    spec: FaultSpec
    members: list[str]
    entry: JournalEntry
    labels: dict[str, object] = field(default_factory=dict)
    healed: bool = False
    timer: threading.Timer | None = field(default=None, repr=False)


class FaultInjector:
    def __init__(
        self,
        cluster: Cluster,
        journal: Journal,
        timeline: FaultTimeline | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.cluster = cluster
        self.journal = journal
        self.timeline = timeline or FaultTimeline()
        self.rng = rng or random.Random()
        self.active: list[ActiveFault] = []
        self._lock = threading.RLock()
        self._count = 0

    def _next_id(self) -> str:
        taken = self.journal.fault_ids(self.cluster.cluster_id) | self.timeline.fault_ids()
        while True:
            self._count += 1
            candidate = f"f{self._count}"
            if candidate not in taken:
                return candidate

    def _event(
        self,
        fault_id: str,
        spec: FaultSpec,
        action: FaultAction,
        members: list[str],
        *,
        primary: str | None,
        at: tuple[float, float] | None = None,
        error: str | None = None,
        extra: dict[str, object] | None = None,
    ) -> FaultEvent:
        """Record one event; `at` is (wall, monotonic) when the action ran (default: now)."""
        t_wall, t_mono = at or (time.time(), time.monotonic())
        event = FaultEvent(
            fault_id=fault_id,
            kind=spec.kind,
            action=action.value,
            target=spec.target,
            members=list(members),
            t_wall=t_wall,
            t_mono=t_mono,
            outcome="error" if error else "ok",
            primary=primary,
            error=error,
            params={**spec.params(), **(extra or {})},
        )
        self.timeline.record(event)
        return event

    # --- inject -----------------------------------------------------------------------------
    def inject(
        self, spec: FaultSpec, fault_id: str | None = None, labels: dict[str, object] | None = None
    ) -> ActiveFault:
        """Inject one fault. TargetError (nothing changed) or FaultError on failure. `labels` go
        into the timeline's params of every event of this fault (e.g. the scenario's slo_class)."""
        with self._lock:
            fault_id = fault_id or self._next_id()
            statuses = self.cluster.status()
            found = current_primary(statuses)
            primary = found.name if found else None
            try:
                members = resolve(spec.target, self.cluster.members, statuses, self.rng)
                self._check_allowed(spec, members)
                label = fault_label(self.cluster.cluster_id, fault_id)
                steps, net = self._plan(spec, members, label)
            except HubchaosError as exc:
                self._event(
                    fault_id, spec, FaultAction.INJECT, [], primary=primary, error=str(exc), extra=labels
                )
                raise
            entry = JournalEntry(
                fault_id=fault_id,
                kind=spec.kind,
                target=spec.target,
                members=members,
                params=spec.params(),
                label=label,
                injected_at=time.time(),
                pid=os.getpid(),
                cluster=self.cluster.state(),
                steps=steps,
            )
            self.journal.record(entry)
            fault = ActiveFault(fault_id, spec, members, entry, labels=dict(labels or {}))
            at = (time.time(), time.monotonic())
            try:
                extra = self._apply(spec, members, label, net)
            except BaseException as exc:
                # Undo whatever part took effect before the failure (or the interrupt).
                run_steps(self.cluster, entry.steps)
                self.journal.remove(entry)
                message = self.cluster.redact(str(exc)) or type(exc).__name__
                inject = FaultAction.INJECT
                self._event(
                    fault_id, spec, inject, members, primary=primary, at=at, error=message, extra=labels
                )
                if isinstance(exc, HubchaosError | KeyboardInterrupt | SystemExit):
                    raise
                raise FaultError(f"{spec.kind} on {', '.join(members)} failed: {message}") from exc
            self.active.append(fault)
            self._event(
                fault_id,
                spec,
                FaultAction.INJECT,
                members,
                primary=primary,
                at=at,
                extra={**fault.labels, **extra},
            )
            restart_after = spec.restart_after_s if isinstance(spec, Kill | Stop) else None
            if restart_after is not None:
                fault.timer = threading.Timer(restart_after, self._heal_quietly, args=(fault,))
                fault.timer.daemon = True
                fault.timer.start()
            return fault

    def _check_allowed(self, spec: FaultSpec, members: list[str]) -> None:
        if spec.kind in DESTRUCTIVE:
            reason = self.cluster.destructive_refusal(members)
            if reason is not None:
                raise TargetError(f"fault {spec.kind} refused: {reason}")
        if spec.kind in NETWORK:
            reason = self.cluster.network_refusal()
            if reason is not None:
                raise TargetError(f"fault {spec.kind} refused: {reason}")

    def _plan(
        self, spec: FaultSpec, members: list[str], label: str
    ) -> tuple[list[HealStep], actions.NetworkPlan | None]:
        if isinstance(spec, Partition):
            net = actions.partition_plan(spec, self.cluster, members)
            return actions.network_steps(list(net.cut), label, shaped=False), net
        if isinstance(spec, Degrade):
            return actions.network_steps(members, label, shaped=True), None
        return actions.plan(spec, members), None

    def _apply(
        self, spec: FaultSpec, members: list[str], label: str, net: actions.NetworkPlan | None
    ) -> dict[str, object]:
        if isinstance(spec, Partition):
            assert net is not None
            actions.apply_partition(self.cluster, net, label)
            return {"cut": {m: len(a) for m, a in net.cut.items()}}
        if isinstance(spec, Degrade):
            methods = {m: actions.apply_degrade(spec, self.cluster, m, label) for m in members}
            return {"via": sorted(set(methods.values()))}
        actions.apply(spec, self.cluster, members, label)
        return {}

    # --- heal -------------------------------------------------------------------------------
    def heal(self, fault: ActiveFault) -> None:
        """Undo one fault (idempotent); HealError lists what could not be undone."""
        with self._lock:
            if fault.healed:
                return
            if fault.timer is not None:
                fault.timer.cancel()
            # The time is when the heal acts; the primary is read after it (asking a dead
            # member first would delay a timed restart by the client's timeout).
            at = (time.time(), time.monotonic())
            errors = run_steps(self.cluster, fault.entry.steps)
            error = "; ".join(errors) or None
            found = current_primary(self.cluster.status())
            primary = found.name if found else None
            heal = FaultAction.HEAL
            self._event(
                fault.fault_id,
                fault.spec,
                heal,
                fault.members,
                primary=primary,
                at=at,
                error=error,
                extra=fault.labels,
            )
            if error:
                raise HealError(f"fault {fault.fault_id} ({fault.spec.kind}) not fully healed: {error}")
            fault.healed = True
            self.active.remove(fault)
            self.journal.remove(fault.entry)

    def _heal_quietly(self, fault: ActiveFault) -> None:
        """The timer's heal (kill/stop with restart_after_s): failures stay in the timeline."""
        try:
            self.heal(fault)
        except HubchaosError:
            pass

    def heal_all(self) -> None:
        """Heal every active fault, newest first; HealError if any could not be healed."""
        errors = []
        with self._lock:
            for fault in reversed(list(self.active)):
                try:
                    self.heal(fault)
                except HealError as exc:
                    errors.append(str(exc))
        if errors:
            raise HealError("; ".join(errors))
