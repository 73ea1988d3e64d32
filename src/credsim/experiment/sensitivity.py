"""Sensitivity of one output to the factors of a design: Sobol indices (scipy), Morris elementary
effects (SALib), the share of variance due to seeds, and main effects for tornado charts.

The estimators are the libraries'; this module only reshapes the run table's outputs into the
layouts they expect and returns one tidy DataFrame per output, one row per factor.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import sobol_indices

from credsim.experiment.design import Design

SOBOL_COLUMNS = ["factor", "S1", "S1_low", "S1_high", "ST", "ST_low", "ST_high"]
MORRIS_COLUMNS = ["factor", "mu", "mu_star", "mu_star_conf", "mu_star_low", "mu_star_high", "sigma"]


def _per_point(design: Design | None, y: np.ndarray, what: str) -> np.ndarray:
    """``y`` as float[P]: the mean over seeds of a float[P, K]; checked against the design's size."""
    y = np.asarray(y, dtype=float)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if y.ndim != 1:
        raise ValueError(f"{what}: y must be float[P] or float[P, K] (got shape {np.shape(y)})")
    if design is not None and len(y) != len(design):
        raise ValueError(f"{what}: y has {len(y)} points but the design has {len(design)}")
    if not np.all(np.isfinite(y)):
        bad = np.flatnonzero(~np.isfinite(y))
        raise ValueError(f"{what}: y is not finite at points {bad[:10].tolist()}"
                         f"{' ...' if len(bad) > 10 else ''}")
    return y


def _check_kind(design: Design, kind: str) -> None:
    if design.kind != kind:
        raise ValueError(f"{kind} indices need a design.kind = '{kind}' design (this one is "
                         f"'{design.kind}')")


def sobol(design: Design, y: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 999,
          seed: int = 0) -> pd.DataFrame:
    """First-order (S1) and total (ST) Sobol indices of one output with bootstrap (BCa)
    confidence intervals, from ``scipy.stats.sobol_indices`` (Saltelli 2010 estimators).

    ``y``: float[P], one value per design point, or float[P, K] for K seeds per point (analysed on
    the mean over seeds; see ``seed_share`` for the part of the variance the seeds leave).
    Returns one row per factor in design order. A constant output has no variance to share: its
    indices are NaN and ``result.attrs["note"]`` says why. An index whose bootstrap distribution is
    a single value (a factor with no effect at all) gets that value as both bounds.
    """
    _check_kind(design, "sobol")
    y = _per_point(design, y, "sobol")
    n, d = design.base_samples, len(design.factors)
    out = pd.DataFrame({"factor": list(design.names)})
    if np.ptp(y) == 0:
        for c in SOBOL_COLUMNS[1:]:
            out[c] = np.nan
        out.attrs["note"] = (f"the output is constant ({y[0]!r}) over all {len(y)} points: "
                             "no variance to attribute, so the indices are undefined")
        return out
    f = {"f_A": y[:n].reshape(1, n), "f_B": y[n:2 * n].reshape(1, n),
         "f_AB": y[2 * n:].reshape(d, 1, n)}
    res = sobol_indices(func=f, n=n)
    # SobolResult.bootstrap passes no random generator to scipy.stats.bootstrap, which then draws
    # from numpy's global RandomState: seed it for the call and restore it afterwards.
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate (constant) bootstrap distributions: handled below
            boot = res.bootstrap(confidence_level=confidence, n_resamples=n_resamples)
    finally:
        np.random.set_state(state)
    for col, est, b in (("S1", res.first_order, boot.first_order), ("ST", res.total_order, boot.total_order)):
        est = np.atleast_1d(est).astype(float)
        low = np.atleast_1d(b.confidence_interval.low).astype(float)
        high = np.atleast_1d(b.confidence_interval.high).astype(float)
        dist = np.atleast_2d(b.bootstrap_distribution)
        flat = np.ptp(dist, axis=-1) == 0
        low[flat], high[flat] = dist[flat, 0], dist[flat, 0]
        out[col], out[f"{col}_low"], out[f"{col}_high"] = est, low, high
    return out[SOBOL_COLUMNS]


