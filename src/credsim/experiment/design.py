"""Experiment designs: the ``[[factors]]`` and ``[design]`` tables of an experiment file, and the
table of design points they generate (grid, list, Latin hypercube, Sobol/Saltelli, Morris).

Sampling is delegated to libraries (``scipy.stats.qmc`` for LHS and scrambled Sobol sequences,
SALib for Morris trajectories); this module only maps the unit cube to each factor's values and
checks the tables, naming the key of every problem (``factors[1].range``, ``design.samples``).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.stats
from pydantic import Field, model_validator
from scipy.stats import qmc

from credsim.config import Strict
from credsim.errors import ConfigError, problem

RESERVED = ("point", "seed")
"""Column names of the run table that a factor cannot take."""

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_U_EPS = 1e-12  # unit values are clipped into (eps, 1 - eps) before a ppf so its tails stay finite

Value = float | int | str | bool


class Factor(Strict):
    """One factor: a key path into the scenario (``detection.errors.cameras.fpir``,
    ``regime.bands[3].min``, ``appeals.probability``) and the values it takes: discrete ``values``,
    a uniform ``range`` (log-uniform with ``log``) or a scipy.stats ``distribution`` with ``params``.
    """

    path: str
    name: str | None = None
    values: list[Value] | None = None
    range: tuple[float, float] | None = None
    log: bool = False
    distribution: str | None = None
    params: dict[str, float] = Field(default_factory=dict)
    integer: bool = False

    @model_validator(mode="after")
    def _coherent(self):
        problems = factor_problems(self)
        if problems:
            raise ValueError(" | ".join(problems))
        return self

    @property
    def kind(self) -> Literal["values", "range", "distribution"]:
        if self.values is not None:
            return "values"
        return "range" if self.range is not None else "distribution"

    def frozen(self) -> Any:
        """The frozen scipy.stats distribution of a ``distribution`` factor."""
        return getattr(scipy.stats, self.distribution)(**self.params)

    def from_unit(self, u: np.ndarray) -> list[Value]:
        """Map points of [0, 1] to this factor's values (the quantile transform of its law)."""
        u = np.asarray(u, dtype=float)
        if self.kind == "values":
            k = len(self.values)
            idx = np.minimum(np.floor(u * k).astype(np.int64), k - 1)
            return self._rounded([self.values[i] for i in idx])
        if self.kind == "range":
            low, high = self.range
            if self.log:
                x = np.exp(math.log(low) + u * (math.log(high) - math.log(low)))
            else:
                x = low + u * (high - low)
        else:
            x = self.frozen().ppf(np.clip(u, _U_EPS, 1 - _U_EPS))
        return self._rounded([float(v) for v in x])

    def _rounded(self, xs: list[Value]) -> list[Value]:
        return [int(round(x)) for x in xs] if self.integer else xs


def factor_problems(f: Factor) -> list[str]:
    """Checks across the keys of one factor. Lines start with the key (``range: ...``) so that
    ``credsim.config.validate`` prefixes them with the factor's own path (``factors[1].range``)."""
    p: list[str] = []
    given = [k for k in ("values", "range", "distribution") if getattr(f, k) is not None]
    if len(given) != 1:
        got = " and ".join(given) if given else "none"
        p.append(f"give exactly one of 'values', 'range' or 'distribution' (got {got})")
    if not f.path.strip() or any(c.isspace() for c in f.path):
        p.append(f"path: {f.path!r} is not a key path (expected e.g. 'detection.errors.cameras.fpir')")
    if f.name is not None:
        p.extend(f"name: {m}" for m in name_problems(f.name))
    if f.values is not None:
        if not f.values:
            p.append("values: the list is empty (give at least one value)")
        if f.integer and any(isinstance(v, (str, bool)) for v in f.values):
            p.append("integer: only numeric values can be rounded to integers")
    if f.range is not None:
        low, high = f.range
        if not (math.isfinite(low) and math.isfinite(high)):
            p.append(f"range: {list(f.range)!r} must be finite [low, high]")
        elif not low < high:
            p.append(f"range: {list(f.range)!r} needs low < high")
        elif f.log and low <= 0:
            p.append(f"log: a log range needs low > 0 (range is {list(f.range)!r})")
    elif f.log:
        p.append("log: only applies to a 'range' factor")
    if f.distribution is not None:
        p.extend(_distribution_problems(f))
    elif f.params:
        p.append("params: only used with 'distribution'")
    return p


