"""The report's plots: matplotlib figures (Agg canvas, no pyplot state) as PNG bytes to inline.

Every plot shares one time axis, seconds since the run started, with the same margins, so the
figures line up one under another; fault windows are shaded and labelled and recovery windows
shaded lighter. Strings from the run reach matplotlib as plain text (mathtext off), since a `$`
in a member or operation name must not be parsed as a formula.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from matplotlib import rc_context
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter
from matplotlib.transforms import blended_transform_factory

from reports import palette
from reports.phases import Phase
from reports.states import UNREACHABLE
from reports.summary import Summary
from reports.timeline import Timeline

WIDTH_IN = 12.4  # at DPI: 1240 px, the report's content width at 1280 px
DPI = 100
LEFT, RIGHT = 0.075, 0.985
LABEL_GAP_PX = 70  # fault and term labels closer than this are skipped, so dozens stay legible
TOP_BAND_IN = 0.7
RC = {
    "text.parse_math": False,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
}
STATE_COLOURS = {
    "PRIMARY": palette.BLUE,
    "SECONDARY": palette.SKY_BLUE,
    UNREACHABLE: palette.VERMILLION,
    "RECOVERING": palette.ORANGE,
    "ROLLBACK": palette.PURPLE,
    "STARTUP2": palette.YELLOW,
}
CANARY = (  # colour and meaning of one time bin of the canary's strip
    (palette.GREEN, "every canary write succeeded"),
    (palette.ORANGE, "some canary writes failed"),
    (palette.VERMILLION, "every canary write failed"),
    ("#d9d9d9", "no canary write completed"),
)


@dataclass(frozen=True, slots=True)
class Plot:
    key: str
    title: str
    alt: str  # what the picture shows, for screen readers and when an image is missing
    png: bytes | None  # None: nothing to draw (`missing` says why)
    missing: str | None = None

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png or b"").decode("ascii")


def plots(summary: Summary) -> list[Plot]:
    """Every plot of the report, in the order it shows them."""
    axis = _TimeAxis(summary)
    timeline = summary.timeline
    no_timeline = "the time series could not be computed (see the analyser errors)"
    charts: list[tuple[str, str, str, Callable[[], Figure] | None, str]] = [
        (
            "latency",
            "Latency over time per operation group",
            "p50, p95, p99 and maximum latency of successful operations per time bin, one panel "
            "per operation group, logarithmic scale",
            (lambda: _latency(timeline, axis)) if timeline and timeline.latency else None,
            no_timeline if timeline is None else "no operation succeeded",
        ),
        (
            "throughput",
            "Throughput and errors over time",
            "successful and failed operations and writes per second",
            (lambda: _throughput(timeline, axis)) if timeline else None,
            no_timeline,
        ),
        (
            "states",
            "Member states",
            "each member's state over time as it reported itself, with term changes",
            (lambda: _states(summary, axis)) if summary.member_states else None,
            "no probe samples: the run recorded no member states",
        ),
        (
            "lag",
            "Replication lag per member",
            "the largest replication lag of each available member per time bin, as the primary saw it",
            (lambda: _lag(timeline, summary, axis)) if timeline and timeline.lag else None,
            "no probe samples with replication lag",
        ),
        (
            "canary",
            "Canary write availability",
            "per time bin: whether the canary's writes succeeded, partly failed, all failed or none "
            "completed",
            (lambda: _canary(timeline, axis))
            if timeline and sum(timeline.canary_ok + timeline.canary_failed)
            else None,
            "the run has no canary writes",
        ),
    ]
    out = []
    with rc_context(RC):
        for key, title, alt, draw, reason in charts:
            out.append(Plot(key, title, alt, png(draw()) if draw else None, None if draw else reason))
    return out


def host_plot(summary: Summary) -> Plot:
    """The measuring host's panel: each process's CPU, and the host's run queue against its cores."""
    timeline = summary.timeline
    alt = (
        "per time bin: the largest CPU use of the load-generating processes and local members in "
        "cores, and the host's run queue against the cores it has"
    )
    if timeline is None or not timeline.resources:
        return Plot("host", "Measuring host", alt, None, "no resource samples were recorded")
    with rc_context(RC):
        return Plot("host", "Measuring host", alt, png(_host(timeline, summary, _TimeAxis(summary))))


