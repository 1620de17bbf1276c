"""The fault injector: resolve the target, check it is allowed, journal, inject, record; heal.

    injector = FaultInjector(cluster, Journal(), FaultTimeline(run_dir / "faults.jsonl"))
    with healing(injector):                      # session.py: every exit path heals
        fault = injector.inject(parse_fault({"kind": "partition", "target": "primary"}))
        ...
        injector.heal(fault)                     # or leave it to healing()

Order of an inject: resolve the target against the cluster as it is now (recording the
primary of that moment); refuse a target that is empty or not allowed, or a member already
under a fault of the same layer (the kind's `layer`), before anything changes; ask the kind
for its heal steps (`FaultSpec.plan`) and write them to the journal; apply (`FaultSpec.apply`);
record a FaultEvent. The injector knows no kind by name: what a kind does, whether it is
destructive or needs namespaces, is the kind's own (chaos/faults/kinds/). A failed apply heals
what it did at once. Heals are idempotent and may be repeated.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field

from chaos.backends.base import Cluster
from chaos.backends.health import current_primary
from chaos.faults.journal import Journal, JournalEntry
from chaos.faults.kind import FaultContext, FaultSpec
from chaos.faults.netfilter import fault_label
from chaos.faults.steps import run_steps
from chaos.faults.targeting import resolve
from chaos.faults.timeline import FaultTimeline
from chaos.ownership import Owner
from contract.errors import FaultError, HealError, HubchaosError, TargetError
from contract.rundir import FaultAction, FaultEvent
from locustfiles.errortext import describe


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
        owner: Owner | None = None,
    ) -> None:
        self.cluster = cluster
        self.journal = journal
        # Who the faults belong to: `hubchaos heal` leaves them alone while this process runs.
        self.owner = owner or Owner.current(f"fault-{os.getpid()}")
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
            colour=spec.colour,
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
                label = fault_label(self.cluster.cluster_id, fault_id, self.owner)
                context = FaultContext(self.cluster, members, label)
                steps = spec.plan(context)
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
                label=context.label,
                injected_at=time.time(),
                pid=os.getpid(),
                owner=self.owner,
                cluster=self.cluster.state(),
                steps=steps,
            )
            try:
                self.journal.record(entry)
            except FaultError as exc:
                self._event(
                    fault_id, spec, FaultAction.INJECT, members, primary=primary, error=str(exc), extra=labels
                )
                raise
            fault = ActiveFault(fault_id, spec, members, entry, labels=dict(labels or {}))
            at = (time.time(), time.monotonic())
            try:
                extra = spec.apply(context)
            except BaseException as exc:
                # Undo whatever part took effect before the failure (or the interrupt).
                run_steps(self.cluster, entry.steps)
                self.journal.remove(entry)
                message = self.cluster.redact(str(exc) if isinstance(exc, HubchaosError) else describe(exc))
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
            restart_after = spec.heals_itself_after()
            if restart_after is not None:
                fault.timer = threading.Timer(restart_after, self._heal_quietly, args=(fault,))
                fault.timer.daemon = True
                fault.timer.start()
            return fault

    def _check_allowed(self, spec: FaultSpec, members: list[str]) -> None:
        layer = spec.layer_name()
        for active in self.active:
            shared = sorted(set(active.members) & set(members))
            if shared and active.spec.layer_name() == layer:
                raise TargetError(
                    f"fault {spec.kind} refused: {', '.join(shared)} is still under {active.spec.kind} "
                    f"{active.fault_id}, and one member takes one {layer} fault at a time"
                )
        if spec.destructive:
            reason = self.cluster.destructive_refusal(members)
            if reason is not None:
                raise TargetError(f"fault {spec.kind} refused: {reason}")
        if spec.network:
            reason = self.cluster.network_refusal()
            if reason is not None:
                raise TargetError(f"fault {spec.kind} refused: {reason}")

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
