"""A command run from the drill's process, which gevent has patched, without a fork in Python.

gevent's subprocess forks in Python, and a fork runs the process's at-fork hooks in the child:
PyMongo's resets every open client there, and what it waits on can hand the child to gevent's
hub, which then runs the drill's greenlets (the drivers' monitors) in the child until it
executes the command. They printed tracebacks and "MongoClient opened before fork" into the
drill's output while faults ran their commands. posix_spawn starts the command with no Python in
the child; a libev child watcher waits for it without blocking the other greenlets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile

import gevent


def run(cmd: list[str], timeout: float, env: dict[str, str] | None) -> subprocess.CompletedProcess[str]:
    """As `subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)`."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        hub = gevent.get_hub()
        hub.loop.install_sigchld()
        pid = os.posix_spawnp(
            cmd[0],
            cmd,
            os.environ if env is None else env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
            ],
        )
        # Started before the loop runs again, so the child's exit cannot be reaped unseen.
        watcher = hub.loop.child(pid, False)
        try:
            with gevent.Timeout(timeout, subprocess.TimeoutExpired(cmd, timeout)):
                hub.wait(watcher)
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
            hub.wait(watcher)
            raise
        finally:
            watcher.close()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            cmd, os.waitstatus_to_exitcode(watcher.rstatus), out.read().decode(), err.read().decode()
        )
