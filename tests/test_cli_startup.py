"""`hubchaos validate` stays light: what the command really imports, checked in a fresh process
(the import-linter contracts in pyproject.toml check the static imports; this checks the
lazy ones too). Its time is a benchmark (benchmarks/validate_startup.py), not asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("docker", "testcontainers", "locust", "gevent", "pandas", "matplotlib", "pyarrow")
PROBE = """
import runpy, sys
sys.argv = ["hubchaos", *sys.argv[1:]]
try:
    runpy.run_module("chaos", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print("exit", code, "heavy", sorted({m.split(".")[0] for m in sys.modules} & set(%r)), file=sys.stderr)
"""


def _run(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return out.stderr.strip().splitlines()[-1]


def test_validate_imports_no_docker_locust_or_analysers() -> None:
    scenarios = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    assert _run("validate", *scenarios) == "exit 0 heavy []"


def test_a_bad_scenario_is_still_judged_without_them(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntarget: {backend: docker, image: 7}\n")
    assert _run("validate", str(bad)) == "exit 2 heavy []"


def test_help_lists_every_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "chaos", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    for command in ("cluster", "compare", "fault", "heal", "report", "run", "validate"):
        assert f"  {command}" in out.stdout
