"""``ExperimentResults``: an experiment directory read back, with its analyses: bands across
seeds, paired differences (comparisons), Sobol and Morris indices and main effects (sweeps).

Tables come from DuckDB over the directory's Parquet files, so a 10,000-run sweep is read
column by column, never held whole in memory unless asked for.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credsim.experiment import stats
from credsim.experiment.store import RunStore

FAN_POINTS = 8  # points drawn in a fan chart (and read from the daily table for the report)


class ExperimentResults:
    """What an experiment produced: ``runs`` (one row per point x seed), ``points``, ``daily``,
    ``summary`` (per point: median and bands), and by kind ``differences``, ``sobol``,
    ``morris``, ``effects``, ``seed_share``. ``sql(query)`` queries the tables with DuckDB."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.store = RunStore(self.root)
        self.meta: dict[str, Any] = self.store.meta()
        self.notes: set[str] = set()  # what an analysis left out, and why

    @classmethod
    def load(cls, root: str | Path) -> ExperimentResults:
        return cls(root)

    # ------------------------------------------------------------------ tables
    def sql(self, query: str) -> pd.DataFrame:
        """A DuckDB query over the views ``runs``, ``daily``, ``points`` and ``timing``."""
        return self.store.sql(query)

    @cached_property
    def runs(self) -> pd.DataFrame:
        return self.store.table("runs")

    @cached_property
    def points(self) -> pd.DataFrame:
        return self.store.table("points")

    @cached_property
    def daily(self) -> pd.DataFrame | None:
        """Every run's daily series (for big sweeps, prefer ``sql`` or ``daily_of``)."""
        d = self.store.table("daily")
        return d if len(d) else None

    def daily_of(self, points: list[int]) -> pd.DataFrame | None:
        """The daily series of some points only (reads only their partitions)."""
        d = self.store.table("daily", [int(p) for p in points])
        return d if len(d) else None

    @property
    def labels(self) -> dict[int, str]:
        return dict(zip(self.points.point, self.points.label, strict=True))

    @property
    def outputs(self) -> list[str]:
        return [o for o in self.meta["outputs"] if o in self.runs.columns]

    @cached_property
    def summary(self) -> pd.DataFrame:
        """Per point and metric: mean, sd and the 5/25/50/75/95% quantiles across seeds."""
        return stats.per_point(self.runs, stats.metric_columns(self.runs))

    # ------------------------------------------------------------------ analyses
    @cached_property
    def differences(self) -> pd.DataFrame | None:
        """Comparisons: paired differences of every metric, each arm minus the first, with a 95%
        confidence interval over seeds."""
        if self.meta["kind"] != "compare":
            return None
        return stats.differences(self.runs, self.labels, stats.metric_columns(self.runs))

    @cached_property
    def design(self):
        """The sweep's design, rebuilt from the stored experiment (designs are seeded)."""
        if self.meta["kind"] != "sweep":
            return None
        from credsim.experiment.design import DesignSpec, Factor, make_design

        spec = self.meta["spec"]
        return make_design([Factor(**f) for f in spec["factors"]], DesignSpec(**spec["design"]),
                           self.meta["source"])

    def _matrix(self, output: str) -> np.ndarray:
        return stats.by_point_and_seed(self.runs, output, len(self.points))

    def _per_output(self, fn) -> pd.DataFrame | None:
        """``fn(y)`` for each output, concatenated; outputs with a missing run or an undefined
        value (a ratio of 0/0) are left out and named in ``notes``."""
        frames = []
        for o in self.outputs:
            y = self._matrix(o)
            if not np.isfinite(y).all():
                self.notes.add(f"{o}: not analysed (undefined in some runs, e.g. a ratio with nobody "
                               f"restricted, or runs missing)")
                continue
            df = fn(y)
            if df is not None and df.attrs.get("note"):
                self.notes.add(f"{o}: {df.attrs['note']}")
            if df is not None and len(df):
                df.insert(0, "output", o)
                frames.append(df)
        return pd.concat(frames, ignore_index=True) if frames else None

    @cached_property
    def sobol(self) -> pd.DataFrame | None:
        """Sobol first-order (S1) and total (ST) indices per output with bootstrap 95% intervals,
        on the mean over seeds."""
        if self.design is None or self.design.kind != "sobol":
            return None
        from credsim.experiment.sensitivity import sobol

        return self._per_output(lambda y: sobol(self.design, y))

    @cached_property
    def morris(self) -> pd.DataFrame | None:
        """Morris mu, mu* (with its interval) and sigma per output, per unit of each factor's range."""
        if self.design is None or self.design.kind != "morris":
            return None
        from credsim.experiment.sensitivity import morris

        return self._per_output(lambda y: morris(self.design, y))

    @cached_property
    def effects(self) -> pd.DataFrame | None:
        """Main effects per output and factor (a tornado chart's bars)."""
        if self.design is None:
            return None
        from credsim.experiment.sensitivity import main_effects

        pts = self.design.points.reset_index(drop=True)
        return self._per_output(lambda y: main_effects(pts, y))

    @cached_property
    def seed_share(self) -> dict[str, float | None] | None:
        """Per output: the share of its variance across runs that is due to seeds."""
        if len(self.meta["seeds"]) < 2 or self.meta["kind"] != "sweep":
            return None
        from credsim.experiment.sensitivity import seed_share

        out = {}
        for o in self.outputs:
            y = self._matrix(o)
            out[o] = seed_share(y) if np.isfinite(y).all() else None
        return out

    @cached_property
    def seed_noise_share(self) -> dict[str, float | None] | None:
        """Per output: the point x seed part of the seeds' share (a shift common to every point,
        which common random numbers make possible, excluded): what blurs the indices."""
        if len(self.meta["seeds"]) < 2 or self.meta["kind"] != "sweep":
            return None
        from credsim.experiment.sensitivity import seed_noise_share

        out = {}
        for o in self.outputs:
            y = self._matrix(o)
            out[o] = seed_noise_share(y) if np.isfinite(y).all() else None
        return out

    # ------------------------------------------------------------------ output
    def plot(self, kind: str = "fan", **kw: Any):
        """A matplotlib figure: ``fan`` (series=...), ``differences``, ``sobol``, ``tornado``,
        ``morris``, ``heatmap`` (output=...)."""
        from credsim.experiment import plots

        return plots.plot(self.view(), kind, **kw)

    def view(self) -> _ReportView:
        """What the plots and the report read: the tables, with the daily series of at most
        ``FAN_POINTS`` points."""
        return _ReportView(self)

    def report(self) -> Path:
        """Write ``report.html`` (and its plots) into the directory; returns its path."""
        from credsim.experiment.report import write_report

        return write_report(self.view(), self.root)

    def save_analysis(self, report: bool = True) -> None:
        """Write the analyses beside the runs: summary.parquet, differences/sobol/morris/effects
        .parquet when the kind has them, analysis.json, and the report."""
        self.summary.to_parquet(self.root / "summary.parquet", index=False)
        for name in ("differences", "sobol", "morris", "effects"):
            df = getattr(self, name)
            if df is not None:
                df.to_parquet(self.root / f"{name}.parquet", index=False)
        (self.root / "analysis.json").write_text(json.dumps({
            "runs": len(self.runs), "seed_share": self.seed_share,
            "seed_noise_share": self.seed_noise_share, "notes": sorted(self.notes),
        }, indent=2))
        if report:
            self.report()


class _ReportView:
    """The experiment as the report reads it (``credsim.experiment.report``)."""

    def __init__(self, res: ExperimentResults):
        self._res = res
        m = dict(res.meta)
        m["runs"] = len(res.runs)
        m.setdefault("wall_seconds", None)
        from credsim.experiment.metrics import label

        m["metric_labels"] = {c: label(c) for c in stats.metric_columns(res.runs)}
        self.meta = m
        self.points = res.points
        self.runs = res.runs
        shown = sorted(res.points.point)[:FAN_POINTS]
        self.daily = res.daily_of(shown)
        self.differences = res.differences
        self.sobol = res.sobol
        self.morris = res.morris
        self.effects = res.effects
        self.seed_share = res.seed_share
        self.seed_noise_share = res.seed_noise_share
