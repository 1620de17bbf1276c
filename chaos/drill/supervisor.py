"""The drill's supervisor: the one owner of signals from before the cluster comes up until after
it is gone.

SIGTERM, SIGHUP and Ctrl-C in any phase become one `Interrupted`, raised in the drill's own
greenlet and nowhere else: a Python signal handler runs in whatever greenlet is current, which
under gevent may be a probe's or the fault schedule's, where the exception would end that
greenlet and leave the drill running. The drill then heals, tears down and exits 3.

Cleanup (healing, stopping the load, teardown) runs inside `cleaning()`: a signal that arrives
then is noted, and raised only once the cleanup is over, so that nothing is left half undone. A
third Ctrl-C aborts at once: `on_abort` says what is left and the command that removes it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import gevent

from chaos.interrupts import HANDLED, Interrupted
from contract.errors import ExitCode

ABORT_AFTER = 3  # Ctrl-Cs


class Supervisor:
    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.phase = "starting"
        self.signum: int | None = None  # the first signal
        self.interrupted_in: str | None = None  # the phase it came in
        self.on_abort: Callable[[int], None] | None = None
        self._ctrl_c = 0
        self._cleaning = 0
        self._raised = False
        self._main: Any = None
        self._watchers: list[Any] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Supervisor:
        self._main = gevent.getcurrent()
        self._previous = {s: signal.getsignal(s) for s in HANDLED}
        self._watchers = [gevent.signal_handler(s, self._on_signal, s) for s in HANDLED]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for watcher in self._watchers:
            watcher.cancel()
        self._watchers.clear()
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    @property
    def interrupted(self) -> bool:
        return self.signum is not None

    def describe(self) -> str:
        """`interrupted by SIGTERM during: seeding the corpus`."""
        assert self.signum is not None
        return f"{Interrupted(self.signum)} during: {self.interrupted_in}"

    @contextmanager
    def cleaning(self) -> Iterator[None]:
        """Cleanup that a signal must not cut short; a signal that came during it is raised
        after it, unless another exception is already on its way."""
        self._cleaning += 1
        try:
            yield
        finally:
            self._cleaning -= 1
        self.raise_pending()

    def raise_pending(self) -> None:
        if self.signum is not None and not self._raised and not self._cleaning:
            self._raised = True
            raise Interrupted(self.signum)

    # --- in the hub's signal greenlet -----------------------------------------------------------
    def _on_signal(self, signum: int) -> None:
        if signum == signal.SIGINT:
            self._ctrl_c += 1
        if self.signum is None:
            self.signum, self.interrupted_in = signum, self.phase
            self.say(f"[bold red]{signal.Signals(signum).name}:[/] healing and tearing down, then exit")
            gevent.get_hub().loop.run_callback(self._deliver)
            return
        if self._ctrl_c >= ABORT_AFTER and self.on_abort is not None:
            self.on_abort(signum)
            os._exit(int(ExitCode.RUN_FAILED))
        more = ABORT_AFTER - self._ctrl_c
        hint = f" (Ctrl-C {more} more time{'s' if more > 1 else ''} to abort and leave the rest)"
        self.say(f"[yellow]{signal.Signals(signum).name} ignored:[/] still cleaning up" + hint * (more > 0))

    def _deliver(self) -> None:
        # In the hub's callback: the drill's greenlet waits, so it can take the exception now.
        # Inside a cleanup it is left to cleaning(), which raises it when the cleanup ends.
        if self._raised or self._cleaning or self._main is None or self._main.dead:
            return
        self._raised = True
        assert self.signum is not None
        self._main.throw(Interrupted(self.signum))
