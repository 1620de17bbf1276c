"""Which user classes a workload runs: the hub's by default, others by reference or locustfile,
each with its own settings validated by its own model, and one clear error otherwise.

The classes are resolved in a child process (tests/workload_classes_child.py): importing Locust
patches the standard library with gevent, which the test process must not be."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHILD = "tests.workload_classes_child"
BAD = {
    "low_page": ({"class": f"{CHILD}:Reader", "settings": {"page": 0}}, "settings", "page: Input should"),
    "extra": ({"class": f"{CHILD}:Reader", "settings": {"rows": 1}}, "settings", "rows: Extra inputs"),
    "no_model": (
        {"class": "locustfiles.users:CanaryUser", "settings": {"x": 1}},
        "settings",
        "takes no settings",
    ),
    "not_user": ({"class": f"{CHILD}:outcome"}, "class", "is not a non-abstract Locust User class"),
    "abstract": ({"class": "locustfiles.users:WorkloadUser"}, "class", "is not a non-abstract Locust User"),
    "no_module": ({"class": "no_such_package.users:Shopper"}, "class", "cannot import no_such_package"),
    "bare_name": ({"class": "Shopper"}, "class", "no class Shopper in the locustfile"),
}


@pytest.fixture(scope="module")
def found() -> dict[str, Any]:
    cases = json.dumps({key: entry for key, (entry, _, _) in BAD.items()})
    out = subprocess.run(
        [sys.executable, "-m", CHILD, cases],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_without_names_the_hub_classes_run(found: dict[str, Any]) -> None:
    assert found["default"] == {"classes": found["hub"]} and found["hub"] == [
        "HubUser",
        "CanaryUser",
        "IngestUser",
    ]


def test_classes_by_reference_get_their_weights_and_own_settings(found: dict[str, Any]) -> None:
    assert found["named"] == ["Reader", "CanaryUser"]
    assert found["applied"] == [7, 2, {"page": 3}]
    assert found["canary_default"] == 1


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_class_that_cannot_run_is_named(found: dict[str, Any], case: str) -> None:
    _, where, message = BAD[case]
    assert found[case]["where"] == ["user_classes", 0, where]
    assert message in found[case]["error"]


def test_a_locustfile_brings_its_classes_and_names_them(found: dict[str, Any]) -> None:
    assert sorted(found["locustfile"]["classes"]) == ["CanaryUser", "Reader"]
    # A missing file is refused with the settings, before any class is looked for.
    assert "locustfile\n  Value error, no such file" in found["missing_file"]["error"]
    assert "defines no Locust User class" in found["empty_file"]["error"]
