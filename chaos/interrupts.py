"""`Interrupted`: the process was asked to stop (SIGTERM, SIGHUP or Ctrl-C).

A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way swallows it,
and every `finally` on the way (heals, teardowns) still runs.
"""

from __future__ import annotations

import signal

HANDLED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class Interrupted(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
