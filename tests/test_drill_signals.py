"""A drill interrupted in any phase heals, tears down and exits 3, with run.json `interrupted`;
repeated signals do not cut the cleanup short, and a third Ctrl-C says what it leaves and the
one command that removes it."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from chaos_support import wait_until
from drill_support import (
    ROOT,
    TINY_CORPUS,
    LiveDrill,
    pause_a_secondary,
    processes_under,
    scenario,
    state_env,
)

from chaos.backends import netns
from chaos.runclaims import claims_dir
from contract import rundir

pytestmark = pytest.mark.slow

ONE_MEMBER = f"""\
target: {{backend: local, members: 1}}
workload:
  users: 2
  duration: 4s
  corpus: {TINY_CORPUS}
"""

# The phases each trigger may land in (the drill moves on while the signal travels).
PHASES = {
    "registered": {"bringing up the local cluster"},
    "seeding the corpus": {"seeding the corpus"},
    "draining": {"draining: waiting for a healthy cluster", "verifying acknowledged writes", "tearing down"},
    "tearing down": {"tearing down", "analysing"},
}


def _cluster_id(state: Path, out: Path) -> str:
    registration = state / "clusters" / f"drill-{out.name}" / "cluster.json"
    return str(json.loads(registration.read_text())["cluster_id"])


def _assert_cleaned_up(state: Path, out: Path, cluster_id: str | None) -> None:
    assert not processes_under(out), [p.info["cmdline"] for p in processes_under(out)]
    assert not list((state / "clusters").glob("*/cluster.json"))
    assert not list(claims_dir(state).iterdir())  # the run id is given up
    if cluster_id is not None:
        assert not [n for n in netns.list_namespaces() if n.startswith(netns.netns_name(cluster_id, ""))]


@pytest.mark.parametrize(
    ("trigger", "sig"),
    [
        ("registered", signal.SIGTERM),
        ("seeding the corpus", signal.SIGHUP),
        ("draining", signal.SIGTERM),
        ("tearing down", signal.SIGINT),
    ],
)
def test_a_signal_in_any_phase_tears_down_and_exits_3(tmp_path: Path, trigger: str, sig: int) -> None:
    state, out = tmp_path / "state", tmp_path / "run"
    drill = LiveDrill(scenario(tmp_path, "phases", ONE_MEMBER), out, state_env(state))
    cluster_id = None
    if trigger == "registered":
        # Registered before anything starts: a signal during bring-up still finds everything.
        registration = state / "clusters" / f"drill-{out.name}" / "cluster.json"
        wait_until(registration.exists, 60, "the registration")
        cluster_id = _cluster_id(state, out)
    else:
        drill.wait_for(trigger)
        cluster_id = _cluster_id(state, out)
    drill.signal(sig)
    code, _, stderr = drill.finish()
    assert code == 3, stderr
    assert "Traceback" not in stderr, stderr
    info = json.loads((out / rundir.RUN_INFO).read_text())
    assert info["status"] == "interrupted"
    said = f"interrupted by {signal.Signals(sig).name} during: "
    assert info["error"].startswith(said), info["error"]
    assert info["error"].removeprefix(said) in PHASES[trigger]
    assert f"run interrupted: {said}" in stderr
    _assert_cleaned_up(state, out, cluster_id)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_the_load_heals_the_fault_first(tmp_path: Path, sig: int) -> None:
    state, out = tmp_path / "state", tmp_path / "run"
    drill = LiveDrill(scenario(tmp_path, "load", pause_a_secondary()), out, state_env(state))
    wait_until(lambda: '"action":"inject"' in _read(out / rundir.FAULTS), 120, "the pause")
    cluster_id = _cluster_id(state, out)
    drill.signal(sig)
    code, _, stderr = drill.finish()
    assert code == 3, stderr
    assert "Traceback" not in stderr, stderr
    actions = [(e["action"], e["outcome"]) for e in map(json.loads, _read(out / rundir.FAULTS).splitlines())]
    assert actions == [("inject", "ok"), ("heal", "ok")]
    info = json.loads((out / rundir.RUN_INFO).read_text())
    assert (info["status"], info["error"]) == (
        "interrupted",
        f"interrupted by {signal.Signals(sig).name} during: running the load",
    )
    assert not list((state / "journal").glob("*.json"))
    _assert_cleaned_up(state, out, cluster_id)


def test_repeated_ctrl_c_waits_for_the_cleanup_and_a_third_aborts_naming_the_command(
    tmp_path: Path,
) -> None:
    # Other tests' live drills have the run id `run` too: `heal --run run` here must leave them
    # alone (it lifts only the live run on record in its own state directory).
    state, out = tmp_path / "state", tmp_path / "run"
    env = state_env(state)
    drill = LiveDrill(scenario(tmp_path, "abort", pause_a_secondary()), out, env)
    wait_until(lambda: '"action":"inject"' in _read(out / rundir.FAULTS), 120, "the pause")
    cluster_id = _cluster_id(state, out)
    drill.signal(signal.SIGINT)
    drill.wait_for("healing the faults")
    drill.signal(signal.SIGINT)
    drill.wait_for("SIGINT ignored")
    drill.signal(signal.SIGINT)
    code, _, stderr = drill.finish()
    assert code == 3, stderr
    assert "Traceback" not in stderr and "Aborted!" not in stderr, stderr
    assert "aborted:" in stderr
    info = json.loads((out / rundir.RUN_INFO).read_text())
    assert info["status"] == "interrupted" and info["error"].startswith("aborted while "), info
    left = re.search(r"remove it with: (.+)", stderr)
    if left is None:  # the cleanup was already over: nothing left to remove
        assert "left nothing" in stderr
    else:
        command = shlex.split(left.group(1))
        assert command[:4] == ["hubchaos", "heal", "--run", out.name]
        healed = subprocess.run(
            [sys.executable, "-m", "chaos", *command[1:]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert healed.returncode == 0, healed.stdout + healed.stderr
    _assert_cleaned_up(state, out, cluster_id)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""
