"""The live view of a drill: each tick renders an immutable snapshot; permanent lines (phase
changes, faults) are printed above the transient region. Off a terminal only the permanent
lines are printed, so CI logs stay readable."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True, slots=True)
class Snapshot:
    scenario: str
    phase: str
    elapsed_s: float
    total_s: float
    users: int = 0
    rps: float = 0.0
    requests: int = 0
    failures: int = 0
    primary: str | None = None
    active_faults: tuple[str, ...] = ()


def render(s: Snapshot) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("phase", s.phase)
    grid.add_row("load", f"{s.elapsed_s:5.0f} s of {s.total_s:.0f} s")
    grid.add_row("users", str(s.users))
    grid.add_row("ops/s", f"{s.rps:,.0f}")
    failed = Text(f"{s.failures:,}", style="bold red" if s.failures else "green")
    grid.add_row("errors", Text.assemble(failed, f" of {s.requests:,} requests"))
    grid.add_row("primary", s.primary or Text("none", style="bold red"))
    faults = ", ".join(s.active_faults) if s.active_faults else "none"
    grid.add_row("active faults", Text(faults, style="bold yellow" if s.active_faults else ""))
    bar = ProgressBar(total=max(s.total_s, 1e-9), completed=min(s.elapsed_s, s.total_s), width=60)
    return Panel(Group(grid, bar), title=f"hubchaos drill: {s.scenario}", expand=False)


class LiveView:
    """Owns the console for the drill; `update` is a no-op off a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        if self.console.is_terminal:
            self._live = Live(console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def update(self, snapshot: Snapshot) -> None:
        if self._live is not None:
            self._live.update(render(snapshot))

    def line(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)  # a command line stays whole
