"""Counter-based randomness: uniform, independent across keys, deterministic."""

import numpy as np

from credsim import rng


def test_uniform_moments_and_range():
    u = rng.uniforms(1, np.arange(2_000_000), 3, 0)
    assert 0 < u.min() and u.max() < 1
    # mean 1/2, variance 1/12 within 6 standard errors
    n = len(u)
    assert abs(u.mean() - 0.5) < 6 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 6 * np.sqrt(1 / 180 / n)
    counts, _ = np.histogram(u, bins=100, range=(0, 1))
    chi2 = ((counts - n / 100) ** 2 / (n / 100)).sum()
    assert chi2 < 99 + 6 * np.sqrt(2 * 99)


def test_streams_counters_and_seeds_are_independent():
    ids = np.arange(1_000_000)
    base = rng.uniforms(1, ids, 3, 0)
    for other in (rng.uniforms(1, ids, 4, 0), rng.uniforms(1, ids, 3, 1), rng.uniforms(2, ids, 3, 0),
                  rng.uniforms(1, ids + 1, 3, 0)):
        assert abs(np.corrcoef(base, other)[0, 1]) < 0.006


def test_deterministic():
    ids = np.arange(1000)
    assert np.array_equal(rng.uniforms(5, ids, 9, 2), rng.uniforms(5, ids, 9, 2))


def test_ziggurat_normal_matches_the_normal_law():
    """Moments, tail masses (incl. beyond the ziggurat's tail start) and a Kolmogorov-Smirnov
    distance against the standard normal CDF, on 4 million draws."""
    from math import erfc, sqrt

    z = rng.standard_normals(7, np.arange(4_000_000), 64, 0)
    n = len(z)
    assert abs(z.mean()) < 5 / sqrt(n)
    assert abs(z.var() - 1) < 5 * sqrt(2 / n)
    assert abs((z**3).mean()) < 5 * sqrt(15 / n)
    assert abs((z**4).mean() - 3) < 5 * sqrt(96 / n)
    for c in (1.0, 2.0, 3.0, rng.ZIG_R, 4.0):
        p = erfc(c / sqrt(2))
        k = (np.abs(z) > c).sum()
        assert abs(k - n * p) < 5 * sqrt(n * p * (1 - p)), c
    s = np.sort(z[:400_000])
    cdf = 0.5 * np.vectorize(erfc)(-s / sqrt(2))
    d = np.abs(cdf - np.arange(1, len(s) + 1) / len(s)).max()
    assert d * sqrt(len(s)) < 1.95  # KS critical value at 0.1 %
    # deterministic, and a different stream gives independent draws
    assert np.array_equal(z[:1000], rng.standard_normals(7, np.arange(1000), 64, 0))
    assert abs(np.corrcoef(z[:1_000_000], rng.standard_normals(7, np.arange(1_000_000), 65, 0))[0, 1]) < 0.006


def test_ziggurat_exponential_matches_the_exponential_law():
    """Moments, tail masses (incl. beyond the ziggurat's tail start, where the draw is the start
    plus a fresh exponential) and a Kolmogorov-Smirnov distance against 1 - exp(-x)."""
    from math import exp, sqrt

    x = rng.standard_exponentials(11, np.arange(4_000_000), 256, 0)
    n = len(x)
    assert x.min() >= 0
    assert abs(x.mean() - 1) < 5 / sqrt(n)
    assert abs(x.var() - 1) < 5 * sqrt(8 / n)  # var of (x-1)^2 is 8
    for c in (0.1, 1.0, 3.0, 6.0, rng.ZIGE_R, 9.0):
        p = exp(-c)
        k = (x > c).sum()
        assert abs(k - n * p) < 5 * sqrt(n * p * (1 - p)), c
    tail = x[x > rng.ZIGE_R] - rng.ZIGE_R  # memoryless: again exponential of mean 1
    assert abs(tail.mean() - 1) < 5 / sqrt(len(tail))
    s = np.sort(x[:400_000])
    d = np.abs(1 - np.exp(-s) - np.arange(1, len(s) + 1) / len(s)).max()
    assert d * sqrt(len(s)) < 1.95  # KS critical value at 0.1 %
    assert np.array_equal(x[:1000], rng.standard_exponentials(11, np.arange(1000), 256, 0))
    other = rng.standard_exponentials(11, np.arange(1_000_000), 257, 0)
    assert abs(np.corrcoef(x[:1_000_000], other)[0, 1]) < 0.006
