"""One Locust worker of a drill (`hubchaos worker --master HOST:PORT`), on this machine or another:
it joins the drill's master, runs the user classes of the settings the master sends
(`locustfiles.join`), sends its recordings over the same channel, and ends when the master quits.

Importing this module imports Locust (and so gevent's monkey patching): `hubchaos worker` patches first.
"""

from __future__ import annotations

import logging
import signal

import gevent
import gevent.util
from gevent.event import Event
from locust.env import Environment
from locust.log import setup_logging

from contract.errors import RunError
from locustfiles.environment import attach
from locustfiles.join import JoinError, Joining

log = logging.getLogger(__name__)


def serve(master_host: str, master_port: int, join_timeout_s: float) -> None:
    """Join, run until the master quits, then close the recording (RunError: refused or no master)."""
    setup_logging("INFO")
    environment = Environment(user_classes=[])
    try:
        runner = environment.create_worker_runner(master_host, master_port)
    except ConnectionError:
        raise RunError(f"no Locust master answered at {master_host}:{master_port}") from None
    joining = Joining(runner)
    try:
        settings, environment.user_classes = joining.settings(join_timeout_s)
        attach(environment, settings)
    except JoinError as exc:
        _quit(environment)  # the master stops counting on this worker at once
        raise RunError(str(exc)) from None
    log.info("joined the master at %s:%d as worker-%d", master_host, master_port, runner.worker_index)
    # Until the master quits, or a SIGTERM or Ctrl-C here; then the users stop and the last
    # batches go while the runner still receives the master's acknowledgements.
    done = Event()
    gevent.spawn(lambda: (runner.greenlet.join(), done.set()))
    # Handled by gevent, SIGINT too: Python's own Ctrl-C raises KeyboardInterrupt in whichever
    # greenlet runs, which may be the recorder's, halfway through building a batch.
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, done.set)
    gevent.signal_handler(signal.SIGUSR1, _log_greenlets)
    try:
        done.wait()
    finally:
        _quit(environment)


def _log_greenlets() -> None:
    """SIGUSR1: where every greenlet is, for a worker that does not end when it should."""
    log.warning("greenlets on SIGUSR1:\n%s", "\n".join(gevent.util.format_run_info()))


def _quit(environment: Environment) -> None:
    """As Locust's own worker ends: the quitting listeners close the recording and say so, then
    tell the master this worker quit."""
    environment.events.quitting.fire(environment=environment, reverse=True)
    assert environment.runner is not None
    environment.runner.quit()