def png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _figure(height_in: float, rows: int = 1, heights: list[float] | None = None) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI)
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False, height_ratios=heights)[:, 0]
    # The band above the plots holds, from the top: the legend, then the first panel's title
    # (left) and the fault labels.
    figure.subplots_adjust(
        left=LEFT, right=RIGHT, top=1 - TOP_BAND_IN / height_in, bottom=0.5 / height_in, hspace=0.35
    )
    return figure, list(axes)


def _legend(figure: Figure, handles: list[Artist]) -> None:
    figure.legend(handles=handles, loc="upper right", bbox_to_anchor=(RIGHT, 1.0), ncols=len(handles))


def _sparse(xs: list[float], ax: Axes, span: float) -> list[int]:
    """Which of these x positions (ascending) to label so that labels stay LABEL_GAP_PX apart."""
    px_per_unit = ax.get_window_extent().width / max(span, 1.0)
    chosen: list[int] = []
    for i, x in enumerate(xs):
        if not chosen or (x - xs[chosen[-1]]) * px_per_unit >= LABEL_GAP_PX:
            chosen.append(i)
    return chosen


class _TimeAxis:
    """Seconds since the run started, and the run's fault and recovery windows on that axis."""

    def __init__(self, summary: Summary) -> None:
        self.origin = summary.run_start
        self.end = summary.run_end - self.origin
        self.faults = [
            (f.fault_id, f.kind, f.t_inject - self.origin, (f.t_heal or summary.run_end) - self.origin)
            for f in summary.faults
            if f.injected
        ]
        # Each kind may bring its own colour (chaos.faults.kind.FaultSpec.colour).
        self.colours = [f.colour or palette.VERMILLION for f in summary.faults if f.injected]
        self.recoveries = [
            (w.start - self.origin, w.end - self.origin) for w in summary.phases if w.phase is Phase.RECOVERY
        ]

    def bins(self, timeline: Timeline) -> np.ndarray:
        """The middle of each time bin."""
        return np.asarray(timeline.start, dtype=float) - self.origin + timeline.bin_s / 2

    def decorate(self, axes: list[Axes], *, shade: bool = True) -> None:
        """Shade fault and recovery windows on every panel (or, over opaque pictures, mark
        where faults start and end), and label faults on the top panel."""
        for ax in axes:
            for start, end in self.recoveries if shade else []:
                ax.axvspan(start, end, color=palette.YELLOW, alpha=0.18, lw=0, zorder=0)
            for (_, _, start, end), colour in zip(self.faults, self.colours, strict=True):
                if shade:
                    ax.axvspan(start, end, color=colour, alpha=0.12, lw=0, zorder=0)
                else:
                    ax.vlines(
                        [start, end], 0, 1, transform=ax.get_xaxis_transform(), colors=palette.BLACK, lw=1.2
                    )
            ax.set_xlim(0, max(self.end, 1.0))
        top = axes[0]
        short = len(self.faults) > 8
        on_top = blended_transform_factory(top.transData, top.transAxes)
        for i in _sparse([start for _, _, start, _ in self.faults], top, self.end):
            fault_id, kind, start, _ = self.faults[i]
            top.text(
                start, 1.01, fault_id if short else f"{fault_id} {kind}", transform=on_top, fontsize=8,
                color=palette.VERMILLION, va="bottom", ha="left", clip_on=False,
            )  # fmt: skip
        axes[-1].set_xlabel("seconds since the run started")

    def legend_handles(self) -> list[Artist]:
        handles: list[Artist] = []
        if self.faults:
            handles.append(Patch(color=palette.VERMILLION, alpha=0.25, label="fault"))
        if self.recoveries:
            handles.append(Patch(color=palette.YELLOW, alpha=0.35, label="recovery"))
        return handles


