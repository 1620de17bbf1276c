"""Pure pieces of the renderers: value formats, a fault's moments, the anatomy bar's layout."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract import rundir
from contract.rundir import Verification
from reports.formatting import clock, count, date, offset, seconds, signed, value
from reports.html.anatomy import CHAR_W, WIDTH, anatomy_bar
from reports.indeterminate import indeterminate_writes
from reports.milestones import Milestone, since_previous

KEYS = ("injected", "detected", "elected", "rediscovered", "writable", "throughput")


def moments(*times: float | None) -> list[Milestone]:
    return [Milestone(key, key, t, "") for key, t in zip(KEYS, times, strict=False)]


@pytest.mark.parametrize(
    ("number", "unit", "shown"),
    [
        (1.7709, "s", "1.77 s"),
        (1190.4, "ms", "1,190 ms"),
        (85.0, "ms", "85 ms"),
        (0.0005, "ratio", "0.05 %"),
        (2.0, "writes", "2 writes"),
        (None, "s", "-"),
        (float("nan"), "ms", "-"),
    ],
)
def test_values_read_in_their_unit(number: float | None, unit: str, shown: str) -> None:
    assert value(number, unit) == shown


def test_signed_offsets_durations_and_times() -> None:
    assert signed(0.35, "s") == "+0.35 s" and signed(-12.0, "ms") == "-12 ms" and signed(0.0, "s") == "±0 s"
    assert offset(1.0) == "+1.00 s" and offset(-0.2) == "-0.20 s" and offset(None) == "-"
    assert seconds(4.219) == "4.22 s" and seconds(42.0) == "42.0 s"
    assert seconds(245.0) == "4 min 05 s" and seconds(3720.0) == "1 h 02 min"
    assert clock(1_700_000_000.25) == "22:13:20.250"
    assert date(1_700_000_000.25) == "2023-11-14 22:13:20 UTC"
    assert count(1234567) == "1,234,567" and count(None) == "-"


def test_since_previous_follows_time_not_the_listed_order() -> None:
    # The driver found the new primary (3.0) after the first write succeeded (2.0).
    gaps = since_previous(moments(0.0, 0.5, 1.5, 3.0, 2.0, None))
    assert gaps == [None, 0.5, 1.0, 1.0, 0.5, None]


def test_the_bar_runs_from_the_injection_to_the_last_moment_in_contiguous_pieces() -> None:
    bar = anatomy_bar(moments(0.0, 0.5, 1.5, 3.0, 2.0, 4.0))
    assert len(bar.segments) == 5
    assert bar.segments[0].x == pytest.approx(24.0)
    ends = [s.x + s.width for s in bar.segments]
    assert ends[-1] == pytest.approx(WIDTH - 24.0)
    for before, after in zip(bar.segments, bar.segments[1:], strict=False):
        assert after.x == pytest.approx(before.x + before.width)
    assert [s.label for s in bar.segments] == ["0.50 s", "1.00 s", "0.50 s", "1.00 s", "1.00 s"]
    assert [t.label for t in bar.ticks][:3] == ["0 s", "0.4 s", "0.8 s"]


def test_a_bar_without_measurements_still_has_a_scale() -> None:
    bar = anatomy_bar(moments(0.0, None, None, None, None, None))
    assert bar.segments == [] and [m.label for m in bar.markers] == ["injected +0.00 s"]
    assert bar.ticks[0].label == "0 s"


@given(st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=5, max_size=5))
def test_moment_labels_never_overlap_and_stay_inside(times: list[float]) -> None:
    bar = anatomy_bar(moments(0.0, *times))
    boxes = []
    for m in bar.markers:
        width = len(m.label) * CHAR_W
        left = {"start": m.x, "middle": m.x - width / 2, "end": m.x - width}[m.anchor]
        assert left >= -1e-6 and left + width <= WIDTH + 1e-6
        boxes.append((m.y, left, left + width))
    for i, (y, lo, hi) in enumerate(boxes):
        for y2, lo2, hi2 in boxes[i + 1 :]:
            assert y != y2 or hi <= lo2 or hi2 <= lo
    assert bar.height >= max(y for y, _, _ in boxes)


def test_the_earliest_indeterminate_writes_are_found_in_a_long_ledger(tmp_path: Path) -> None:
    """The ledger is read a row group at a time, and no further than the earliest are found."""
    n = 1_000
    ids = [f"w-{i}" for i in range(n)]
    ledger = pa.table(
        {
            "write_id": ids,
            "collection": ["prompts"] * n,
            "doc_id": [f"d{i}" for i in range(n)],
            "t_start": [100.0 + i for i in range(n)],
        }
    )
    pq.write_table(ledger, tmp_path / rundir.LEDGER, row_group_size=50)
    unsure = ids[990:] + ids[400:420:2] + ids[30:33] + ["w-gone"]  # the last one is in no ledger row
    verification = Verification(1.0, "m0", [], unsure[::2], unsure[1::2], [])
    (tmp_path / rundir.VERIFICATION).write_text(json.dumps(asdict(verification)))
    listed = indeterminate_writes(tmp_path, limit=5)
    assert listed is not None and listed.total == len(unsure)
    assert [(w.write_id, w.t_start) for w in listed.first] == [
        ("w-30", 130.0),
        ("w-31", 131.0),
        ("w-32", 132.0),
        ("w-400", 500.0),
        ("w-402", 502.0),
    ]
    everything = indeterminate_writes(tmp_path, limit=100)
    assert everything is not None and everything.first[-1].write_id == "w-gone"
    assert everything.first[-1].t_start is None and len(everything.first) == len(unsure)
