"""How fast, and in how little memory, the bounded YAML reader (contract/safeyaml.py) refuses
hostile documents.

    python benchmarks/hostile_yaml.py              # 21 rounds of each document
    python benchmarks/hostile_yaml.py --rounds 51

Each document is parsed with `safeyaml.parse` (what every scenario, settings file, SLO profile,
alert rule file, check-driver options file and run directory's scenario.yaml goes through) until
it is refused. Printed per document: its size, the median and worst time to the refusal, the
peak of Python allocations during one refusal (tracemalloc), and the message. Unbounded, the
billion-laughs document expands to 10^9 values (1.78 GB before it was refused); the goal is a
refusal in well under a second and a few MB.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable

from contract.errors import ScenarioError
from contract.safeyaml import MAX_BYTES, parse


def billion_laughs() -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


DOCUMENTS: dict[str, Callable[[], str]] = {
    "billion laughs (9 x 9 aliases)": billion_laughs,
    "recursive alias": lambda: "a: &a [*a]\n",
    "flow nesting 5,000 deep": lambda: "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "block nesting 500 deep": lambda: "".join(" " * i + "k:\n" for i in range(500)),
    "500 aliases of one value": lambda: "x: &x 1\n" + "".join(f"k{i}: *x\n" for i in range(500)),
    f"{MAX_BYTES + 1:,} bytes": lambda: "#" * (MAX_BYTES + 1),
}


def refuse(text: str) -> str:
    try:
        parse(text, "hostile.yaml")
    except ScenarioError as exc:
        return exc.problem
    raise SystemExit("accepted a hostile document")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    print(f"{'document':34} {'bytes':>9} {'median':>9} {'worst':>9} {'peak':>9}  refused with")
    for name, make in DOCUMENTS.items():
        text = make()
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            refuse(text)
            times.append(time.perf_counter() - start)
        tracemalloc.start()
        said = refuse(text)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"{name:34} {len(text):>9,} {statistics.median(times) * 1000:>7.2f}ms "
            f"{max(times) * 1000:>7.2f}ms {peak / 1e6:>7.2f}MB  {said}"
        )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident size of this process (interpreter included): {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
