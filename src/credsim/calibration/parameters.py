"""Parameters in the sampler's space: Optuna distributions, the unit box used by the posterior,
and prior log-densities (truncated to each parameter's range; constants dropped)."""

from __future__ import annotations

import numpy as np

from credsim.calibration.spec import ParameterSpec


def distribution(p: ParameterSpec):
    import optuna

    lo, hi = p.range
    if p.integer:
        return optuna.distributions.IntDistribution(int(lo), int(hi), log=p.log)
    return optuna.distributions.FloatDistribution(lo, hi, log=p.log)


def to_unit(p: ParameterSpec, x) -> np.ndarray:
    """Values -> [0, 1] on the sampler's scale (log for ``log`` parameters)."""
    lo, hi = p.range
    x = np.asarray(x, dtype=float)
    if p.log:
        return (np.log(x) - np.log(lo)) / (np.log(hi) - np.log(lo))
    return (x - lo) / (hi - lo)


def from_unit(p: ParameterSpec, u) -> np.ndarray:
    lo, hi = p.range
    u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
    x = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo))) if p.log else lo + u * (hi - lo)
    return np.round(x) if p.integer else x


def log_prior(p: ParameterSpec, x) -> np.ndarray:
    """log prior density of ``x`` (per unit of the parameter itself), -inf outside the range."""
    from scipy import stats

    lo, hi = p.range
    x = np.asarray(x, dtype=float)
    inside = (x >= lo) & (x <= hi)
    fam = p.prior_family
    with np.errstate(divide="ignore", invalid="ignore"):
        if fam == "uniform":
            lp = np.zeros_like(x)
        elif fam == "loguniform":
            lp = -np.log(x)
        elif fam == "normal":
            lp = stats.norm.logpdf(x, p.prior.mu, p.prior.sigma)
        elif fam == "lognormal":
            lp = stats.lognorm.logpdf(x, s=p.prior.sigma, scale=np.exp(p.prior.mu))
        else:  # beta on the range
            lp = stats.beta.logpdf((x - lo) / (hi - lo), p.prior.a, p.prior.b)
    return np.where(inside, lp, -np.inf)


def log_jacobian(p: ParameterSpec, x) -> np.ndarray:
    """log |dx/du|: converts a density on the unit box to one per unit of the parameter."""
    lo, hi = p.range
    x = np.asarray(x, dtype=float)
    if p.log:
        return np.log(x) + np.log(np.log(hi) - np.log(lo))
    return np.full_like(x, np.log(hi - lo))
