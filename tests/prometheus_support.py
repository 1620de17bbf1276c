"""Prometheus for tests: Debian's `prometheus` and `promtool` binaries. A test that needs them
skips when they are not installed, unless HUBCHAOS_REQUIRE_PROMETHEUS=1 (CI), when that is a
failure."""

from __future__ import annotations

import os
import shutil

import pytest


def require(binary: str) -> str:
    found = shutil.which(binary)
    if found is None:
        message = f"{binary} is not installed (apt-get install prometheus)"
        if os.environ.get("HUBCHAOS_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(f"HUBCHAOS_REQUIRE_PROMETHEUS=1 but {message}")
        pytest.skip(message)
    return found
