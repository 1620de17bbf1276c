"""The target models: defaults, shorthand, and one clear error for a bad field."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.redact import has_credentials, redact_text, redact_uri, uri_secrets
from chaos.target import DockerTarget, ExternalTarget, LocalTarget, load_target, parse_target
from contract.errors import ScenarioError


def test_members_shorthand_and_settings_in_mongodb_names() -> None:
    target = parse_target({"backend": "local", "members": 2, "settings": {"electionTimeoutMillis": 2000}})
    assert isinstance(target, LocalTarget)
    assert [m.name for m in target.members] == ["m0", "m1"]
    assert target.settings.to_document() == {"electionTimeoutMillis": 2000, "heartbeatIntervalMillis": 2000}


def test_member_options_carry_region_as_a_tag() -> None:
    target = parse_target({"backend": "docker", "members": [{"name": "eu-1", "region": "eu", "priority": 2}]})
    assert isinstance(target, DockerTarget)
    assert target.members[0].config_options() == {"priority": 2.0, "votes": 1, "tags": {"region": "eu"}}


def test_bad_field_is_one_line_naming_source_and_field() -> None:
    with pytest.raises(ScenarioError) as err:
        parse_target({"backend": "local", "members": [{"name": "Bad Name"}]}, "drill.yaml")
    message = str(err.value)
    assert message.startswith("drill.yaml: target.members.0.name")
    assert "\n" not in message


def test_duplicate_member_names_and_unknown_backend() -> None:
    with pytest.raises(ScenarioError, match="appears twice"):
        parse_target({"backend": "local", "members": [{"name": "a"}, {"name": "a"}]})
    with pytest.raises(ScenarioError, match="target"):
        parse_target({"backend": "kubernetes"})


def test_load_target_from_a_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: x\ntarget:\n  backend: external\n  uri: mongodb://u:p@db1:27017/\n")
    target = load_target(path)
    assert isinstance(target, ExternalTarget)
    path.write_text("target: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml:\d+: invalid YAML"):
        load_target(path)


def test_uri_redaction() -> None:
    uri = "mongodb://admin:s3cr%40t@db1:27017,db2/?replicaSet=rs0"
    assert redact_uri(uri) == "mongodb://***@db1:27017,db2/?replicaSet=rs0"
    assert has_credentials(uri) and not has_credentials(redact_uri("mongodb://db1/"))
    assert uri_secrets(uri) == ("s3cr%40t", "admin")
    assert redact_text("auth failed for s3cr@t", ("s3cr@t",)) == "auth failed for ***"
