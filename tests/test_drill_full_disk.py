"""A disk that fills up under `--out` while the load runs ends the drill in one line: exit 3,
run.json `failed`, the fault healed and the cluster gone, no traceback. The disk is a real
3 MiB tmpfs (root only: mounting), mostly taken by another file; the drill's own members and
recordings take the rest."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos_support import wait_until
from drill_support import LiveDrill, pause_a_secondary, processes_under, scenario, state_env

from chaos.drill.diskroom import describe_write_error, recorded_bytes
from contract import rundir

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        # Lazily, so that a member left running by a failed test cannot keep the mount.
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path, leave: int) -> None:
    """The disk's free space taken down to `leave` bytes, as another process would take it."""
    free = shutil.disk_usage(disk).free
    with (disk / "filler").open("wb") as fh:
        fh.write(b"\0" * max(free - leave, 0))


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.mark.slow
@root_only
def test_a_disk_that_fills_under_out_ends_the_drill_in_one_line(tmp_path: Path, small_disk: Path) -> None:
    state, out = tmp_path / "state", small_disk / "run"
    drill = LiveDrill(scenario(tmp_path, "full", pause_a_secondary(users=10)), out, state_env(state))
    wait_until(lambda: '"action":"inject"' in _read(out / rundir.FAULTS), 120, "the pause")
    fill(small_disk, leave=1_500_000)
    code, _, stderr = drill.finish()
    assert code == 3, stderr
    assert "Traceback" not in stderr, stderr
    failed = [line for line in stderr.splitlines() if line.startswith("run failed:")]
    assert len(failed) == 1, stderr
    assert failed[0].startswith(f"run failed: the disk under {out} is nearly full ("), failed
    info = json.loads((out / rundir.RUN_INFO).read_text())
    assert info["status"] == "failed" and info["error"] in failed[0], info
    actions = [(e["action"], e["outcome"]) for e in map(json.loads, _read(out / rundir.FAULTS).splitlines())]
    assert actions == [("inject", "ok"), ("heal", "ok")]
    assert not processes_under(out), [p.info["cmdline"] for p in processes_under(out)]
    assert not list((state / "clusters").glob("*/cluster.json"))
    assert not list((state / "journal").glob("*.json"))


def test_a_full_disk_is_named_whatever_raised_it(tmp_path: Path) -> None:
    arrow = OSError("[Errno 28] Error writing bytes to file. Detail:  No space left on device")
    posix = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "probes.jsonl"))
    other = OSError(errno.EACCES, "Permission denied", str(tmp_path / "run.json"))
    assert describe_write_error(arrow, tmp_path) == f"no space left on the device under {tmp_path}"
    assert describe_write_error(posix, tmp_path) == (
        f"no space left on the device under {tmp_path} ({tmp_path / 'probes.jsonl'})"
    )
    assert describe_write_error(other, tmp_path) == (
        f"cannot write under {tmp_path} ({tmp_path / 'run.json'}): Permission denied"
    )


def test_the_room_needed_is_what_merging_reads_and_spills(tmp_path: Path) -> None:
    sizes = {
        f"{rundir.EVENTS_SHARDS}/worker-0.0.arrows": 1000,
        f"{rundir.LEDGER_SHARDS}/worker-0.0.arrows": 300,
        "probes.jsonl": 200,
        "members/m0/db/journal/j.000001": 50_000,  # the members' data is not merged
        "prometheus/data/wal/00000000": 50_000,
    }
    for name, size in sizes.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * size)
    assert recorded_bytes(tmp_path) == 1500 + 1300  # the events and the ledger spilled once more
