"""Statistics across seeds: medians and bands per point, paired differences with confidence
intervals (common random numbers: every arm runs on the same seeds, so seed by seed the
difference is due to the change, not to chance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)  # the 90% and 50% bands and the median


def metric_columns(runs: pd.DataFrame) -> list[str]:
    """The numeric metric columns of a run table (everything but the keys)."""
    return [c for c in runs.columns if c not in ("point", "seed") and pd.api.types.is_numeric_dtype(runs[c])]


def per_point(runs: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Per point and metric: mean, sd, and the 5/25/50/75/95% quantiles across seeds (long format:
    point, metric, n, mean, sd, q05, q25, q50, q75, q95)."""
    metrics = metrics or metric_columns(runs)
    rows = []
    for point, g in runs.groupby("point", sort=True):
        for m in metrics:
            v = g[m].to_numpy(dtype=np.float64)
            v = v[np.isfinite(v)]
            q = np.quantile(v, QUANTILES) if len(v) else [np.nan] * len(QUANTILES)
            rows.append({"point": int(point), "metric": m, "n": len(v),
                         "mean": float(v.mean()) if len(v) else np.nan,
                         "sd": float(v.std(ddof=1)) if len(v) > 1 else np.nan,
                         **{f"q{round(p * 100):02d}": float(x) for p, x in zip(QUANTILES, q, strict=True)}})
    return pd.DataFrame(rows)


def mean_ci(d: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Mean of ``d`` with its Student-t confidence interval, and the sd: (mean, low, high, sd).
    One value: no interval (NaN); no spread: the interval is the mean itself."""
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return np.nan, np.nan, np.nan, np.nan
    mean = float(d.mean())
    if n == 1:
        return mean, np.nan, np.nan, np.nan
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n))
    return mean, mean - half, mean + half, sd


def differences(runs: pd.DataFrame, labels: dict[int, str], metrics: list[str] | None = None,
                baseline: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Paired differences arm - baseline, seed by seed, for every metric and arm: columns metric,
    arm, baseline, mean, low, high, sd, n, baseline_mean, arm_mean. Only seeds both arms ran
    are paired."""
    metrics = metrics or metric_columns(runs)
    base = runs[runs.point == baseline].set_index("seed")
    rows = []
    for point in sorted(set(runs.point) - {baseline}):
        arm = runs[runs.point == point].set_index("seed")
        seeds = base.index.intersection(arm.index)
        for m in metrics:
            if m not in arm.columns or m not in base.columns:
                continue
            a = arm.loc[seeds, m].to_numpy(np.float64)
            b = base.loc[seeds, m].to_numpy(np.float64)
            mean, lo, hi, sd = mean_ci(a - b, confidence)
            rows.append({"metric": m, "arm": labels.get(point, str(point)),
                         "baseline": labels.get(baseline, str(baseline)), "mean": mean, "low": lo,
                         "high": hi, "sd": sd, "n": int(np.isfinite(a - b).sum()),
                         "baseline_mean": float(np.nanmean(b)) if len(b) else np.nan,
                         "arm_mean": float(np.nanmean(a)) if len(a) else np.nan})
    return pd.DataFrame(rows, columns=["metric", "arm", "baseline", "mean", "low", "high", "sd", "n",
                                       "baseline_mean", "arm_mean"])


def by_point_and_seed(runs: pd.DataFrame, metric: str, points: int) -> np.ndarray:
    """float[points, seeds] of one metric (NaN where a run is missing), seeds in sorted order."""
    # dropna=False and every seed as a column: a metric undefined (NaN) in every run, e.g. a ratio
    # of 0/0, gives a NaN matrix, not an empty one that the analyses would take as complete
    wide = runs.pivot_table(index="point", columns="seed", values=metric, aggfunc="first", dropna=False)
    wide = wide.reindex(index=range(points), columns=sorted(runs.seed.unique()))
    return wide.to_numpy(dtype=np.float64)
