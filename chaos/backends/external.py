"""The `external` backend: an existing replica set reached through its URI.

hubchaos has no access to such members' hosts, so only faults that go through the server's
own admin commands are possible: replSetStepDown, replSetFreeze and `configureFailPoint`
(where test commands are enabled). Destructive faults (kill and stop, which become the
`shutdown` command) are refused unless every member they would hit is on the target's
`allowlist`; the member's supervisor (systemd, Kubernetes, Atlas) is expected to restart it.

Credentials: the URI may hold a user and password. They are redacted from every message and
never written to disk: the saved state keeps the redacted URI, and a process that re-attaches
(`hubchaos heal`) takes the full URI from the HUBCHAOS_URI environment variable.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Literal

from pymongo import MongoClient
from pymongo.errors import AutoReconnect, ConfigurationError, NetworkTimeout, PyMongoError
from pymongo.uri_parser import parse_uri

from chaos.backends.base import Cluster, ClusterState, Member
from chaos.redact import REDACTED, redact_text, redact_uri, uri_secrets
from chaos.target import ExternalTarget, MemberSpec
from contract.errors import BackendError, FaultError, HealError
from locustfiles.errortext import describe

URI_ENV = "HUBCHAOS_URI"
# How long the heal of a shutdown waits for the member's supervisor to bring it back.
RETURN_TIMEOUT_S = 120.0
SHUTDOWN_TIMEOUT_S = 10
NO_NETWORK = "network faults need access to the members' hosts, which an external cluster does not give"


class ExternalState(ClusterState):
    backend: Literal["external"] = "external"
    target: ExternalTarget  # with the URI redacted


def _host_key(host: str) -> str:
    return host if ":" in host else f"{host}:27017"


class ExternalCluster(Cluster):
    target: ExternalTarget
    state_model = ExternalState

    def __init__(self, target: ExternalTarget, cluster_id: str, workdir: Path) -> None:
        super().__init__(target, cluster_id, workdir)
        self._secrets = uri_secrets(target.uri)

    @classmethod
    def from_state(cls, state: ExternalState) -> ExternalCluster:
        target = state.target
        if REDACTED in target.uri:
            full = os.environ.get(URI_ENV, "")
            if redact_uri(full) != target.uri:
                raise BackendError(
                    f"the external cluster {target.uri} needs its credentials: set {URI_ENV} to its full URI"
                )
            target = target.model_copy(update={"uri": full})
        cluster = cls(target, state.cluster_id, state.workdir)
        cluster._build(state.addresses)
        return cluster

    def state(self) -> ExternalState:
        return ExternalState(
            cluster_id=self.cluster_id,
            owner=self.owner,
            workdir=self.workdir,
            addresses={m.name: m.address for m in self.members},
            target=self.target.model_copy(update={"uri": redact_uri(self.target.uri)}),
        )

    def redact(self, text: str) -> str:
        return redact_text(text, self._secrets)

    def uri(self, redacted: bool = False) -> str:
        return redact_uri(self.target.uri) if redacted else self.target.uri

    def _client_options(self) -> dict[str, Any]:
        """Credentials and TLS options of the URI, for the direct per-member clients."""
        parsed = parse_uri(self.target.uri)
        options: dict[str, Any] = {k: v for k, v in parsed["options"].items() if k != "replicaset"}
        if parsed["username"]:
            options["username"] = parsed["username"]
            options["password"] = parsed["password"]
        return options

    def _build(self, addresses: dict[str, str]) -> None:
        self.members = []
        for name, address in addresses.items():
            spec = self._annotation(address)
            self.members.append(Member.from_spec(spec, address) if spec else Member(name, address))

    def _annotation(self, address: str) -> MemberSpec | None:
        return next((s for s in self.target.members if s.host and _host_key(s.host) == address), None)

    def up(self) -> None:
        try:
            with MongoClient(self.target.uri, serverSelectionTimeoutMS=10_000) as client:
                config = client.admin.command("replSetGetConfig")["config"]
        except (PyMongoError, ConfigurationError) as exc:
            reason = self.redact(describe(exc))
            raise BackendError(f"cannot reach {self.uri(redacted=True)}: {reason}") from None
        addresses: dict[str, str] = {}
        for m in config["members"]:
            host = _host_key(m["host"])
            spec = self._annotation(host)
            addresses[spec.name if spec else _safe_name(host)] = host
        self._build(addresses)

    def down(self) -> None:
        self.close_clients()

    # --- member control: only through admin commands, only on allowlisted members ----------------
    def destructive_refusal(self, names: list[str]) -> str | None:
        allowed = {_host_key(h) for h in self.target.allowlist} | set(self.target.allowlist)
        for name in names:
            address = self.member(name).address
            if address not in allowed and address.rpartition(":")[0] not in allowed:
                return f"member {address} of an external cluster is not on target.allowlist"
        return None

    def _shutdown(self, name: str, force: bool) -> None:
        # A primary first waits up to timeoutSecs for a secondary to catch up (unless forced).
        command = {"shutdown": 1, "force": force, "timeoutSecs": SHUTDOWN_TIMEOUT_S}
        wait_ms = (SHUTDOWN_TIMEOUT_S + 10) * 1000
        try:
            with self.admin_client(name, socketTimeoutMS=wait_ms) as client:
                client.admin.command(command)
        except NetworkTimeout as exc:
            raise FaultError(f"shutdown of {name} got no answer: {self.redact(describe(exc))}") from None
        except AutoReconnect:
            pass  # the connection dies with the server: that is the success case
        except PyMongoError as exc:
            raise FaultError(f"shutdown of {name} failed: {self.redact(describe(exc))}") from None

    def kill(self, name: str) -> None:
        self._shutdown(name, force=True)

    def stop(self, name: str) -> None:
        self._shutdown(name, force=False)

    def start(self, name: str) -> None:
        """Wait for the member's own supervisor to bring it back."""
        deadline = time.monotonic() + RETURN_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.is_running(name):
                return
            time.sleep(1.0)
        raise HealError(f"member {name} did not come back within {RETURN_TIMEOUT_S:g} s: restart it by hand")

    def is_running(self, name: str) -> bool:
        try:
            self.admin_command(name, {"ping": 1})
            return True
        except PyMongoError:
            return False

    @classmethod
    def planned_network_refusal(cls, target: object) -> str | None:
        return NO_NETWORK

    def network_refusal(self) -> str | None:
        return NO_NETWORK


def _safe_name(address: str) -> str:
    """A member name from host:port (lower case, '-' for anything else)."""
    cleaned = "".join(c if c.isalnum() else "-" for c in address.lower()).strip("-")
    return cleaned[:31] or "member"
