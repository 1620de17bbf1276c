"""Print the pinned requirements of the `mongoemu` package alone (one per line).

The emulator image needs only what mongoemu imports at run time, not the whole suite.
No packaging tool derives that from the code, so this reads mongoemu's imports (ast), maps
the third-party ones to their distributions, and pins the versions this environment has
(the ones the tests ran against).
"""

from __future__ import annotations

import ast
import sys
from importlib.metadata import packages_distributions, version
from pathlib import Path


def imported_modules(package: Path) -> set[str]:
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def requirements(package: Path) -> list[str]:
    owners = packages_distributions()
    found: set[str] = set()
    for module in imported_modules(package):
        owners_of = owners.get(module, [])
        # The suite's own packages (mongoemu imports `contract`) come with the hubchaos wheel.
        if module in sys.stdlib_module_names or module == package.name or "hubchaos" in owners_of:
            continue
        for dist in owners_of:
            found.add(f"{dist}=={version(dist)}")
    return sorted(found)


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    sys.stdout.write("".join(f"{line}\n" for line in requirements(root / "mongoemu")))
