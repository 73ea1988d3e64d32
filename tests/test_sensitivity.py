"""Sensitivity estimators on functions with known answers (Ishigami, linear, additive noise)."""

import math

import numpy as np
import pandas as pd
import pytest

from credsim.experiment.design import DesignSpec, Factor, make_design
from credsim.experiment.sensitivity import main_effects, morris, seed_share, sobol

PI = math.pi
ISHIGAMI = [Factor(path=f"x.x{i}", range=(-PI, PI)) for i in (1, 2, 3)]
S1_TRUE = (0.3139, 0.4424, 0.0)
ST_TRUE = (0.5576, 0.4424, 0.2437)


def ishigami(points: pd.DataFrame, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    x1, x2, x3 = (points[c].to_numpy() for c in ("x_x1", "x_x2", "x_x3"))
    return np.sin(x1) + a * np.sin(x2) ** 2 + b * x3 ** 4 * np.sin(x1)


@pytest.fixture(scope="module")
def ishigami_sobol():
    design = make_design(ISHIGAMI, DesignSpec(kind="sobol", samples=1024, seed=0))
    return design, sobol(design, ishigami(design.points), seed=0)


def test_sobol_ishigami_analytic_indices_lie_in_the_intervals(ishigami_sobol):
    _, r = ishigami_sobol
    assert list(r.columns) == ["factor", "S1", "S1_low", "S1_high", "ST", "ST_low", "ST_high"]
    assert list(r.factor) == ["x_x1", "x_x2", "x_x3"]
    for i in range(3):
        assert r.S1_low[i] <= S1_TRUE[i] <= r.S1_high[i], r
        assert r.ST_low[i] <= ST_TRUE[i] <= r.ST_high[i], r
        assert r.S1_low[i] <= r.S1[i] <= r.S1_high[i] and r.ST_low[i] <= r.ST[i] <= r.ST_high[i]
    assert (r.ST_high - r.ST_low).max() < 0.2  # informative, not vacuous intervals


def test_sobol_is_deterministic_and_leaves_global_random_state_alone(ishigami_sobol):
    design, r = ishigami_sobol
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    again = sobol(design, ishigami(design.points), seed=0, n_resamples=999)
    assert np.random.random() == before
    pd.testing.assert_frame_equal(again, r)
    other = sobol(design, ishigami(design.points), seed=1)
    assert not np.allclose(other.S1_low, r.S1_low)


def test_sobol_on_seeds_uses_the_mean_over_seeds(ishigami_sobol):
    design, r = ishigami_sobol
    y = ishigami(design.points)
    noise = np.array([-1.0, 1.0])  # zero mean per point: the analysis must match the noiseless one
    pd.testing.assert_frame_equal(sobol(design, y[:, None] + noise[None, :]), r)


def test_sobol_constant_output_gives_nan_and_a_note():
    design = make_design(ISHIGAMI[:2], DesignSpec(kind="sobol", samples=16))
    r = sobol(design, np.full(len(design), 3.0))
    assert r[["S1", "ST", "S1_low", "ST_high"]].isna().all().all()
    assert "constant" in r.attrs["note"]


def test_sobol_factor_without_effect_has_a_zero_interval():
    design = make_design(ISHIGAMI, DesignSpec(kind="sobol", samples=64))
    y = np.sin(design.points["x_x1"].to_numpy()) + design.points["x_x2"].to_numpy()
    r = sobol(design, y, n_resamples=200)
    assert r.ST[2] == 0 and r.ST_low[2] == 0 and r.ST_high[2] == 0


def test_sobol_checks_the_design_and_y():
    grid = make_design([Factor(path="a.x", values=[1, 2])], DesignSpec())
    with pytest.raises(ValueError, match="design.kind = 'sobol'"):
        sobol(grid, np.zeros(2))
    design = make_design(ISHIGAMI[:2], DesignSpec(kind="sobol", samples=16))
    with pytest.raises(ValueError, match="y has 10 points but the design has 64"):
        sobol(design, np.zeros(10))
    y = np.zeros(len(design))
    y[5] = np.nan
    with pytest.raises(ValueError, match=r"not finite at points \[5\]"):
        sobol(design, y)


def test_morris_linear_function_gives_exact_effects_per_range():
    b = np.array([2.0, -3.0, 0.5])
    factors = [Factor(path="a.x", range=(0.0, 1.0)), Factor(path="a.y", range=(10.0, 30.0)),
               Factor(path="a.z", range=(-5.0, 95.0))]
    design = make_design(factors, DesignSpec(kind="morris", samples=10, levels=4, seed=2))
    y = design.points.to_numpy() @ b
    r = morris(design, y)
    assert list(r.columns) == ["factor", "mu", "mu_star", "mu_star_conf", "mu_star_low", "mu_star_high",
                               "sigma"]
    widths = np.array([1.0, 20.0, 100.0])
    assert np.allclose(r.mu_star, np.abs(b) * widths, rtol=1e-9)
    assert np.allclose(r.mu, b * widths, rtol=1e-9)
    assert np.allclose(r.sigma, 0.0, atol=1e-9)
    assert np.allclose(r.mu_star_low, r.mu_star - r.mu_star_conf)


def test_morris_ishigami_sees_the_interaction_of_x3():
    design = make_design(ISHIGAMI, DesignSpec(kind="morris", samples=20, levels=4, seed=0))
    r = morris(design, ishigami(design.points)).set_index("factor")
    assert r.loc["x_x3", "sigma"] > 1.0  # x3 acts only through its interaction with x1
    assert r.loc["x_x2", "mu_star"] > 1.0
    assert abs(r.loc["x_x2", "mu"]) < 1e-9  # sin^2 is symmetric on the grid: effects cancel in mu


def test_morris_checks_the_design_kind(ishigami_sobol):
    design, _ = ishigami_sobol
    with pytest.raises(ValueError, match="design.kind = 'morris'"):
        morris(design, np.zeros(len(design)))


def test_seed_share_matches_the_variance_components():
    rng = np.random.default_rng(0)
    p, k, sd_point, sd_seed = 400, 4, 2.0, 1.0
    y = rng.normal(0, sd_point, p)[:, None] + rng.normal(0, sd_seed, (p, k))
    share = seed_share(y)
    assert share == pytest.approx(sd_seed**2 / (sd_seed**2 + sd_point**2), abs=0.03)  # 0.2
    # K = 2 is unbiased too (a plain within/total ratio of ddof=0 variances would give about 0.10)
    assert seed_share(y[:, :2]) == pytest.approx(0.2, abs=0.04)
    assert seed_share(y[:, :1]) is None
    assert seed_share(np.ones((5, 3))) is None
    assert seed_share(np.tile(np.arange(5.0)[:, None], 3)) == 0.0
    assert seed_share(np.tile(np.arange(3.0), (4, 1))) == 1.0  # point does not matter at all


def test_main_effects_on_a_grid_use_the_extremes():
    design = make_design([Factor(path="a.x", values=[1, 2, 3]), Factor(path="a.y", range=(0.0, 10.0)),
                          Factor(path="a.m", values=["court", "national"])], DesignSpec(levels=5))
    p = design.points
    y = 2 * p["a_x"].to_numpy() - 0.5 * p["a_y"].to_numpy() + np.where(p["a_m"] == "national", 7.0, 0.0)
    y2 = np.stack([y - 1, y + 1], axis=1)  # seeds average out
    r = main_effects(p, y2).set_index("factor")
    assert list(r.columns) == ["low_value", "high_value", "at_low", "at_high", "swing"]
    assert r.loc["a_x", "low_value"] == 1 and r.loc["a_x", "high_value"] == 3
    assert r.loc["a_x", "swing"] == pytest.approx(4.0)
    assert r.loc["a_y", "swing"] == pytest.approx(-5.0)
    assert (r.loc["a_m", "low_value"], r.loc["a_m", "high_value"]) == ("court", "national")
    assert r.loc["a_m", "swing"] == pytest.approx(7.0)
    # at the low end of x: the mean over the other factors' levels
    assert r.loc["a_x", "at_low"] == pytest.approx(2 - 0.5 * 5.0 + 3.5)


def test_main_effects_on_a_sample_use_the_outer_quintiles():
    design = make_design([Factor(path="a.x", range=(0.0, 1.0)), Factor(path="a.y", range=(0.0, 1.0))],
                         DesignSpec(kind="lhs", samples=100, seed=4))
    x = design.points["a_x"].to_numpy()
    r = main_effects(design.points, 10 * x).set_index("factor")
    # LHS: 20 points per quintile, centred near 0.1 and 0.9, so the swing is about 10 * 0.8
    assert r.loc["a_x", "swing"] == pytest.approx(8.0, abs=0.2)
    assert r.loc["a_x", "low_value"] == pytest.approx(0.1, abs=0.02)
    assert abs(r.loc["a_y", "swing"]) < 1.5


def test_seed_noise_share_excludes_a_shift_common_to_every_point():
    """y = point effect + a per-seed shift + noise: seed_share counts the shift, seed_noise_share
    only the noise (the analytic share var_noise / (var_point + var_shift + var_noise), with the
    shift's variance estimated from the K seeds drawn)."""
    from credsim.experiment.sensitivity import seed_noise_share

    rng = np.random.default_rng(7)
    p, k = 4000, 3
    point = rng.normal(0, 2.0, (p, 1))
    shift = np.array([[0.0, 5.0, -5.0]])
    noise = rng.normal(0, 0.5, (p, k))
    y = point + shift + noise
    total = np.var(y, ddof=1)
    assert seed_noise_share(y) == pytest.approx(0.25 / total, rel=0.08)
    assert seed_share(y) > 0.8  # the shift dominates the within-point variance
    assert seed_noise_share(y[:, :1]) is None
