"""How values read in the report, the Markdown summary and the comparison: one style for all.

Times of day are UTC, so a report reads the same wherever it is opened; moments within a run
are seconds after a fault's injection (`+1.77 s`) or after the run's start.
"""

from __future__ import annotations

import math
import time

from reports.verdicts import SLOResult, show

MISSING = "-"


def value(number: float | None, unit: str) -> str:
    """A measurement in its unit (3.21 s, 85 ms, 0.05 %, 2 writes), or a dash."""
    if number is None or math.isnan(number):
        return MISSING
    if abs(number) >= 1000 and unit in ("s", "ms"):
        return f"{number:,.0f} {unit}"  # `show` would write 1.19e+03
    return show(number, unit)


def measured(result: SLOResult) -> str:
    """An SLO's measured value; `≥` marks a lower bound (the fault never recovered)."""
    text = value(result.measured, result.unit)
    return f"≥ {text}" if result.lower_bound and result.measured is not None else text


def signed(number: float | None, unit: str) -> str:
    """A difference with its sign: +1.2 s, -35 ms."""
    if number is None or math.isnan(number):
        return MISSING
    sign = "+" if number > 0 else "-" if number < 0 else "±"
    return sign + value(abs(number), unit)


def offset(seconds: float | None) -> str:
    """A moment after a fault's injection: +1.77 s."""
    if seconds is None:
        return MISSING
    return f"{'-' if seconds < 0 else '+'}{abs(seconds):.2f} s"


def seconds(span: float | None) -> str:
    """A duration: 0.41 s, 12.3 s, 4 min 05 s, 1 h 02 min."""
    if span is None:
        return MISSING
    if span < 10:
        return f"{span:.2f} s"
    if span < 60:
        return f"{span:.1f} s"
    minutes, secs = divmod(round(span), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def clock(t: float | None) -> str:
    """A wall-clock time of day with milliseconds: 04:18:20.813."""
    if t is None:
        return MISSING
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}"


def date(t: float | None) -> str:
    """A date and time: 2026-11-29 04:18:20 UTC."""
    if t is None:
        return MISSING
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def count(n: int | None) -> str:
    return MISSING if n is None else f"{n:,}"


def percent(fraction: float | None) -> str:
    return MISSING if fraction is None else f"{fraction * 100:.3g} %"


def finding(found: object) -> str:
    """A runbook step's finding as one line: lists joined, mappings as key=value, numbers short."""
    if isinstance(found, bool) or found is None:
        return MISSING if found is None else str(found).lower()
    if isinstance(found, float):
        return f"{found:.4g}"
    if isinstance(found, dict):
        return "; ".join(f"{k}={finding(v)}" for k, v in found.items())
    if isinstance(found, list | tuple):
        return ", ".join(finding(v) for v in found) or MISSING
    return str(found)
