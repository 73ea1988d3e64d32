"""Experiment designs: the points each kind generates, and the errors of bad factor/design tables."""

import itertools
import math

import numpy as np
import pytest
from pydantic import Field

from credsim.config import Strict, validate
from credsim.errors import ConfigError
from credsim.experiment.design import DesignSpec, Factor, default_name, make_design

SOURCE = "exp.toml"


class File(Strict):
    """The two tables of an experiment file this module owns, as the file model will hold them."""

    factors: list[Factor] = Field(default_factory=list)
    design: DesignSpec = Field(default_factory=DesignSpec)


def design_of(factors: list[dict], **design):
    f = validate(File, {"factors": factors, "design": design}, SOURCE)
    return make_design(f.factors, f.design, SOURCE)


def errors_of(factors: list[dict], **design) -> str:
    with pytest.raises(ConfigError) as exc:
        design_of(factors, **design)
    msg = str(exc.value)
    assert all(line.startswith(f"{SOURCE}: ") for line in msg.splitlines()), msg
    assert "Traceback" not in msg and "validation error" not in msg
    return msg


# --- points -------------------------------------------------------------------------------------

def test_grid_is_the_full_factorial_first_factor_slowest():
    d = design_of([{"path": "a.x", "values": [1, 2]},
                   {"path": "a.y", "range": [0.0, 1.0]},
                   {"path": "a.z", "range": [1.0, 100.0], "log": True}], kind="grid", levels=3)
    assert len(d) == 2 * 3 * 3 and d.unit is None and d.names == ("a_x", "a_y", "a_z")
    expected = list(itertools.product([1, 2], [0.0, 0.5, 1.0], [1.0, 10.0, 100.0]))
    got = list(d.points.itertuples(index=False, name=None))
    assert np.allclose(got, expected, rtol=1e-12)
    assert d.points.index.name == "point" and list(d.points.index) == list(range(18))
    assert d.points["a_x"].dtype == np.int64 and d.points["a_y"].dtype == np.float64


def test_list_zips_values():
    d = design_of([{"path": "a.x", "values": [1, 2, 3]},
                   {"path": "a.y", "values": ["court", "national", "city"]},
                   {"path": "a.z", "values": [True, False, True]}], kind="list")
    assert list(d.points.itertuples(index=False, name=None)) == [
        (1, "court", True), (2, "national", False), (3, "city", True)]


def test_lhs_stratifies_every_factor():
    n = 50
    d = design_of([{"path": "a.x", "range": [-2.0, 6.0]},
                   {"path": "a.y", "range": [0.01, 10.0], "log": True},
                   {"path": "a.z", "distribution": "norm", "params": {"loc": 5, "scale": 2}}],
                  kind="lhs", samples=n, seed=3)
    assert d.unit.shape == (n, 3) and len(d) == n
    for k in range(3):  # one point in each 1/n bin of every axis
        assert sorted(np.floor(d.unit[:, k] * n).astype(int)) == list(range(n))
    x = d.points["a_x"].to_numpy()
    assert sorted(np.floor((x + 2.0) / 8.0 * n).astype(int)) == list(range(n))
    y = np.log(d.points["a_y"].to_numpy())
    lo, hi = math.log(0.01), math.log(10.0)
    assert sorted(np.floor((y - lo) / (hi - lo) * n).astype(int)) == list(range(n))
    from scipy.stats import norm
    assert np.allclose(d.points["a_z"], norm(5, 2).ppf(d.unit[:, 2]))


def test_sobol_layout_is_saltellis():
    n, dim = 16, 3
    d = design_of([{"path": f"a.x{i}", "range": [0.0, 2.0]} for i in range(dim)],
                  kind="sobol", samples=n, seed=1)
    assert len(d) == n * (dim + 2) and d.base_samples == n and d.unit.shape == (n * (dim + 2), dim)
    a, b = d.unit[:n], d.unit[n:2 * n]
    assert not np.allclose(a, b)
    for i in range(dim):
        abi = d.unit[(2 + i) * n:(3 + i) * n]
        others = [j for j in range(dim) if j != i]
        assert np.array_equal(abi[:, others], a[:, others])
        assert np.array_equal(abi[:, i], b[:, i])
    assert np.allclose(d.points.to_numpy(), 2.0 * d.unit)


