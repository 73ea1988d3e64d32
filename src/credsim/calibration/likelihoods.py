"""Log-likelihoods of an observed figure given simulated means, one function per family, vectorised
over the simulated values (trials, seeds or posterior draws) with numpy and scipy.special.

Every family is parametrised by the simulated mean ``mu`` of the quantity:

- ``normal``: N(mu, sd), sd given (``sd``) or relative to the observed figure (``cv`` x observed);
- ``poisson``: Poisson(mu), for counts whose noise is counting noise only;
- ``negative_binomial``: mean mu and variance mu + mu^2 / dispersion (``dispersion`` = the size r);
- ``binomial``: k successes of ``n`` with probability mu / n.

The count families floor mu at ``MU_FLOOR`` so that a simulated 0 against an observed count is a
very poor fit, not an infinite loss.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, xlog1py, xlogy

FAMILIES = ("normal", "poisson", "negative_binomial", "binomial")
MU_FLOOR = 1e-9
_LOG_2PI = float(np.log(2 * np.pi))


def normal(x: float, mu, sd: float):
    z = (x - np.asarray(mu, dtype=float)) / sd
    return -0.5 * z * z - np.log(sd) - 0.5 * _LOG_2PI


def poisson(k: float, mu):
    mu = np.maximum(np.asarray(mu, dtype=float), MU_FLOOR)
    return xlogy(k, mu) - mu - gammaln(k + 1.0)


def negative_binomial(k: float, mu, dispersion: float):
    """NB with mean mu and size r = dispersion (scipy's nbinom(n=r, p=r / (r + mu)))."""
    mu = np.maximum(np.asarray(mu, dtype=float), MU_FLOOR)
    r = float(dispersion)
    return (gammaln(k + r) - gammaln(r) - gammaln(k + 1.0)
            + r * np.log(r / (r + mu)) + xlogy(k, mu / (r + mu)))


def binomial(k: float, mu, n: int):
    p = np.clip(np.asarray(mu, dtype=float) / n, MU_FLOOR, 1 - MU_FLOOR)
    return gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0) + xlogy(k, p) + xlog1py(n - k, -p)


def loglik(family: str, observed: float, mu, *, sd: float | None = None, dispersion: float | None = None,
           n: int | None = None):
    """The log-likelihood of ``observed`` for each simulated mean in ``mu``."""
    if family == "normal":
        return normal(observed, mu, sd)
    if family == "poisson":
        return poisson(observed, mu)
    if family == "negative_binomial":
        return negative_binomial(observed, mu, dispersion)
    if family == "binomial":
        return binomial(observed, mu, n)
    raise ValueError(f"unknown likelihood {family!r} (known: {', '.join(FAMILIES)})")


def sample(family: str, mu, rng: np.random.Generator, *, sd: float | None = None,
           dispersion: float | None = None, n: int | None = None) -> np.ndarray:
    """Observations drawn around each simulated mean (posterior predictive bands)."""
    mu = np.asarray(mu, dtype=float)
    if family == "normal":
        return rng.normal(mu, sd)
    m = np.maximum(mu, MU_FLOOR)
    if family == "poisson":
        return rng.poisson(m).astype(float)
    if family == "negative_binomial":
        return rng.negative_binomial(dispersion, dispersion / (dispersion + m)).astype(float)
    if family == "binomial":
        return rng.binomial(n, np.clip(m / n, 0, 1)).astype(float)
    raise ValueError(f"unknown likelihood {family!r}")


def interval(family: str, mu: float, level: float = 0.9, *, sd: float | None = None,
             dispersion: float | None = None, n: int | None = None) -> tuple[float, float]:
    """The central ``level`` interval of an observation whose mean is ``mu``."""
    from scipy import stats

    a = (1 - level) / 2
    m = max(float(mu), MU_FLOOR)
    if family == "normal":
        d = stats.norm(mu, sd)
    elif family == "poisson":
        d = stats.poisson(m)
    elif family == "negative_binomial":
        d = stats.nbinom(dispersion, dispersion / (dispersion + m))
    else:
        d = stats.binom(n, min(1.0, m / n))
    return float(d.ppf(a)), float(d.ppf(1 - a))
