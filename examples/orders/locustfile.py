"""The orders service's traffic as a locustfile: shoppers, the warehouse and hubchaos's canary.

    locust -f examples/orders/locustfile.py --host "mongodb://h1,h2,h3/?replicaSet=rs0" \
        --headless -u 20 -r 10 -t 1m          # HUBCHAOS_DATABASE=orders, see locustfiles.settings

A scenario names this file (`workload.locustfile`) and gives each class its settings.
"""

from __future__ import annotations

from typing import Any

from locust import events
from orders_app.users import Shopper, Warehouse

from locustfiles.environment import attach
from locustfiles.users import CanaryUser

__all__ = ["CanaryUser", "Shopper", "Warehouse"]


@events.init.add_listener
def _attach(environment: Any, **_: Any) -> None:
    attach(environment)  # settings from HUBCHAOS_* variables and HUBCHAOS_SETTINGS_FILE
