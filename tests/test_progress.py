"""One progress bar (credsim/progress.py) for runs, experiments and calibrations: what each shows."""

from __future__ import annotations

import io

from rich.console import Console

from credsim import progress


def _shown(bar: progress.Bar, steps, done: int = 0, label: str = "task", best=None) -> str:
    out = io.StringIO()
    bar.console = Console(file=out, width=120, force_terminal=False, color_system=None)
    bar.note("a note above the bar")
    bar.start(done, label, best)
    for step in steps:
        step(bar)
    bar.stop()
    bar.stop()  # twice is harmless (an interrupted run stops it, then finally does)
    return out.getvalue()


def test_runs_bar_shows_runs_done_per_minute_and_eta():
    text = _shown(progress.runs_bar(8), [lambda b: b.advance()] * 3, done=2, label="sweep")
    assert "a note above the bar" in text
    line = text.strip().splitlines()[-1]
    assert line.startswith("sweep") and "5/8" in line and "runs (" in line and "/min)" in line
    assert "ETA" in line


def test_trials_bar_shows_the_best_so_far():
    text = _shown(progress.trials_bar(10), [lambda b: b.advance(3.5), lambda b: b.advance(1.25)],
                  label="cal")
    line = text.strip().splitlines()[-1]
    assert "2/10" in line and "trials  best loss 1.25" in line and "ETA" in line
    # before any trial: a dash
    none = _shown(progress.trials_bar(4), [], label="cal")
    assert "best loss -" in none.strip().splitlines()[-1]


def test_run_bar_counts_events_and_prints_its_summary():
    bar = progress.RunProgress(communities=3, agents=300)
    text = _shown(bar, [lambda b: b.advance(100, 5_000_000)] * 3, label="demo")
    assert bar.events == 15_000_000
    line = text.strip().splitlines()[-1]
    assert "3/3" in line and "communities" in line and "M events/s" in line
    out = io.StringIO()
    bar.console = Console(file=out, width=120, force_terminal=False, color_system=None)
    bar.summary({"wall_seconds": 2.0, "agents": 300, "agent_days_per_second": 3e6,
                 "events": 15_000_000, "peak_rss_mb": 512.0})
    assert out.getvalue().strip() == ("done in 2.0 s: 300 agents, 3 M agent-days/s, "
                                      "15,000,000 events, peak RSS 512 MB")


def test_a_disabled_bar_prints_nothing():
    for bar in (progress.runs_bar(3, enabled=False), progress.trials_bar(3, enabled=False),
                progress.RunProgress(3, 10, enabled=False)):
        out = io.StringIO()
        bar.console = Console(file=out)
        bar.note("x")
        bar.start(0, "t")
        bar.advance(*((1, 1) if isinstance(bar, progress.RunProgress) else ()))
        bar.stop()
        assert out.getvalue() == ""
