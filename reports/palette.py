"""Colours for every picture of a run: Okabe and Ito's palette, which people with any common
colour-vision deficiency can tell apart, plus a neutral grey."""

from __future__ import annotations

BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
GREEN = "#009E73"  # bluish green
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"  # reddish purple
GREY = "#999999"

CYCLE = (BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY_BLUE, YELLOW, BLACK)

# A fault's moments (reports.milestones keys): the colour of the time spent reaching each.
MILESTONE = {
    "injected": BLACK,
    "detected": VERMILLION,
    "elected": ORANGE,
    "rediscovered": PURPLE,
    "writable": BLUE,
    "throughput": GREEN,
}
