"""The workload as its settings name it, as a locustfile: what `hubchaos run --workers N` starts
each `locust --worker` with (`HUBCHAOS_SETTINGS_FILE` holds the run's settings), so that workers
run the same user classes as the master, whichever the scenario names.

    HUBCHAOS_SETTINGS_FILE=settings.json locust -f locustfiles/scenario.py --worker
"""

from __future__ import annotations

from typing import Any

from locust import events

from locustfiles.classes import resolve_user_classes
from locustfiles.environment import attach
from locustfiles.settings import load_settings

_settings = load_settings()
# Locust runs every User class it finds in this module's namespace.
globals().update({cls.__name__: cls for cls in resolve_user_classes(_settings)})


@events.init.add_listener
def _attach(environment: Any, **_: Any) -> None:
    attach(environment, _settings)
