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