def morris(design: Design, y: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 1000,
           seed: int = 0) -> pd.DataFrame:
    """Morris elementary effects from ``SALib.analyze.morris``: mu (mean effect), mu_star (mean
    absolute effect, the screening measure), its bootstrap half-width ``mu_star_conf`` and bounds,
    and sigma (spread: non-linearity or interactions).

    Effects are computed on the unit cube, so they are per unit of each factor's range (the
    change in output from its low to its high end): comparable across factors whatever their units.
    ``y``: float[P] or float[P, K] (mean over seeds).
    """
    from SALib.analyze import morris as morris_analyze

    _check_kind(design, "morris")
    y = _per_point(design, y, "morris")
    d = len(design.factors)
    problem = {"num_vars": d, "names": list(design.names), "bounds": [[0.0, 1.0]] * d}
    r = morris_analyze.analyze(problem, design.unit, y, num_resamples=n_resamples, conf_level=confidence,
                               num_levels=design.levels, seed=seed)
    mu_star, conf = np.asarray(r["mu_star"], float), np.asarray(r["mu_star_conf"], float)
    return pd.DataFrame({"factor": list(design.names), "mu": np.asarray(r["mu"], float), "mu_star": mu_star,
                         "mu_star_conf": conf, "mu_star_low": mu_star - conf, "mu_star_high": mu_star + conf,
                         "sigma": np.asarray(r["sigma"], float)})


def seed_share(y: np.ndarray) -> float | None:
    """Share of the output's variance across all runs that is due to seeds, y float[P, K] (K seeds
    at each of P points), K >= 2: within-point variance over total variance.

    Uses the one-way random-effects (ANOVA) estimates, which are unbiased for any K: seed variance
    = the pooled within-point variance, point variance = (between mean square - seed variance) / K
    (floored at 0); share = seed / (seed + point). None when K < 2 or the total is 0.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 2:
        raise ValueError(f"seed_share: y must be float[P, K] (got shape {y.shape})")
    p, k = y.shape
    if k < 2:
        return None
    within = float(np.mean(np.var(y, axis=1, ddof=1)))
    between_ms = float(k * np.var(y.mean(axis=1), ddof=1)) if p > 1 else 0.0
    points = max(0.0, (between_ms - within) / k)
    total = within + points
    if not total > 0:
        return None
    return within / total


def seed_noise_share(y: np.ndarray) -> float | None:
    """The part of ``seed_share`` that blurs comparisons between points: with common random
    numbers a seed can shift every point alike (a seed's main effect), which changes no
    difference and no Sobol index; what is left is the point x seed interaction. Two-way
    decomposition without replication: residual variance over total variance, y float[P, K],
    K >= 2; None when K < 2 or the total variance is 0."""
    y = np.asarray(y, dtype=float)
    if y.ndim != 2 or y.shape[1] < 2 or y.shape[0] < 2:
        return None
    resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + y.mean()
    total = float(np.var(y, ddof=1))
    if not total > 0:
        return None
    p, k = y.shape
    return float((resid ** 2).sum() / ((p - 1) * (k - 1)) / total)


def main_effects(points: pd.DataFrame, y: np.ndarray, *, continuous: bool | None = None) -> pd.DataFrame:
    """For a tornado chart from any design: for each factor (column of ``points``), the mean output
    (over seeds and the other factors) at its lowest and at its highest value.

    Discrete columns (grid and list designs, ``values`` factors: at most 10 distinct values when
    ``continuous`` is None) use the exact lowest and highest value; continuous ones (lhs, sobol,
    morris samples) the bottom and top quintile of the sampled values, reporting each bin's median
    as ``low_value``/``high_value``. Non-numeric columns take their first and last level in order of
    appearance. Columns: factor, low_value, high_value, at_low, at_high, swing (= at_high - at_low).
    """
    y = _per_point(None, y, "main_effects")
    if len(y) != len(points):
        raise ValueError(f"main_effects: y has {len(y)} points but points has {len(points)} rows")
    rows = []
    for name in points.columns:
        x = points[name].to_numpy()
        numeric = pd.api.types.is_numeric_dtype(points[name]) and not pd.api.types.is_bool_dtype(points[name])
        if not numeric:
            levels = pd.unique(points[name])
            lo_mask, hi_mask = x == levels[0], x == levels[-1]
            lo_v, hi_v = levels[0], levels[-1]
        else:
            cont = continuous if continuous is not None else len(np.unique(x)) > 10
            if cont:
                x = x.astype(float)
                q20, q80 = np.quantile(x, [0.2, 0.8])
                lo_mask, hi_mask = x <= q20, x >= q80
                lo_v, hi_v = float(np.median(x[lo_mask])), float(np.median(x[hi_mask]))
            else:
                lo_v, hi_v = x.min(), x.max()
                lo_mask, hi_mask = x == lo_v, x == hi_v
        at_low, at_high = float(y[lo_mask].mean()), float(y[hi_mask].mean())
        rows.append({"factor": name, "low_value": _plain(lo_v), "high_value": _plain(hi_v),
                     "at_low": at_low, "at_high": at_high, "swing": at_high - at_low})
    return pd.DataFrame(rows, columns=["factor", "low_value", "high_value", "at_low", "at_high", "swing"])


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v