def _latency(timeline: Timeline, axis: _TimeAxis) -> Figure:
    groups = timeline.latency
    figure, axes = _figure(0.9 + 1.9 * len(groups), len(groups))
    x = axis.bins(timeline)
    lines = (
        ("p50", "p50_ms", palette.BLUE, "-", 1.3),
        ("p95", "p95_ms", palette.GREEN, "--", 1.1),
        ("p99", "p99_ms", palette.ORANGE, "-.", 1.1),
        ("max", "max_ms", palette.VERMILLION, ":", 1.0),
    )
    for ax, series in zip(axes, groups, strict=True):
        for label, field, colour, style, width in lines:
            ax.plot(
                x, np.asarray(getattr(series, field), dtype=float), style, color=colour, lw=width, label=label
            )
        ax.set_yscale("log")
        # The default log labels are mathtext, which is switched off (see the module docstring).
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("ms")
        ax.set_title(f"{series.group}  ({sum(series.count):,} successful)", fontsize=9, pad=14)
    axis.decorate(axes)
    _legend(figure, axes[0].get_legend_handles_labels()[0] + axis.legend_handles())
    return figure


def _throughput(timeline: Timeline, axis: _TimeAxis) -> Figure:
    figure, axes = _figure(4.6, 2)
    x, per_s = axis.bins(timeline), 1.0 / timeline.bin_s
    top, bottom = axes
    top.plot(x, np.asarray(timeline.ops_ok) * per_s, color=palette.BLUE, lw=1.2, label="operations")
    top.plot(x, np.asarray(timeline.writes_ok) * per_s, "--", color=palette.GREEN, lw=1.1, label="writes")
    top.set_title("successful per second", pad=14)
    bottom.plot(
        x, np.asarray(timeline.ops_failed) * per_s, color=palette.VERMILLION, lw=1.2, label="operations"
    )
    bottom.plot(
        x, np.asarray(timeline.writes_failed) * per_s, "--", color=palette.ORANGE, lw=1.1, label="writes"
    )
    bottom.set_title("failed per second", pad=6)
    for ax in axes:
        ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))
        ax.set_ylabel("per s")
    axis.decorate(axes)
    _legend(figure, top.get_legend_handles_labels()[0] + axis.legend_handles())
    bottom.legend(loc="upper right", ncols=2)
    return figure


