"""The hub workload as a locustfile: `locust -f locustfiles/hub.py --host mongodb://...`.

Runs with the web UI, `--headless`, and as master or worker. Settings come from `HUBCHAOS_*`
environment variables and an optional YAML/JSON file (`--hub-settings PATH` or
`HUBCHAOS_SETTINGS_FILE`); see `locustfiles.settings`. Request events, the write ledger and the
driver's discovery events go to the run directory (`HUBCHAOS_RUN_DIR`, default
`runs/workload-<time>`), merged into `events.parquet`, `ledger.parquet` and `discovery.jsonl`
when Locust quits.
"""

from __future__ import annotations

import sys
from typing import Any

from locust import events

from locustfiles.environment import attach
from locustfiles.settings import SettingsError, load_settings
from locustfiles.users import CanaryUser, HubUser, IngestUser

__all__ = ["CanaryUser", "HubUser", "IngestUser"]


@events.init_command_line_parser.add_listener
def _add_options(parser: Any, **_: Any) -> None:
    parser.add_argument(
        "--hub-settings",
        default=None,
        help="YAML or JSON file with hubchaos workload settings (HUBCHAOS_* variables override it)",
    )


@events.init.add_listener
def _attach(environment: Any, **_: Any) -> None:
    path = getattr(environment.parsed_options, "hub_settings", None)
    try:
        attach(environment, load_settings(path))
    except SettingsError as exc:
        sys.stderr.write(f"hubchaos: {exc}\n")
        raise SystemExit(2) from None