def _distribution_problems(f: Factor) -> list[str]:
    dist = getattr(scipy.stats, f.distribution, None)
    if not isinstance(dist, scipy.stats.rv_continuous):
        return [f"distribution: {f.distribution!r} is not a continuous distribution of scipy.stats "
                "(e.g. 'norm', 'uniform', 'triang', 'truncnorm', 'beta', 'lognorm'); "
                "for discrete levels give 'values'"]
    shapes = dist.shapes or "none"
    expected = f"scipy.stats.{f.distribution} takes shapes ({shapes}) and loc, scale"
    try:
        frozen = dist(**f.params)
        q = frozen.ppf([_U_EPS, 0.5, 1 - _U_EPS])
    except (TypeError, ValueError) as exc:
        return [f"params: {f.params!r} do not make a {f.distribution} distribution ({exc}); {expected}"]
    if not np.all(np.isfinite(q)):
        return [f"params: {f.params!r} are not valid for {f.distribution} (its quantiles are not finite); "
                f"{expected}"]
    return []


def name_problems(name: str) -> list[str]:
    """Why ``name`` cannot be a run-table column (empty when it can)."""
    if not _IDENT.fullmatch(name):
        return [f"{name!r} is not a valid column name (letters, digits and '_', not starting with a digit)"]
    if name.lower() in RESERVED:
        return [f"{name!r} is reserved for the run table's own column (choose another name)"]
    return []


def default_name(path: str) -> str:
    """Column name of a factor without ``name``: the path without its first segment when it has
    three or more, every run of characters other than letters and digits turned into ``_``
    (``regime.bands[3].min`` -> ``bands_3_min``, ``detection.errors.cameras.fpir`` ->
    ``errors_cameras_fpir``, ``appeals.probability`` -> ``appeals_probability``)."""
    parts = path.split(".")
    if len(parts) >= 3:
        parts = parts[1:]
    return re.sub(r"[^A-Za-z0-9]+", "_", ".".join(parts)).strip("_")


class DesignSpec(Strict):
    """The ``[design]`` table. ``samples``: LHS points (required); Sobol base size N, a power of 2
    (default 64; N*(d+2) runs); Morris trajectories r (default 10; r*(d+1) runs). ``levels``: points
    of each ``range`` factor in a grid; the Morris grid levels p (even). ``seed`` seeds the design
    (scrambling, LHS, Morris), not the simulations."""

    kind: Literal["grid", "list", "lhs", "sobol", "morris"] = "grid"
    samples: int | None = Field(default=None, ge=1)
    levels: int = Field(default=4, ge=2)
    seed: int = Field(default=0, ge=0)


@dataclass(frozen=True, eq=False)
class Design:
    """The design points: ``points`` has one row per point (index ``point``) and one column per
    factor name, in the factors' own units. ``unit`` holds the same points on the unit cube for
    the sampled kinds (lhs, sobol, morris), which the Sobol and Morris estimators need."""

    kind: str
    factors: tuple[Factor, ...]
    names: tuple[str, ...]
    points: pd.DataFrame
    unit: np.ndarray | None
    base_samples: int | None
    levels: int | None

    def overrides(self, i: int) -> dict[str, Any]:
        """``{factor.path: value}`` of point ``i``, as plain Python values."""
        return {f.path: _plain(self.points[n].iat[i]) for f, n in zip(self.factors, self.names, strict=True)}

    def __len__(self) -> int:
        return len(self.points)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def make_design(factors: Sequence[Factor], spec: DesignSpec, source: str = "<experiment>") -> Design:
    """Check the factors against the design kind and generate the points.

    grid: full factorial, first factor slowest. list: the factors' values zipped. lhs:
    ``qmc.LatinHypercube``. sobol: Saltelli's layout for ``scipy.stats.sobol_indices``: the N rows
    of A, the N rows of B, then for each factor i the N rows of AB_i (A with column i from B).
    morris: SALib trajectories on the unit cube. Raises ConfigError naming each bad key.
    """
    factors = tuple(factors)
    names, problems = _names(factors)
    problems += _kind_problems(factors, spec)
    if problems:
        raise ConfigError(source, problems)
    d = len(factors)
    unit = None
    base = levels = None
    if spec.kind == "grid":
        grid_levels = [_grid_levels(f, spec.levels) for f in factors]
        for k, (f, lv) in enumerate(zip(factors, grid_levels, strict=True)):
            if f.integer and len(set(lv)) < len(lv):
                problems.append(problem(("factors", k, "integer"),
                                        f"rounding gives repeated grid levels {lv}; "
                                        "give fewer design.levels or explicit values"))
        if problems:
            raise ConfigError(source, problems)
        rows = list(itertools.product(*grid_levels))
        columns = [[r[k] for r in rows] for k in range(d)]
    elif spec.kind == "list":
        columns = [f._rounded(list(f.values)) for f in factors]
    else:
        if spec.kind == "lhs":
            unit = qmc.LatinHypercube(d, rng=spec.seed).random(spec.samples)
        elif spec.kind == "sobol":
            base = spec.samples or 64
            ab = qmc.Sobol(2 * d, scramble=True, rng=spec.seed).random(base)
            a, b = ab[:, :d], ab[:, d:]
            blocks = [a, b]
            for i in range(d):
                abi = a.copy()
                abi[:, i] = b[:, i]
                blocks.append(abi)
            unit = np.vstack(blocks)
        else:
            from SALib.sample import morris as morris_sample

            base, levels = spec.samples or 10, spec.levels
            problem_ = {"num_vars": d, "names": list(names), "bounds": [[0.0, 1.0]] * d}
            unit = morris_sample.sample(problem_, N=base, num_levels=levels, seed=spec.seed)
        # finite by construction: Factor checks a distribution's ppf at the clipped ends of (0, 1)
        columns = [f.from_unit(unit[:, k]) for k, f in enumerate(factors)]
    points = pd.DataFrame({n: pd.Series(c) for n, c in zip(names, columns, strict=True)})
    points.index.name = "point"
    return Design(kind=spec.kind, factors=factors, names=names, points=points, unit=unit,
                  base_samples=base, levels=levels)