def _states(summary: Summary, axis: _TimeAxis) -> Figure:
    named = [m.name for m in summary.run.members]
    members = named + sorted({s.member for s in summary.member_states} - set(named))
    members = [m for m in members if any(s.member == m for s in summary.member_states)]
    figure, (ax,) = _figure(1.3 + 0.42 * len(members))
    seen: dict[str, str] = {}
    for row, member in enumerate(members):
        by_state: dict[str, list[tuple[float, float]]] = {}
        for s in summary.member_states:
            if s.member == member:
                by_state.setdefault(s.state, []).append((s.start - axis.origin, max(s.end - s.start, 1e-3)))
        for state, spans in by_state.items():
            colour = seen.setdefault(state, STATE_COLOURS.get(state, palette.GREY))
            hatch = "////" if state == UNREACHABLE else None
            ax.broken_barh(
                spans, (row - 0.35, 0.7), facecolors=colour, edgecolor="white", hatch=hatch, lw=0.3
            )
    ax.set_yticks(range(len(members)), members)
    ax.set_ylim(len(members) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    changes: list[tuple[float, int]] = []  # when the highest term seen went up, and to what
    for s in sorted(summary.member_states, key=lambda s: s.start):
        if s.term is not None and (not changes or s.term > changes[-1][1]):
            changes.append((s.start - axis.origin, s.term))
    changes = changes[1:]  # the first is the term the run started in
    for t, _ in changes:
        ax.axvline(t, color=palette.BLACK, ls=":", lw=0.9)
    for i in _sparse([t for t, _ in changes], ax, axis.end):
        t, term = changes[i]
        ax.text(t, len(members) - 0.5, f" term {term}", va="bottom", fontsize=8)
    axis.decorate([ax])
    handles: list[Artist] = [
        Patch(facecolor=c, hatch="////" if st == UNREACHABLE else None, label=st) for st, c in seen.items()
    ]
    _legend(figure, handles + axis.legend_handles())
    return figure


def _host(timeline: Timeline, summary: Summary, axis: _TimeAxis) -> Figure:
    figure, (top, bottom) = _figure(4.6, 2)
    x = axis.bins(timeline)
    processes = [r for r in timeline.resources if r.role != "host"]
    for series, colour in zip(processes, palette.CYCLE * 4, strict=False):
        style = "-" if series.role == "load" else "--"
        top.plot(x, np.asarray(series.cpu, dtype=float), style, color=colour, lw=1.1, label=series.source,
                 drawstyle="steps-mid")  # fmt: skip
    limits = summary.slos.saturation
    if limits is not None:
        top.axhline(limits.process_cpu, color=palette.BLACK, ls=":", lw=0.9)
    top.set_ylim(bottom=0, top=max(1.05, top.get_ylim()[1]))
    top.set_ylabel("cores")
    top.set_title("CPU per process (solid: load and probes, dashed: members; dotted: the limit)", pad=14)
    cores = summary.host.cores if summary.host is not None else None
    if timeline.runnable:
        bottom.plot(x, np.asarray(timeline.runnable, dtype=float), color=palette.VERMILLION, lw=1.1,
                    drawstyle="steps-mid", label="run queue")  # fmt: skip
    host = next((r for r in timeline.resources if r.role == "host"), None)
    if host is not None:
        bottom.plot(x, np.asarray(host.cpu, dtype=float), color=palette.BLUE, lw=1.1, drawstyle="steps-mid",
                    label="busy cores")  # fmt: skip
    if cores is not None:
        limit = cores * (limits.run_queue_per_core if limits is not None else 1.0)
        bottom.axhline(limit, color=palette.BLACK, ls=":", lw=0.9, label=f"{cores} cores")
    bottom.set_ylim(bottom=0)
    bottom.set_ylabel("threads / cores")
    bottom.set_title("the host: runnable threads and busy cores", pad=6)
    axis.decorate([top, bottom])
    _legend(figure, top.get_legend_handles_labels()[0] + axis.legend_handles())
    bottom.legend(loc="upper right", ncols=3)
    return figure


def _lag(timeline: Timeline, summary: Summary, axis: _TimeAxis) -> Figure:
    figure, (ax,) = _figure(3.2)
    x = axis.bins(timeline)
    for series, colour in zip(timeline.lag, palette.CYCLE * 4, strict=False):
        ax.plot(x, np.asarray(series.max_lag_s, dtype=float), color=colour, lw=1.2, drawstyle="steps-mid",
                label=series.member)  # fmt: skip
    target = summary.slos.max_replication_lag_s
    if target is not None:
        ax.axhline(target, color=palette.BLACK, ls="--", lw=0.9, label=f"target {target:g} s (steady)")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("s")
    axis.decorate([ax])
    _legend(figure, ax.get_legend_handles_labels()[0] + axis.legend_handles())
    return figure


def _canary(timeline: Timeline, axis: _TimeAxis) -> Figure:
    figure, (ax,) = _figure(1.5)
    ok, failed = np.asarray(timeline.canary_ok), np.asarray(timeline.canary_failed)
    category = np.select(
        [(ok > 0) & (failed == 0), (ok > 0) & (failed > 0), failed > 0], [0, 1, 2], default=3
    )
    colours = np.array([_rgb(c) for c, _ in CANARY])
    start = timeline.start[0] - axis.origin
    extent = (start, start + timeline.bin_s * len(category), 0, 1)
    ax.imshow(colours[category][np.newaxis], aspect="auto", extent=extent, interpolation="nearest", zorder=1)
    ax.set_yticks([])
    ax.grid(False)
    axis.decorate([ax], shade=False)
    present = sorted(set(category.tolist()))
    _legend(figure, [Patch(color=CANARY[i][0], label=CANARY[i][1]) for i in present])
    return figure


def _rgb(colour: str) -> tuple[float, float, float]:
    return tuple(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]