def test_sobol_defaults_and_design_seed():
    fs = [{"path": "a.x", "range": [0.0, 1.0]}, {"path": "a.y", "range": [0.0, 1.0]}]
    d = design_of(fs, kind="sobol")
    assert d.base_samples == 64 and len(d) == 64 * 4
    assert np.array_equal(d.unit, design_of(fs, kind="sobol").unit)
    assert not np.allclose(d.unit, design_of(fs, kind="sobol", seed=1).unit)


def test_morris_trajectories_on_the_level_grid():
    d = design_of([{"path": f"a.x{i}", "range": [0.0, 3.0]} for i in range(3)],
                  kind="morris", samples=5, levels=4)
    assert len(d) == 5 * (3 + 1) and d.base_samples == 5 and d.levels == 4
    assert set(np.round(d.unit.ravel() * 3, 9)) <= {0.0, 1.0, 2.0, 3.0}
    steps = np.diff(d.unit.reshape(5, 4, 3), axis=1)  # one factor moves per step of a trajectory
    assert np.all((np.abs(steps) > 1e-12).sum(axis=2) == 1)


def test_values_factors_are_sampled_among_their_values_and_integers_rounded():
    d = design_of([{"path": "a.mode", "values": ["court", "national", "city"]},
                   {"path": "a.n", "range": [0.0, 10.0], "integer": True},
                   {"path": "a.k", "distribution": "triang", "params": {"c": 0.5, "loc": 0, "scale": 9},
                    "integer": True}], kind="lhs", samples=30)
    assert set(d.points["a_mode"]) == {"court", "national", "city"}
    assert (d.points["a_mode"].value_counts() == 10).all()  # LHS: equal share of each level
    for c in ("a_n", "a_k"):
        assert d.points[c].dtype == np.int64
    assert d.points["a_n"].between(0, 10).all() and d.points["a_k"].between(0, 9).all()
    assert np.array_equal(d.points["a_n"], np.rint(10 * d.unit[:, 1]).astype(int))


def test_overrides_are_plain_python_values_keyed_by_path():
    d = design_of([{"path": "regime.bands[3].min", "range": [600, 900], "integer": True},
                   {"path": "detection.errors.cameras.fpir", "range": [0.001, 0.1], "log": True},
                   {"path": "appeals.mode", "values": ["none", "court"]},
                   {"path": "appeals.enabled", "values": [True, False]}], kind="lhs", samples=4)
    o = d.overrides(2)
    assert list(o) == ["regime.bands[3].min", "detection.errors.cameras.fpir", "appeals.mode",
                       "appeals.enabled"]
    assert [type(v) for v in o.values()] == [int, float, str, bool]
    assert o["regime.bands[3].min"] == d.points["bands_3_min"].iloc[2]


def test_default_names():
    assert default_name("regime.bands[3].min") == "bands_3_min"
    assert default_name("detection.errors.cameras.fpir") == "errors_cameras_fpir"
    assert default_name("appeals.probability") == "appeals_probability"
    d = design_of([{"path": "regime.bands[3].min", "values": [1]},
                   {"path": "x.y", "name": "custom", "values": [2]}])
    assert d.names == ("bands_3_min", "custom") and list(d.points.columns) == ["bands_3_min", "custom"]


# --- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("factor", "expected"), [
    ({"path": "a.x", "values": [1], "range": [0, 1]},
     "factors[0]: give exactly one of 'values', 'range' or 'distribution' (got values and range)"),
    ({"path": "a.x"}, "factors[0]: give exactly one of 'values', 'range' or 'distribution' (got none)"),
    ({"path": "a.x", "range": [1, 1]}, "factors[0].range: [1.0, 1.0] needs low < high"),
    ({"path": "a.x", "range": [0, 1], "log": True}, "factors[0].log: a log range needs low > 0"),
    ({"path": "a.x", "values": [1, 2], "log": True}, "factors[0].log: only applies to a 'range' factor"),
    ({"path": "a.x", "values": []}, "factors[0].values: the list is empty"),
    ({"path": "a.x", "values": ["a"], "integer": True}, "factors[0].integer: only numeric values"),
    ({"path": "a.x", "values": [1], "params": {"loc": 1}},
     "factors[0].params: only used with 'distribution'"),
    ({"path": "a.x", "distribution": "nrom"},
     "factors[0].distribution: 'nrom' is not a continuous distribution of scipy.stats"),
    ({"path": "a.x", "distribution": "poisson", "params": {"mu": 2}},
     "factors[0].distribution: 'poisson' is not a continuous distribution"),
    ({"path": "a.x", "distribution": "norm", "params": {"mean": 1}},
     "factors[0].params: {'mean': 1.0} do not make a norm distribution"),
    ({"path": "a.x", "distribution": "beta", "params": {"a": 2}},
     "factors[0].params: {'a': 2.0} do not make a beta distribution"),
    ({"path": "a.x", "distribution": "norm", "params": {"scale": -1}},
     "factors[0].params: {'scale': -1.0} are not valid for norm (its quantiles are not finite)"),
    ({"path": "a.x", "name": "seed", "values": [1]}, "factors[0].name: 'seed' is reserved"),
    ({"path": "a.x", "name": "1x", "values": [1]}, "factors[0].name: '1x' is not a valid column name"),
    ({"path": "a b", "values": [1]}, "factors[0].path: 'a b' is not a key path"),
    ({"path": "a.x", "values": [1], "colour": 1}, "factors[0].colour: unknown key"),
])
def test_bad_factor(factor, expected):
    assert expected in errors_of([factor])