def _names(factors: tuple[Factor, ...]) -> tuple[tuple[str, ...], list[str]]:
    names: list[str] = []
    problems: list[str] = []
    seen_name: dict[str, int] = {}
    seen_path: dict[str, int] = {}
    for k, f in enumerate(factors):
        if f.path in seen_path:
            problems.append(problem(("factors", k, "path"),
                                    f"is already the path of factors[{seen_path[f.path]}] "
                                    "(each key path can be one factor only)", f.path))
        seen_path.setdefault(f.path, k)
        name = f.name if f.name is not None else default_name(f.path)
        key = ("factors", k, "name")
        if f.name is None:
            problems.extend(problem(key, f"{m} (derived from path {f.path!r}; set 'name')")
                            for m in name_problems(name))
        other = seen_name.get(name.lower())
        if other is not None:
            problems.append(problem(key, f"{name!r} is already the column name of factors[{other}]; "
                                         "give each factor a distinct 'name'"))
        seen_name.setdefault(name.lower(), k)
        names.append(name)
    return tuple(names), problems


def _kind_problems(factors: tuple[Factor, ...], spec: DesignSpec) -> list[str]:
    kind, d = spec.kind, len(factors)
    p: list[str] = []
    if d == 0:
        return ["factors: a design needs at least one factor ([[factors]] with a path and values)"]
    if kind in ("grid", "list") and spec.samples is not None:
        p.append(problem(("design", "samples"),
                         f"is not used by a {kind} design (its points come from the factors' values; "
                         "remove it)", spec.samples))
    if kind == "grid":
        for k, f in enumerate(factors):
            if f.kind == "distribution":
                p.append(problem(("factors", k, "distribution"),
                                 "cannot be used in a grid, which needs discrete levels: give 'values' "
                                 "or a 'range' (design.levels points), or use design.kind = 'lhs', "
                                 "'sobol' or 'morris'"))
    elif kind == "list":
        first = None
        for k, f in enumerate(factors):
            if f.kind != "values":
                p.append(problem(("factors", k, f.kind),
                                 "a list design zips explicit 'values'; give 'values' for every factor "
                                 "(or use design.kind = 'grid')"))
            elif first is None:
                first = k
            elif len(f.values) != len(factors[first].values):
                p.append(problem(("factors", k, "values"),
                                 f"list has {len(f.values)} values but factors[{first}] has "
                                 f"{len(factors[first].values)} (a list design zips them)"))
    elif kind == "lhs":
        if spec.samples is None:
            p.append(problem(("design", "samples"),
                             "is required for an lhs design (the number of points, e.g. 100)"))
    elif kind == "sobol":
        if d < 2:
            p.append(problem(("factors",), f"a sobol design needs at least 2 factors (got {d}); "
                                           "for one factor use a grid"))
        n = spec.samples
        if n is not None and n & (n - 1):
            lo = 1 << (n.bit_length() - 1)
            p.append(problem(("design", "samples"),
                             f"is not a power of 2 (Sobol sequences need N = 2^k; try {lo} or {2 * lo})",
                             n))
    elif kind == "morris":
        if spec.levels % 2:
            p.append(problem(("design", "levels"),
                             "must be even for a morris design (the grid levels p; try 4 or 6)",
                             spec.levels))
    return p


def _grid_levels(f: Factor, levels: int) -> list[Value]:
    if f.kind == "values":
        return f._rounded(list(f.values))
    low, high = f.range
    xs = np.geomspace(low, high, levels) if f.log else np.linspace(low, high, levels)
    return f._rounded([float(x) for x in xs])
