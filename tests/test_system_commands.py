"""The system commands a drill runs (ip, iptables, tc, ...) start with no Python in the child
when gevent has patched the process: a fork there ran the process's at-fork hooks (PyMongo's
among them) and could run the drill's greenlets in the child, which printed driver tracebacks
into the drill's output. Output, exit codes, timeouts and missing tools read as before, and the
other greenlets keep running while a command runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent

PATCHED = """
from gevent import monkey; monkey.patch_all()
import os, gevent
from chaos.system import CommandFailed, run
os.register_at_fork(after_in_child=lambda: os.write(2, b"PYTHON RAN IN THE CHILD\\n"))
ticks = []
gevent.spawn(lambda: [ticks.append(gevent.sleep(0.05)) for _ in iter(int, 1)])
done = run(["sh", "-c", "echo out; echo err >&2; sleep 0.5; exit 3"], check=False)
print(repr(done.stdout), repr(done.stderr), done.returncode, len(ticks) >= 5)
for cmd, timeout in ((["sleep", "5"], 0.3), (["no-such-tool-hubchaos"], 5.0)):
    try:
        run(cmd, timeout=timeout)
    except CommandFailed as exc:
        print(exc)
"""


def test_a_patched_process_runs_commands_without_python_in_the_child() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PATCHED], capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "PYTHON RAN IN THE CHILD" not in done.stderr
    assert done.stdout.splitlines() == [
        "'out\\n' 'err\\n' 3 True",
        "sleep 5: no answer within 0.3 s",
        "no-such-tool-hubchaos: no-such-tool-hubchaos is not installed",
    ]
