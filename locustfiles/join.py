"""A worker joins its master over Locust's message channel and gets the run's settings from it,
so a worker on another machine needs no settings file, no shared disk and no copy of the scenario.

    worker                                        master
    JOIN {version}                       ──►      (any other hubchaos version: refused)
                                         ◄──      SETTINGS {settings}
    the settings validated, their user
    classes imported, the settings dumped
    JOINED {settings} or {problem}       ──►      the dump must equal what was sent
                                         ◄──      WELCOME, or REFUSED {problem} at any step

Validation on the worker reads its `HUBCHAOS_*` variables and its own schema, so a worker whose
environment or version would run different settings, or that cannot import the user classes
they name, is refused by name, never run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, NoReturn

from gevent.queue import Empty, Queue
from locust import User
from locust.runners import MasterRunner, WorkerRunner
from pydantic import ValidationError

from locustfiles.classes import UserClassError, resolve_user_classes
from locustfiles.settings import WorkloadSettings, differences, first_error

JOIN = "hubchaos_join"
SETTINGS = "hubchaos_settings"
JOINED = "hubchaos_joined"
WELCOME = "hubchaos_welcome"
REFUSED = "hubchaos_refused"


class JoinError(RuntimeError):
    """A worker that cannot run the master's settings, or got none; the message says why."""


def hubchaos_version() -> str:
    return version("hubchaos")


def worker_settings(settings: WorkloadSettings) -> dict[str, Any]:
    """What a worker runs: the master's settings without the run directory, a path on the
    master's machine (a worker sends its recordings instead)."""
    return settings.model_copy(update={"run_dir": None}).model_dump(mode="json")


@dataclass
class Gate:
    """The master's side: hands each joining worker the settings and keeps who joined."""

    runner: MasterRunner
    settings: dict[str, Any]
    joined: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)  # node id -> why

    def __post_init__(self) -> None:
        self.runner.register_message(JOIN, self._on_join)
        self.runner.register_message(JOINED, self._on_joined)

    def _on_join(self, msg: Any, **_: Any) -> None:
        theirs = (msg.data or {}).get("version")
        if theirs != hubchaos_version():
            self._refuse(msg.node_id, f"runs hubchaos {theirs}, the master {hubchaos_version()}")
            return
        self.runner.send_message(SETTINGS, {"settings": self.settings}, client_id=msg.node_id)

    def _on_joined(self, msg: Any, **_: Any) -> None:
        data = msg.data or {}
        if "problem" in data:
            self._refuse(msg.node_id, f"cannot run the settings: {data['problem']}")
            return
        differ = differences(self.settings, data.get("settings"))
        if differ:
            self._refuse(
                msg.node_id,
                f"would run other settings at {', '.join(differ[:5])} (a HUBCHAOS_* variable or "
                "another version on the worker)",
            )
            return
        self.joined.add(msg.node_id)
        self.runner.send_message(WELCOME, client_id=msg.node_id)

    def _refuse(self, node: str, why: str) -> None:
        host = node.rpartition("_")[0] or node  # Locust's node ids are <hostname>_<uuid>
        self.refused[node] = f"the worker on {host} {why}"
        self.runner.send_message(REFUSED, {"problem": why}, client_id=node)


class Joining:
    """The worker's side: asks the master for the settings, checks them, says what it will run
    and waits for the master's word on it."""

    def __init__(self, runner: WorkerRunner) -> None:
        self.runner = runner
        self._answers: Queue[tuple[str, Any]] = Queue()
        for kind in (SETTINGS, WELCOME, REFUSED):
            runner.register_message(kind, lambda msg, kind=kind, **_: self._answers.put((kind, msg.data)))

    def _answer(self, timeout_s: float) -> tuple[str, Any]:
        try:
            kind, data = self._answers.get(timeout=timeout_s)
        except Empty:
            raise JoinError(
                f"the master did not answer within {timeout_s:g} s (is it a `hubchaos run` master?)"
            ) from None
        if kind == REFUSED:
            raise JoinError(f"the master refused this worker: it {data['problem']}")
        return kind, data

    def _cannot_run(self, problem: str) -> NoReturn:
        self.runner.send_message(JOINED, {"problem": problem})
        raise JoinError(f"the master's settings cannot run here: {problem}")

    def settings(self, timeout_s: float) -> tuple[WorkloadSettings, list[type[User]]]:
        """The settings and the user classes they name (spawn messages name the classes: the
        same settings resolve the same ones here), once the master admitted this worker."""
        self.runner.send_message(JOIN, {"version": hubchaos_version()})
        _, data = self._answer(timeout_s)
        try:
            settings = WorkloadSettings.model_validate(data["settings"])
            classes = resolve_user_classes(settings)
        except ValidationError as exc:
            self._cannot_run(first_error(exc))
        except UserClassError as exc:
            self._cannot_run(f"{'.'.join(map(str, exc.where))}: {exc}")
        self.runner.send_message(JOINED, {"settings": worker_settings(settings)})
        self._answer(timeout_s)
        return settings, classes
