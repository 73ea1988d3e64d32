"""A progress bar over a calibration's trials: done / total, best loss so far, ETA."""

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


class TrialsProgress:
    def __init__(self, trials: int, enabled: bool = True):
        self.total = trials
        self.enabled = enabled
        self.console = Console(stderr=True)
        self._p: Progress | None = None

    def note(self, text: str) -> None:
        if self.enabled:
            self.console.print(text, highlight=False)

    def start(self, done: int, label: str, best: float | None) -> None:
        if not self.enabled:
            return
        self._p = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("trials  best loss {task.fields[best]}"), TimeElapsedColumn(),
                           TextColumn("ETA"), TimeRemainingColumn(), console=self.console)
        self._p.start()
        self._task = self._p.add_task(label, total=self.total, completed=done, best=_fmt(best))

    def advance(self, best: float | None) -> None:
        if self._p is not None:
            self._p.update(self._task, advance=1, best=_fmt(best))

    def stop(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:,.4g}"
