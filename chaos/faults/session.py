"""Every exit path heals: normal end, exception, Ctrl-C and SIGTERM (and SIGHUP).

`healing(injector)` installs handlers that turn SIGTERM and SIGHUP into `Interrupted`
(chaos/interrupts.py), heals every active fault on the way out, and restores the previous
handlers. While it heals, further
signals are noted and ignored, so an impatient second Ctrl-C cannot leave a fault behind.
Only SIGKILL escapes it; for that, the journal and `hubchaos heal` exist. (A drill does not use
this: its supervisor, chaos/drill/supervisor.py, owns the signals of the whole run.)
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from chaos.faults.injector import FaultInjector
from chaos.interrupts import Interrupted

HANDLED = (signal.SIGTERM, signal.SIGHUP)


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """During the final heal: a repeated signal must not interrupt it."""


@contextmanager
def _handlers(handler: Any, signums: tuple[signal.Signals, ...]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install handlers; the caller's own thread heals anyway
        return
    previous = {s: signal.signal(s, handler) for s in signums}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextmanager
def healing(injector: FaultInjector) -> Iterator[FaultInjector]:
    try:
        with _handlers(_raise, HANDLED):
            yield injector
    finally:
        with _handlers(_ignore, (*HANDLED, signal.SIGINT)):
            injector.heal_all()
