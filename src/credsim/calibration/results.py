"""``CalibrationResults``: a calibration directory read back (``finish.py`` writes it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from credsim.calibration import likelihoods
from credsim.calibration.posterior import Posterior
from credsim.calibration.spec import CalibrationFile

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

LEVEL = 0.9


class CalibrationResults:
    """A calibration directory: ``.best``, ``.trials``, ``.posterior``, ``.fit``, ``.plot(kind)``."""

    def __init__(self, out: str | Path):
        self.dir = Path(out)
        if not (self.dir / "calibration.json").exists():
            raise FileNotFoundError(f"{self.dir}: not a credsim calibration directory (no calibration.json)")
        self.meta = json.loads((self.dir / "calibration.json").read_text())
        self.spec = CalibrationFile.model_validate(self.meta["spec"])
        self.trials = pd.read_parquet(self.dir / "trials.parquet")
        self.simulated = pd.read_parquet(self.dir / "simulated.parquet")
        draws = pd.read_parquet(self.dir / "posterior.parquet")
        w = self.trials.set_index("trial")["weight"]
        self.posterior = Posterior(draws, w, float(self.meta["ess"]), self.meta["posterior_method"])

    @property
    def best(self) -> dict[str, float]:
        """The best trial's parameters, by label."""
        return dict(self.meta["best"])

    @property
    def best_overrides(self) -> dict[str, float]:
        """The best trial's parameters, by key path (``--set`` changes)."""
        return dict(self.meta["best_overrides"])

    @property
    def calibrated(self) -> Path:
        return self.dir / "calibrated.toml"

    @property
    def history(self) -> pd.DataFrame:
        t = self.trials.sort_values("trial")[["trial", "loss"]].copy()
        t["best_so_far"] = t["loss"].cummin()
        return t

    def fit(self, level: float = LEVEL, seed: int = 0) -> pd.DataFrame:
        """Per target: observed, the best trial's mean, the band of simulated values across posterior
        draws and seeds, the predictive band (with the observation's own uncertainty) and whether
        the observed figure falls inside it (PASS/FAIL for held-out targets)."""
        rng = np.random.default_rng(seed)
        a = (1 - level) / 2
        best = int(self.meta["best_trial"])
        draws = self.posterior.draws["trial"].to_numpy()
        rows = []
        for t in self.spec.targets:
            s = self.simulated[self.simulated.target == t.name]
            by_trial = s.groupby("trial")["value"].apply(np.asarray)
            pool = np.concatenate([by_trial[i] for i in draws if i in by_trial.index])
            pred = likelihoods.sample(t.likelihood, pool, rng, **t.family_kw())
            lo, hi = np.quantile(pred, [a, 1 - a])
            inside = bool(lo <= t.observed <= hi)
            bm = float(np.mean(by_trial[best]))
            rows.append({
                "target": t.name, "holdout": t.holdout, "observed": t.observed,
                "best": bm, "best_ratio": bm / t.observed if t.observed else np.nan,
                "sim_lo": float(np.quantile(pool, a)), "sim_hi": float(np.quantile(pool, 1 - a)),
                "pred_lo": float(lo), "pred_hi": float(hi), "inside": inside,
                "check": (("PASS" if inside else "FAIL") if t.holdout
                          else ("in band" if inside else "outside")),
                "likelihood": t.likelihood, "weight": t.weight,
                "provenance": t.provenance,
            })
        return pd.DataFrame(rows)

    def plot(self, kind: str = "fit") -> Figure:
        """A matplotlib figure: ``fit`` (observed vs simulated per target) or ``history`` (loss by trial)."""
        from credsim.calibration import report

        if kind == "fit":
            return report.fit_figure(self)
        if kind == "history":
            return report.history_figure(self)
        if kind == "posterior":
            return report.posterior_figure(self)
        raise ValueError(f"unknown plot {kind!r} (fit, history, posterior)")

    def __repr__(self) -> str:
        return (f"CalibrationResults({self.dir}: {len(self.trials)} trials, best loss "
                f"{self.meta['best_loss']:.4g}, ESS {self.posterior.ess:.1f})")
