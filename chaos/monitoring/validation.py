"""An alert drill's Prometheus, from before the load to the record of its answers.

start    the scenario's rule files rewritten with the drill's `for:` into prometheus/rules/,
         Prometheus started on them, scraping the drill's endpoint every scrape interval,
         and waited for until it has scraped once and evaluated its rules once
record   after the drill (or whatever ended it): every evaluation's ALERTS and
         ALERTS_FOR_STATE samples over the drill and the rules' health, into alerts.json,
         so the analysis never needs Prometheus
stop     always, after the record
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from chaos.monitoring.prometheus import Prometheus
from chaos.monitoring.rules import write_for_drill
from chaos.monitoring.spec import AlertsSpec
from contract import rundir
from contract.errors import RunError
from contract.rundir import AlertsRecord, ExporterInfo

SCRAPE_WAIT_S = 30.0


class AlertDrill:
    def __init__(self, spec: AlertsSpec, run_dir: Path, endpoint: ExporterInfo) -> None:
        self.spec = spec
        self.run_dir = run_dir
        folder = run_dir / rundir.PROMETHEUS_DIR
        self.rule_files, self.rules = write_for_drill(spec.rules, dict(spec.for_), folder / "rules")
        self.prometheus = Prometheus(
            spec.prometheus, folder, self.rule_files, f"127.0.0.1:{endpoint.port}", spec.scrape_interval
        )
        self.started_at = 0.0
        self.version = "unknown"

    def start(self) -> None:
        self.prometheus.start()
        self.prometheus.wait_scraped(SCRAPE_WAIT_S)
        self.version = self.prometheus.version()
        self.started_at = time.time()

    def record(self) -> AlertsRecord:
        """Prometheus' answers over the drill, written to alerts.json; an answer it could not give
        is recorded as the record's error."""
        end = time.time()
        record = AlertsRecord(
            prometheus_version=self.version,
            scrape_interval_s=self.spec.scrape_interval,
            evaluation_interval_s=self.spec.scrape_interval,
            start=self.started_at or end,
            end=end,
            rules=self.rules,
            expect={key: list(alerts) for key, alerts in self.spec.expect.items()},
        )
        # A range selector returns each evaluation's own sample: exact times, no query step.
        window = f"{max(1, math.ceil(end - record.start) + 1)}s"
        try:
            record.alerts = self.prometheus.api("query", query=f"ALERTS[{window}]", time=end)
            record.for_state = self.prometheus.api("query", query=f"ALERTS_FOR_STATE[{window}]", time=end)
            record.rule_health = [
                {k: rule.get(k) for k in ("name", "health", "lastError", "query", "duration")}
                for group in self.prometheus.api("rules", type="alert")["groups"]
                for rule in group["rules"]
            ]
        except RunError as exc:
            record.error = str(exc)
        path = self.run_dir / rundir.ALERTS
        path.write_text(json.dumps(asdict(record), indent=1) + "\n")
        return record

    def stop(self) -> None:
        self.prometheus.stop()


@contextmanager
def alert_drill(
    spec: AlertsSpec | None, run_dir: Path, endpoint: ExporterInfo
) -> Iterator[AlertDrill | None]:
    """Prometheus for the block when the scenario asks for it; recorded and stopped however the
    block ends (a Prometheus that could not start is stopped before the error goes on)."""
    if spec is None or not spec.enabled:
        yield None
        return
    drill = AlertDrill(spec, run_dir, endpoint)
    try:
        drill.start()
    except BaseException:
        drill.stop()
        raise
    try:
        yield drill
    finally:
        try:
            drill.record()
        finally:
            drill.stop()
