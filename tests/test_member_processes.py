"""Member processes: what stopping them finds, even when their start was cut short."""

from __future__ import annotations

import subprocess
from pathlib import Path

from chaos_support import wait_until

from chaos.backends.processes import MemberProcess, free_port, stop_all


def test_a_member_whose_start_was_cut_short_is_stopped_with_the_others(tmp_path: Path) -> None:
    """A signal can land after the fork and before Popen returns (gevent's Popen waits on the
    exec pipe cooperatively): the member runs, no object holds it, and until it writes its
    lock file nothing names it. Stopping the set must still end it."""
    member = MemberProcess("m0", "127.0.0.1", free_port(), tmp_path / "m0" / "db", repl_set=None)
    member.dbpath.mkdir(parents=True)
    orphan = subprocess.Popen(member.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(member.lockfile.exists, 30, "the member's lock file")
        member.lockfile.unlink()  # as before the member wrote it
        assert member.process() is None
        stop_all([member], timeout=1)
        orphan.wait(timeout=5)  # TimeoutExpired if it still runs
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()
