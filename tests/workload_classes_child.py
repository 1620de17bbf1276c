"""Run in a child process by test_workload_classes.py (Locust patches the standard library with
gevent when imported, so it never runs inside the test process): resolves user classes for
each case and prints what happened as JSON."""

from __future__ import annotations

import importlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from locust import task
from pydantic import BaseModel, Field, ValidationError

from locustfiles.classes import HUB_CLASSES, UserClassError, resolve_user_classes
from locustfiles.settings import WorkloadSettings
from locustfiles.users import CanaryUser, WorkloadUser

HERE = "tests.workload_classes_child"


class Reader(WorkloadUser):
    """A user class of another application, with settings of its own."""

    class Settings(BaseModel):
        model_config = {"extra": "forbid"}
        page: int = Field(10, ge=1)

    @task
    def read(self) -> None:
        self.tick()


def names(classes: list[Any]) -> list[str]:
    return [c.__name__ for c in classes]


def outcome(**data: Any) -> dict[str, Any]:
    try:
        return {"classes": names(resolve_user_classes(WorkloadSettings(**data)))}
    except UserClassError as exc:
        return {"where": list(exc.where), "error": str(exc)}


def main() -> None:
    # Run as __main__, this file is a second module: the references name the imported one.
    reader = importlib.import_module(HERE).Reader
    found: dict[str, Any] = {"default": outcome(), "hub": names(HUB_CLASSES)}
    s = WorkloadSettings(
        user_classes=[
            {"class": f"{HERE}:Reader", "weight": 7, "settings": {"page": 3}},
            {"class": "locustfiles.users:CanaryUser", "fixed_count": 2},
        ]
    )
    found["named"] = names(resolve_user_classes(s))
    reader.apply_settings(s)
    CanaryUser.apply_settings(s)
    found["applied"] = [reader.weight, CanaryUser.fixed_count, reader.options(s).model_dump()]
    CanaryUser.apply_settings(WorkloadSettings())
    found["canary_default"] = CanaryUser.fixed_count
    for key, entry in json.loads(sys.argv[1]).items():
        found[key] = outcome(user_classes=[entry])
    with tempfile.TemporaryDirectory() as tmp:
        shop = Path(tmp) / "shop.py"
        shop.write_text(f"from {HERE} import Reader\nfrom locustfiles.users import CanaryUser\n")
        found["locustfile"] = outcome(
            locustfile=shop, user_classes=[{"class": "Reader", "settings": {"page": 2}}]
        )
        try:
            WorkloadSettings(locustfile=Path(tmp) / "nope.py")
        except ValidationError as exc:
            found["missing_file"] = {"error": str(exc)}
        (Path(tmp) / "empty.py").write_text("x = 1\n")
        found["empty_file"] = outcome(locustfile=Path(tmp) / "empty.py")
    print(json.dumps(found))


if __name__ == "__main__":
    main()
