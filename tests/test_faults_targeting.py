"""Target resolution: roles, regions and names, resolved against a cluster's current state."""

from __future__ import annotations

import random

import pytest

from chaos.backends.base import Member
from chaos.backends.health import MemberStatus
from chaos.faults.targeting import resolve
from contract.errors import TargetError

MEMBERS = [
    Member("eu-1", "h1:27017", region="eu"),
    Member("eu-2", "h2:27017", region="eu"),
    Member("us-1", "h3:27017", region="us"),
    Member("ap-1", "h4:27017", region="ap"),
    Member("an-1", "h5:27017", region="eu"),
]


def statuses(primary: str | None = "eu-1", down: tuple[str, ...] = ()) -> list[MemberStatus]:
    out = []
    for m in MEMBERS:
        state = "PRIMARY" if m.name == primary else "(not reachable)" if m.name in down else "SECONDARY"
        out.append(MemberStatus(m.name, m.address, m.region, state, term=3))
    return out


def pick(target: str, **kw: object) -> list[str]:
    return resolve(target, MEMBERS, statuses(**kw), random.Random(7))  # type: ignore[arg-type]


def test_primary_is_the_member_that_says_so() -> None:
    assert pick("primary", primary="us-1") == ["us-1"]


def test_no_primary_is_refused() -> None:
    with pytest.raises(TargetError, match="no primary right now"):
        pick("primary", primary=None)


def test_secondary_is_one_secondary_and_never_the_primary() -> None:
    for seed in range(20):
        (name,) = resolve("secondary", MEMBERS, statuses(), random.Random(seed))
        assert name != "eu-1"


def test_secondaries_skip_unreachable_members() -> None:
    assert pick("secondaries", down=("ap-1",)) == ["eu-2", "us-1", "an-1"]


def test_majority_and_minority_sizes() -> None:
    assert len(pick("majority")) == 3
    assert len(pick("minority")) == 2
    assert len(set(pick("majority"))) == 3


def test_minority_of_one_member_is_refused() -> None:
    one = MEMBERS[:1]
    with pytest.raises(TargetError, match="no minority"):
        resolve("minority", one, statuses()[:1], random.Random(1))


def test_seeded_picks_repeat() -> None:
    a = [resolve("any", MEMBERS, statuses(), random.Random(42)) for _ in range(3)]
    b = [resolve("any", MEMBERS, statuses(), random.Random(42)) for _ in range(3)]
    assert a == b


def test_region_resolves_to_all_its_members() -> None:
    assert pick("region:eu") == ["eu-1", "eu-2", "an-1"]


def test_empty_region_is_refused_naming_the_regions() -> None:
    with pytest.raises(TargetError) as err:
        pick("region:sa")
    assert "no member is in region 'sa'" in str(err.value)
    assert "ap, eu, us" in str(err.value)
    assert "\n" not in str(err.value)


def test_member_names_and_lists() -> None:
    assert pick("us-1") == ["us-1"]
    assert pick("us-1, eu-2,us-1") == ["us-1", "eu-2"]


def test_unknown_member_is_refused_with_the_choices() -> None:
    with pytest.raises(TargetError) as err:
        pick("eu-9")
    message = str(err.value)
    assert "unknown target 'eu-9'" in message
    assert "eu-1, eu-2, us-1" in message


def test_nth_secondary_counts_secondaries_in_member_order() -> None:
    assert pick("secondary:1") == ["eu-2"]
    assert pick("secondary:2", down=("us-1",)) == ["ap-1"]
    assert pick("secondary:1", primary="eu-2") == ["eu-1"]


@pytest.mark.parametrize(
    ("target", "message"), [("secondary:9", "only 4 SECONDARY"), ("secondary:0", "n = 1, 2")]
)
def test_nth_secondary_out_of_range_is_refused(target: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        pick(target)
