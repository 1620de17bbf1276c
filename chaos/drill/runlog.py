"""The drill's log: what the libraries it drives log (PyMongo's background tasks, Locust, the
recorder) is written to `hubchaos.log` in the run directory, not into the live view.

Without a handler, Python prints every warning and error a library logs on stderr: a driver that
cannot reach a killed member logs a traceback each time its pool maintenance fails, which is
what the fault is for rather than news, and it buried the drill's own lines. The console gets
one line at the end naming the file when errors were logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOG = "hubchaos.log"


class _RunLogFile(logging.FileHandler):
    """A line that cannot be written (a full disk) is not printed instead: the drill names a
    full disk itself."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            super().emit(record)
        except OSError:  # opening the file (it is opened at the first line) failed
            pass

    def handleError(self, record: logging.LogRecord) -> None:
        pass


class ErrorCount(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@contextmanager
def run_log(run_dir: Path) -> Iterator[ErrorCount]:
    """Every log record of INFO and above into `run_dir/hubchaos.log` while the block runs; the
    errors among them counted."""
    root = logging.getLogger()
    file = _RunLogFile(run_dir / LOG, delay=True)
    file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    errors = ErrorCount()
    level = root.level
    root.addHandler(file)
    root.addHandler(errors)
    root.setLevel(logging.INFO)
    try:
        yield errors
    finally:
        root.removeHandler(file)
        root.removeHandler(errors)
        root.setLevel(level)
        file.close()
