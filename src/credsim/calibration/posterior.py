"""An approximate posterior from the trials already run: importance resampling.

Each completed trial i is a parameter point theta_i with a log-likelihood l_i (the sum of the
weighted log-likelihoods of the fitted targets at the mean over seeds: minus its loss). Its
importance weight is

    w_i  propto  exp(l_i) x prior(theta_i) / q(theta_i)

where q is the density the sampler drew the points from. For ``random`` (and, as an
approximation, ``qmc``) q is uniform on the sampler's box (log scale for ``log`` parameters),
exact. TPE and CMA-ES adapt q as they go and do not expose it: q is then estimated by a Gaussian
kernel density of the trial points themselves on the unit box. The draws resample trials by w
and add a small Gaussian jitter (the weighted spread times Silverman's factor, clipped to the
range), so that the intervals are not only trial points. What this is not: an MCMC sample. With
tens of trials the posterior rests on few effective points (the effective sample size
ESS = (sum w)^2 / sum w^2 is printed and stored) and is only as good as the trials' coverage of
the region where the likelihood is high; the simulation noise left in the mean over K seeds is
not in the likelihood (a larger K shrinks it).

A model that cannot meet every target at once (a misspecified one: the best trial's deviance
D = 2 x sum_j w_j (log L_j(obs | obs) - log L_j(obs | mu)) well above the number of fitted
targets n) would put all the weight on the best trial and give intervals of zero width. The
log-likelihood is then divided by a temperature T (``posterior_temperature``; ``"auto"``:
T = max(1, D_best / n), the reduced chi-square of the best fit, i.e. every target's uncertainty
inflated by sqrt(T) until the best fit is as good as the stated uncertainties say it should
be: the Birge ratio of physics' data combinations, and a power posterior in the sense of
generalised Bayesian updating). T = 1 is the plain posterior; T is printed and stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from credsim.calibration import likelihoods
from credsim.calibration import parameters as P
from credsim.calibration.spec import ParameterSpec, TargetSpec


@dataclass
class Posterior:
    draws: pd.DataFrame  # one row per draw: trial (the resampled trial), then one column per parameter
    weights: pd.Series  # normalised importance weight per trial number
    ess: float
    method: str

    def summary(self, levels: tuple[float, float] = (0.05, 0.95)) -> pd.DataFrame:
        cols = [c for c in self.draws.columns if c != "trial"]
        d = self.draws[cols]
        lo, hi = (f"q{x * 100:02.0f}" for x in levels)
        return pd.DataFrame({"mean": d.mean(), "median": d.median(), lo: d.quantile(levels[0]),
                             hi: d.quantile(levels[1])})

    def interval(self, name: str, level: float = 0.9) -> tuple[float, float]:
        a = (1 - level) / 2
        x = self.draws[name]
        return float(x.quantile(a)), float(x.quantile(1 - a))


def temperature(trials: pd.DataFrame, targets: list[TargetSpec], setting: float | str = "auto") -> float:
    """The posterior's temperature: ``setting`` itself, or with ``"auto"`` the best trial's
    deviance over the number of fitted targets, at least 1 (see the module's docstring).
    ``trials`` has a ``loglik_<target>`` column per target."""
    if setting != "auto":
        return float(setting)
    sat = {t.name: float(likelihoods.loglik(t.likelihood, t.observed, t.observed, **t.family_kw()))
           for t in targets}
    dev = sum(2.0 * t.weight * (sat[t.name] - trials[f"loglik_{t.name}"].to_numpy(dtype=float))
              for t in targets)
    dev = np.where(np.isfinite(dev), dev, np.inf)
    return max(1.0, float(np.min(dev)) / max(1, len(targets))) if len(dev) else 1.0


def importance(trials: pd.DataFrame, params: list[ParameterSpec], sampler: str, draws: int,
               seed: int = 0, temperature: float = 1.0) -> Posterior:
    """The importance-resampling posterior of ``trials`` (columns: ``trial``, ``loglik`` and one
    column per parameter label), the log-likelihood divided by ``temperature``."""
    rng = np.random.default_rng(seed)
    ok = trials[np.isfinite(trials["loglik"])]
    if ok.empty:
        raise ValueError("no completed trial with a finite likelihood: nothing to weigh")
    names = [p.label for p in params]
    x = ok[names].to_numpy(dtype=float)
    u = np.column_stack([P.to_unit(p, x[:, j]) for j, p in enumerate(params)])
    logw = ok["loglik"].to_numpy(dtype=float) / temperature
    for j, p in enumerate(params):
        logw = logw + P.log_prior(p, x[:, j]) + P.log_jacobian(p, x[:, j])
    method = "importance resampling, uniform proposal"
    if sampler in ("tpe", "cmaes") and len(ok) > u.shape[1] + 2:
        logq = _kde_logpdf(u)
        if logq is not None:
            logw = logw - logq
            method = f"importance resampling, proposal estimated by a kernel density of the {sampler} trials"
    if temperature != 1.0:
        method = f"tempered (T = {temperature:.3g}) " + method
    logw = np.where(np.isfinite(logw), logw, -np.inf)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    ess = float(1.0 / np.sum(w ** 2))
    idx = rng.choice(len(ok), size=draws, replace=True, p=w)
    # jitter: the weighted spread on the unit box times Silverman's factor
    mean = w @ u
    sd = np.sqrt(np.maximum(w @ (u - mean) ** 2, 1e-12))
    d = u.shape[1]
    h = sd * (4.0 / ((d + 2) * max(ess, 1.0))) ** (1.0 / (d + 4))
    ud = np.clip(u[idx] + rng.normal(0.0, 1.0, size=(draws, d)) * h, 0.0, 1.0)
    out = pd.DataFrame({"trial": ok["trial"].to_numpy()[idx]})
    for j, p in enumerate(params):
        out[p.label] = P.from_unit(p, ud[:, j])
    return Posterior(out, pd.Series(w, index=ok["trial"].to_numpy(), name="weight"), ess, method)


def _kde_logpdf(u: np.ndarray) -> np.ndarray | None:
    from scipy.stats import gaussian_kde

    try:
        kde = gaussian_kde(u.T)
        return np.log(np.maximum(kde(u.T), 1e-300))
    except (np.linalg.LinAlgError, ValueError):
        return None
