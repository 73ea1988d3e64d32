"""A progress bar over an experiment's runs: done / total, runs per minute, ETA."""

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


class RunsProgress:
    def __init__(self, runs: int, enabled: bool = True):
        self.total = runs
        self.enabled = enabled
        self.console = Console(stderr=True)
        self._p: Progress | None = None
        self._task = None

    def note(self, text: str) -> None:
        if self.enabled:
            self.console.print(text)

    def start(self, done: int = 0, label: str = "experiment") -> None:
        if not self.enabled:
            return
        self._p = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("runs {task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                           TimeRemainingColumn(), console=self.console)
        self._p.start()
        self._task = self._p.add_task(label, total=self.total, completed=done, rate="")
        self._start_done = done

    def advance(self) -> None:
        if self._p is None:
            return
        task = self._p.tasks[0]
        el = task.elapsed or 0.0
        n = task.completed + 1 - self._start_done
        self._p.update(self._task, advance=1, rate=f"({n / el * 60:,.0f}/min)" if el > 0 else "")

    def stop(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None