def test_bad_params_name_the_expected_shapes():
    msg = errors_of([{"path": "a.x", "distribution": "beta", "params": {"a": 2}}], kind="lhs", samples=4)
    assert "scipy.stats.beta takes shapes (a, b) and loc, scale" in msg


X = {"path": "a.x", "values": [1, 2, 3, 4]}
R = {"path": "a.y", "range": [0.0, 1.0]}
N = {"path": "a.z", "distribution": "norm"}


@pytest.mark.parametrize(("factors", "design", "expected"), [
    ([X, {"path": "a.y", "values": [1, 2, 3]}], {"kind": "list"},
     "exp.toml: factors[1].values: list has 3 values but factors[0] has 4 (a list design zips them)"),
    ([X, R], {"kind": "list"}, "factors[1].range: a list design zips explicit 'values'"),
    ([X, N], {"kind": "grid"}, "factors[1].distribution: cannot be used in a grid"),
    ([X, R], {"kind": "sobol", "samples": 100},
     "exp.toml: design.samples: 100 is not a power of 2 (Sobol sequences need N = 2^k; try 64 or 128)"),
    ([R], {"kind": "sobol"}, "factors: a sobol design needs at least 2 factors (got 1)"),
    ([X, R], {"kind": "lhs"}, "design.samples: is required for an lhs design"),
    ([X, R], {"kind": "grid", "samples": 10}, "design.samples: 10 is not used by a grid design"),
    ([X, R], {"kind": "morris", "levels": 5}, "design.levels: 5 must be even for a morris design"),
    ([X, R], {"kind": "lhs", "samples": 0}, "design.samples: 0: Input should be greater than or equal to 1"),
    ([X, R], {"kind": "factorial"}, "design.kind: 'factorial': Input should be 'grid', 'list'"),
    ([X, R], {"kind": "lhs", "sample": 10}, "design.sample: unknown key"),
    ([], {}, "factors: a design needs at least one factor"),
    ([X, {"path": "b.a.x", "values": [1]}, {"path": "c.a.x", "values": [2]}], {},
     "factors[2].name: 'a_x' is already the column name of factors[0]; give each factor a distinct 'name'"),
    ([X, {"path": "a.x", "name": "other", "values": [1]}], {},
     "factors[1].path: 'a.x' is already the path of factors[0]"),
    ([{"path": "3.x", "values": [1]}], {},
     "factors[0].name: '3_x' is not a valid column name (letters, digits and '_', not starting with a digit) "
     "(derived from path '3.x'; set 'name')"),
    ([{"path": "Point", "values": [1]}], {}, "factors[0].name: 'Point' is reserved"),
    ([{"path": "a.n", "range": [0, 2], "integer": True}], {"levels": 4},
     "factors[0].integer: rounding gives repeated grid levels [0, 1, 1, 2]"),
])
def test_bad_design(factors, design, expected):
    assert expected in errors_of(factors, **design)


def test_every_problem_is_reported_at_once():
    msg = errors_of([X, N, {"path": "a.x", "name": "other", "values": [1]}], kind="grid", samples=3)
    lines = msg.splitlines()
    assert any("design.samples" in s for s in lines) and any("factors[1].distribution" in s for s in lines)
    assert any("factors[2].path" in s for s in lines)
