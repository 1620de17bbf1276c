"""Every fault kind against a 3-member emulator set in network namespaces (as root)."""

from __future__ import annotations

from pathlib import Path

from chaos_support import local_cluster, needs_root
from replset_faults import MEMBERS, SETTINGS, check_all_fault_kinds

pytestmark = needs_root


def test_every_fault_kind_on_a_three_member_set(tmp_path: Path) -> None:
    with local_cluster(tmp_path / "c", MEMBERS, settings=SETTINGS) as cluster:
        check_all_fault_kinds(cluster, tmp_path / "journal")
