"""The geometry of a fault's anatomy bar, drawn by the template as inline SVG.

One horizontal bar from the injection to the last measured moment, cut at every moment in time
order; each piece is coloured for the moment it leads to and labelled with its duration when
it is wide enough. Moment labels go under the bar on as many rows as they need not to overlap.
Drawn as SVG rather than with matplotlib: its text stays sharp and selectable, and a run with
dozens of faults costs no figure each.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from matplotlib.ticker import MaxNLocator

from reports.formatting import offset
from reports.milestones import Milestone, since_previous
from reports.palette import MILESTONE

WIDTH = 1180.0
PAD = 24.0
BAR_Y = 34.0
BAR_H = 22.0
ROW_H = 17.0
FIRST_ROW_Y = BAR_Y + BAR_H + 20.0
CHAR_W = 7.0  # average advance of the 12 px sans-serif labels; only used to avoid overlaps


@dataclass(frozen=True, slots=True)
class Segment:
    x: float
    width: float
    colour: str
    label: str  # its duration, empty when the piece is too narrow for it


@dataclass(frozen=True, slots=True)
class Marker:
    x: float
    y: float  # the label's baseline
    colour: str
    label: str
    anchor: str  # SVG text-anchor: start, middle or end


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class AnatomyBar:
    width: float
    height: float
    bar_y: float
    bar_h: float
    segments: list[Segment]
    markers: list[Marker]
    ticks: list[Tick]


def anatomy_bar(moments: list[Milestone]) -> AnatomyBar:
    measured = sorted((m for m in moments if m.after_s is not None), key=lambda m: m.after_s or 0.0)
    times = [m.after_s or 0.0 for m in measured]
    lo, hi = min([0.0, *times]), max([0.0, *times])
    if hi - lo < 1e-9:
        hi = lo + 1.0

    def x(t: float) -> float:
        return PAD + (t - lo) / (hi - lo) * (WIDTH - 2 * PAD)

    segments = []
    gaps = since_previous(moments)
    for before, after in itertools.pairwise(measured):
        x0, x1 = x(before.after_s or 0.0), x(after.after_s or 0.0)
        label = f"{gaps[moments.index(after)]:.2f} s"
        fits = x1 - x0 >= len(label) * CHAR_W + 6
        segments.append(Segment(x0, x1 - x0, MILESTONE[after.key], label if fits else ""))

    markers = _markers(measured, x)
    ticks = [
        Tick(x(t), f"{t:g} s")
        for t in MaxNLocator(nbins=10).tick_values(lo, hi)
        if lo - 1e-9 <= t <= hi + 1e-9
    ]
    rows = 1 + max((round((m.y - FIRST_ROW_Y) / ROW_H) for m in markers), default=0)
    height = FIRST_ROW_Y + rows * ROW_H
    return AnatomyBar(WIDTH, height, BAR_Y, BAR_H, segments, markers, ticks)


def _markers(measured: list[Milestone], x: Callable[[float], float]) -> list[Marker]:
    """Labels under the bar, each on the first row where it overlaps no other label, no line
    from the bar to a label below crosses it, and its own line crosses no label above."""
    labels: list[tuple[int, float, float]] = []  # row, left, right
    lines: list[tuple[int, float]] = []  # row, x
    markers = []
    for m in measured:
        mx = x(m.after_s or 0.0)
        text = f"{m.label} {offset(m.after_s)}"
        width = len(text) * CHAR_W
        anchor, left = "middle", mx - width / 2
        if left < 2:
            anchor, left = "start", mx
        elif left + width > WIDTH - 2:
            anchor, left = "end", mx - width
        row = _row(labels, lines, mx, left, left + width)
        labels.append((row, left, left + width))
        lines.append((row, mx))
        markers.append(Marker(mx, FIRST_ROW_Y + row * ROW_H, MILESTONE[m.key], text, anchor))
    return markers


def _row(
    labels: list[tuple[int, float, float]],
    lines: list[tuple[int, float]],
    x: float,
    left: float,
    right: float,
) -> int:
    def free(row: int) -> bool:
        return not any(r == row and lo < right + 10 and left < hi + 10 for r, lo, hi in labels)

    def clear(row: int) -> bool:
        crosses_label = any(r < row and lo - 3 <= x <= hi + 3 for r, lo, hi in labels)
        crossed_by_line = any(r > row and left - 3 <= lx <= right + 3 for r, lx in lines)
        return not crosses_label and not crossed_by_line

    rows = range(len(labels) + 1)  # the last one is always free
    best = next((r for r in rows if free(r) and clear(r)), None)
    # When a crossing line cannot be avoided, at least no two labels overlap.
    return best if best is not None else next(r for r in rows if free(r))
