"""The external backend against a running emulator set reached only through its URI."""

from __future__ import annotations

from pathlib import Path

import pytest
from chaos_support import wait_until
from pymongo.errors import OperationFailure

from chaos.backends import attach, create
from chaos.backends.external import ExternalCluster
from chaos.faults.injector import FaultInjector
from chaos.faults.journal import Journal
from chaos.faults.kinds.failpoint import Failpoint
from chaos.faults.kinds.kill import Kill
from chaos.faults.kinds.partition import Partition
from chaos.faults.kinds.pause import Pause
from chaos.faults.kinds.stop import Stop
from chaos.target import parse_target
from contract.errors import BackendError, TargetError


def external(uri: str, tmp_path: Path, **extra: object) -> ExternalCluster:
    cluster = create(parse_target({"backend": "external", "uri": uri, **extra}), tmp_path / "ext")
    assert isinstance(cluster, ExternalCluster)
    cluster.up()
    return cluster


def test_destructive_faults_are_refused_without_allowlist(single_member, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cluster = external(single_member.uri, tmp_path)
    assert [m.address for m in cluster.members] == [single_member.members[0].address]
    inj = FaultInjector(cluster, Journal(tmp_path / "journal"))
    for spec in (Kill(), Stop(), Pause(), Partition()):
        with pytest.raises(TargetError) as err:
            inj.inject(spec)
        assert "\n" not in str(err.value)
        assert "not on target.allowlist" in str(err.value)
    assert single_member.members[0].alive
    assert not list((tmp_path / "journal").glob("*.json"))

    # Non-destructive faults work through admin commands.
    fault = inj.inject(Failpoint(preset="error", error_code=2, commands=["ping"]))
    with single_member.client() as client, pytest.raises(OperationFailure):
        client.admin.command("ping")
    inj.heal(fault)
    with single_member.client() as client:
        client.admin.command("ping")
    cluster.down()


def test_allowlisted_member_may_be_shut_down(single_member, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    member = single_member.members[0]
    cluster = external(single_member.uri, tmp_path, allowlist=[member.address])
    inj = FaultInjector(cluster, Journal(tmp_path / "journal"))
    fault = inj.inject(Kill(target="primary"))  # shutdown with force: a lone primary may go
    wait_until(lambda: not member.alive, 15, "the member to shut down")
    assert fault.members == [cluster.members[0].name]
    cluster.down()


def test_credentials_never_leave_the_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = "mongodb://hub:s3cret@127.0.0.1:1/?replicaSet=rs0"
    target = parse_target({"backend": "external", "uri": uri, "healthy_timeout_s": 1})
    cluster = create(target, tmp_path)
    cluster.members = []
    with pytest.raises(BackendError) as err:
        cluster.up()
    assert "s3cret" not in str(err.value) and "hub:" not in str(err.value)
    assert cluster.uri(redacted=True) == "mongodb://***@127.0.0.1:1/?replicaSet=rs0"
    saved = cluster.state().model_dump_json()
    assert "s3cret" not in saved
    with pytest.raises(BackendError, match="HUBCHAOS_URI"):
        attach(cluster.state())
    monkeypatch.setenv("HUBCHAOS_URI", uri)
    assert attach(cluster.state()).uri() == uri
