"""A stand-in for `hubchaos run` in the campaign runner's tests: takes the same arguments
(SCENARIO --set workload.seed=N --out RUN_DIR) and, by the seed, as STANDIN (JSON: seed -> what)
says: copies a prepared, analysed run directory into RUN_DIR and exits with the code given
(`copy:<dir>:<code>`), or creates RUN_DIR and waits for SIGTERM, then exits 3 as a drill does
after healing (`hang`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path


def main() -> int:
    args = sys.argv[1:]
    seed = args[args.index("--set") + 1].removeprefix("workload.seed=")
    out = Path(args[args.index("--out") + 1])
    what = json.loads(os.environ["STANDIN"])[seed]
    if what == "hang":
        out.mkdir()
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
        (out / "waiting").touch()
        time.sleep(60)
        return 4  # never asked to stop
    _, template, code = what.split(":")
    shutil.copytree(template, out)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
