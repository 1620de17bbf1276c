"""Room on the disk under the run directory, watched while the load runs.

Everything a drill keeps lives under its run directory: the local members' data, the
recordings, run.json and the report. A disk that fills up there would fail the members, the
recorders and the probes at random places, and leave nothing whole to say so. The drill stops
instead while there is still room to end properly: the recordings merged (the merged files are
no larger than the shards and journals they come from; the merge's time buckets, as large as the
shards, are deleted as it goes) and the outputs written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from chaos.drill.probelog import JOURNAL
from contract import rundir

OUTPUTS_RESERVE_BYTES = 1024 * 1024  # run.json, summary.json, junit.xml, report.html
NO_SPACE = "No space left on device"
# What is merged into one file when the load stops: the shard folders and the probes' journal.
_MERGED = (
    rundir.EVENTS_SHARDS,
    rundir.LEDGER_SHARDS,
    rundir.DISCOVERY_SHARDS,
    rundir.RESOURCES_SHARDS,
    JOURNAL,
)


def _size(path: Path) -> int:
    """Bytes in a file, or in the files under a folder; what vanishes meanwhile counts nothing."""
    files = [os.path.join(d, f) for d, _, names in os.walk(path) for f in names] if path.is_dir() else [path]
    total = 0
    for file in files:
        with contextlib.suppress(OSError):
            total += os.stat(file).st_size
    return total


def recorded_bytes(run_dir: Path) -> int:
    """The room merging needs: what it reads, which it may write again, and the request events
    and ledger once more, spilled by time before they are sorted (as compact as their shards)."""
    spilled = _size(run_dir / rundir.EVENTS_SHARDS) + _size(run_dir / rundir.LEDGER_SHARDS)
    return sum(_size(run_dir / name) for name in _MERGED) + spilled


def mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def shortage(run_dir: Path) -> str | None:
    """Why the drill must stop now for lack of disk space, or None while there is room."""
    free = shutil.disk_usage(run_dir).free
    needed = OUTPUTS_RESERVE_BYTES + recorded_bytes(run_dir)
    if free >= needed:
        return None
    return (
        f"the disk under {run_dir} is nearly full ({mib(free)} free, {mib(needed)} needed to merge "
        f"the recordings and write the report): the drill stopped"
    )


def is_full_disk(exc: OSError) -> bool:
    # pyarrow raises OSError without an errno, naming the cause only in its text.
    return exc.errno == errno.ENOSPC or NO_SPACE in str(exc)


def describe_write_error(exc: OSError, run_dir: Path) -> str:
    """One line for a write under the run directory that failed."""
    where = f" ({exc.filename})" if exc.filename else ""
    if is_full_disk(exc):
        return f"no space left on the device under {run_dir}{where}"
    return f"cannot write under {run_dir}{where}: {exc.strerror or exc}"
