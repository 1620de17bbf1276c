"""CPU time of one command inside a `mongoemu` member, without sockets or a driver.

A member is built in a child process and `dispatch` (the whole command path: arguments, fail
points, replica-set checks, the operation running the handler, the reply) is called directly:
a `find` of one document by `_id`, and a retryable `insert` of one document (w:1). The figure
is the process CPU time per command, the lowest of several runs (CPU time, not wall time, so
that other work on the machine changes it little).

    python benchmarks/command_cpu.py [--commands 3000] [--runs 5] [--baseline DIR]

`--baseline DIR` measures a checkout of another revision (for instance `git worktree add
/tmp/main main`) in alternation with this one and prints the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

# Runs in the child, with the measured checkout first on sys.path.
CHILD = """
import asyncio, json, sys, tempfile, time
import bson
from bson import Int64
import mongoemu.commands
from mongoemu import wire
from mongoemu.dispatch import dispatch
from mongoemu.member import Member
from mongoemu.options import parse
from mongoemu.server import Connection

N = int(sys.argv[1])

async def main():
    options, _ = parse(["--port", "1", "--dbpath", tempfile.mkdtemp(prefix="command-cpu-")])
    member, conn = Member(options), Connection(1, "bench")
    lsid = {"id": bson.Binary(b"1" * 16, 4)}
    def request(doc):
        return wire.Request(op_code=wire.OP_MSG, request_id=1, command={**doc, "$db": "bench"})
    for i in range(300):
        await dispatch(member, conn, request({"insert": "c", "documents": [{"_id": i, "x": "y" * 200}]}))
    began = time.process_time()
    for i in range(N):
        await dispatch(member, conn, request({"find": "c", "filter": {"_id": i % 300}, "limit": 1,
                                              "singleBatch": True, "lsid": lsid}))
    find = time.process_time() - began
    began = time.process_time()
    for i in range(N):
        await dispatch(member, conn, request({"insert": "c", "documents": [{"x": "y" * 200}], "lsid": lsid,
                                              "txnNumber": Int64(i + 1), "writeConcern": {"w": 1}}))
    insert = time.process_time() - began
    print(json.dumps({"find": find / N * 1e6, "insert": insert / N * 1e6}))

asyncio.run(main())
"""


def measure(source: Path, commands: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(source)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(commands)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another checkout, measured alternately")
    args = parser.parse_args()
    sources = {"this checkout": HERE}
    if args.baseline is not None:
        sources["baseline"] = args.baseline.resolve()
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.runs):
        for label, source in sources.items():
            got = measure(source, args.commands)
            mine = best.setdefault(label, dict(got))
            for key, value in got.items():
                mine[key] = min(mine[key], value)
    print(f"{'members from':<14} {'find by _id µs':>15} {'insert µs':>10}")
    for label, figures in best.items():
        print(f"{label:<14} {figures['find']:>15.1f} {figures['insert']:>10.1f}")
    if "baseline" in best:
        mine, base = best["this checkout"], best["baseline"]
        find, insert = mine["find"] / base["find"], mine["insert"] / base["insert"]
        print(f"ratio this/baseline: find {find:.2f}, insert {insert:.2f}")


if __name__ == "__main__":
    main()
