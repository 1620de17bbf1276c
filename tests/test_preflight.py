"""Faults a machine or a cluster cannot take are refused before the load starts (exit 2), not
one by one while the load writes into the cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from drill_support import ROOT, TINY_CORPUS, hubchaos, scenario

ONE_MEMBER = f"""\
target: {{backend: local, members: 1}}
workload: {{users: 2, duration: 4s, corpus: {TINY_CORPUS}}}
"""

PARTITION = f"""\
target: {{backend: local, members: 3}}
workload: {{users: 2, duration: 20s, corpus: {TINY_CORPUS}}}
faults:
  - {{at: 5s, kind: pause, target: secondary, heal_after: 2s}}
  - {{at: 10s, kind: partition, target: primary}}
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="as root, the local backend uses namespaces when it can")
def test_root_without_iptables_refuses_network_faults_before_anything_starts(tmp_path: Path) -> None:
    """A fresh Debian machine: `ip` but no iptables. The members would share loopback, so the
    partition is refused with its line before a run directory or a member exists."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ip").symlink_to(shutil.which("ip") or "/usr/sbin/ip")
    env = {**os.environ, "PATH": str(bin_dir), "HUBCHAOS_STATE_DIR": str(tmp_path / "state")}
    path = scenario(tmp_path, "partition", PARTITION)
    out = tmp_path / "run"
    done = hubchaos("run", path, "--out", out, env=env, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"hubchaos: {path}:7: faults[1]: partition cannot run here: network faults need each member "
        "in its own network namespace, and iptables is not installed"
    )
    assert not out.exists() and not (tmp_path / "state").exists()


def test_an_external_target_refuses_a_role_that_may_hit_a_member_off_the_allowlist(
    start_replica_set: Any, tmp_path: Path
) -> None:
    rs = start_replica_set(3)
    allowed = rs.members[1].address
    body = f"""\
target:
  backend: external
  uri: "{rs.uri}"
  allowlist: ["{allowed}"]
workload: {{users: 2, duration: 20s, corpus: {TINY_CORPUS}}}
faults:
  - {{at: 5s, kind: kill, target: primary}}
"""
    path = scenario(tmp_path, "external", body)
    out = tmp_path / "run"
    done = hubchaos(
        "run", path, "--out", out, env={**os.environ, "HUBCHAOS_STATE_DIR": str(tmp_path / "state")}
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "faults[0]: kill cannot run here: target primary may resolve to such a member" in done.stderr
    assert "not on target.allowlist" in done.stderr
    assert "seeding" not in done.stderr  # refused before a single write


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="mounts a tiny tmpfs")
def test_a_full_disk_under_out_is_one_line_exit_3_and_no_half_written_run_directory(tmp_path: Path) -> None:
    """A 4 KiB file system (in a mount namespace of its own, gone with the process): the scenario
    fits, run.json does not."""
    full = tmp_path / "full"
    full.mkdir()
    path = scenario(tmp_path, "tiny", ONE_MEMBER)
    out = full / "run"
    script = (
        f"mount -t tmpfs -o size=4k hubchaos-full {full} && "
        f"{sys.executable} -m chaos run {path} --out {out}; code=$?; ls -A {full}; exit $code"
    )
    env = {**os.environ, "HUBCHAOS_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"hubchaos: cannot write the run directory {out}: No space left on device"
    )
    assert done.stdout.strip() == ""  # `ls -A`: the run directory was removed
