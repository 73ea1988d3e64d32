"""A rich progress bar over communities: done / total, agents and events per second, ETA."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RunProgress:
    def __init__(self, communities: int, agents: int, enabled: bool = True):
        self.enabled = enabled
        self.total = communities
        self.console = Console(stderr=True)
        self.events = 0
        self._p: Progress | None = None
        self._task = None

    def start(self, done: int = 0, label: str = "run") -> None:
        if not self.enabled:
            return
        self._p = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("communities"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._p.start()
        self._task = self._p.add_task(label, total=self.total, completed=done, rate="")

    def advance(self, agents: int, events: int) -> None:
        self.events += events
        if self._p is None:
            return
        task = self._p.tasks[0]
        el = task.elapsed or 0.0
        rate = f"{self.events / el / 1e6:,.1f} M events/s" if el > 0 else ""
        self._p.update(self._task, advance=1, rate=rate)

    def stop(self) -> None:
        if self._p is not None:
            self._p.stop()

    def summary(self, perf: dict) -> None:
        if not self.enabled:
            return
        adps = perf.get("agent_days_per_second") or 0
        self.console.print(
            f"done in {perf['wall_seconds']:.1f} s: {perf['agents']:,} agents, "
            f"{adps / 1e6:,.0f} M agent-days/s, {perf['events']:,} events, "
            f"peak RSS {perf['peak_rss_mb']:,.0f} MB"
        )
