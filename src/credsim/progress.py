"""The progress bar of every long task, on standard error: a run's communities, an experiment's
runs, a calibration's trials. One bar shows done / total and the unit, a rate or the best figure
so far when the task has one, the time elapsed and the ETA."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Bar:
    """A bar over ``total`` items of ``unit`` (``enabled=False``: prints nothing).

    ``advance(best=...)`` shows ``best_label`` and the best figure so far (a calibration's loss);
    ``per_minute`` shows the items finished per minute since ``start`` (an experiment's runs);
    ``rate`` is any other rate text given to ``advance`` (a run's events per second)."""

    def __init__(self, total: int, unit: str, enabled: bool = True, *, per_minute: bool = False,
                 best_label: str | None = None, console: Console | None = None):
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.per_minute = per_minute
        self.best_label = best_label
        self.console = console or Console(stderr=True)
        self._p: Progress | None = None
        self._task = None
        self._start_done = 0

    def note(self, text: str) -> None:
        """A line above the bar (an estimate, what is resumed)."""
        if self.enabled:
            self.console.print(text, highlight=False)

    def start(self, done: int = 0, label: str = "", best: float | None = None) -> None:
        if not self.enabled:
            return
        if self.best_label is not None:
            fields = TextColumn(f"{self.unit}  {self.best_label} {{task.fields[best]}}")
        else:
            fields = TextColumn(f"{self.unit} {{task.fields[rate]}}")
        self._p = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                           fields, TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                           console=self.console, transient=False)
        self._p.start()
        self._task = self._p.add_task(label, total=self.total, completed=done, rate="",
                                      best=_fmt(best))
        self._start_done = done

    def advance(self, best: float | None = None, rate: Callable[[float], str] | None = None) -> None:
        """One more item done; ``rate(elapsed seconds)`` gives the rate text, if any."""
        if self._p is None:
            return
        task = self._p.tasks[0]
        el = task.elapsed or 0.0
        fields: dict[str, str] = {}
        if self.best_label is not None:
            fields["best"] = _fmt(best)
        elif self.per_minute:
            n = task.completed + 1 - self._start_done
            fields["rate"] = f"({n / el * 60:,.0f}/min)" if el > 0 else ""
        elif rate is not None:
            fields["rate"] = rate(el) if el > 0 else ""
        self._p.update(self._task, advance=1, **fields)

    def stop(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:,.4g}"


class RunProgress(Bar):
    """A run's bar over its communities, with events per second, and its closing line."""

    def __init__(self, communities: int, agents: int, enabled: bool = True,
                 console: Console | None = None):
        super().__init__(communities, "communities", enabled, console=console)
        self.events = 0

    def advance(self, agents: int, events: int) -> None:  # type: ignore[override]
        self.events += events
        super().advance(rate=lambda el: f"{self.events / el / 1e6:,.1f} M events/s")

    def summary(self, perf: dict) -> None:
        if not self.enabled:
            return
        adps = perf.get("agent_days_per_second") or 0
        self.console.print(
            f"done in {perf['wall_seconds']:.1f} s: {perf['agents']:,} agents, "
            f"{adps / 1e6:,.0f} M agent-days/s, {perf['events']:,} events, "
            f"peak RSS {perf['peak_rss_mb']:,.0f} MB"
        )


def runs_bar(runs: int, enabled: bool = True) -> Bar:
    """An experiment's bar: runs done, runs per minute, ETA."""
    return Bar(runs, "runs", enabled, per_minute=True)


def trials_bar(trials: int, enabled: bool = True) -> Bar:
    """A calibration's bar: trials done, the best loss so far, ETA."""
    return Bar(trials, "trials", enabled, best_label="best loss")
