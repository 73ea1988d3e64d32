"""The calibration file (TOML): a scenario, the parameters to fit, the targets, seeds, trials and
sampler. docs/reference.md ("Calibration files") lists the keys."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

from pydantic import Field, model_validator

from credsim.config import Strict
from credsim.provenance import Sourced
from credsim.seeds import seed_list, seed_problems

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"
MAX_SEEDS = 1000
MAX_TRIALS = 100_000
PRIOR_PARAMS = {"uniform": (), "loguniform": (), "normal": ("mu", "sigma"), "lognormal": ("mu", "sigma"),
                "beta": ("a", "b")}


class Prior(Strict):
    """A parameter's prior, truncated to its range: ``uniform`` or ``loguniform`` on the range,
    ``normal`` (mu, sigma), ``lognormal`` (mu, sigma of the log), ``beta`` (a, b) rescaled to the range."""

    family: Literal["uniform", "loguniform", "normal", "lognormal", "beta"]
    mu: float | None = None
    sigma: float | None = Field(default=None, gt=0)
    a: float | None = Field(default=None, gt=0)
    b: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _params(self):
        need = PRIOR_PARAMS[self.family]
        problems = [f"{k}: required by a {self.family} prior" for k in need if getattr(self, k) is None]
        problems += [f"{k}: not a parameter of a {self.family} prior "
                     f"(its parameters: {', '.join(need) or 'none'})"
                     for k in ("mu", "sigma", "a", "b") if k not in need and getattr(self, k) is not None]
        if problems:
            raise ValueError(" | ".join(problems))
        return self


class ParameterSpec(Strict):
    """A value to fit: its key path (as in ``--set``), its range, log scale, prior, integer, and
    an optional ``start`` (the first trial's value; CMA-ES's initial mean)."""

    path: str = Field(min_length=1)
    name: str | None = Field(default=None, pattern=NAME)
    range: tuple[float, float]
    log: bool = False
    integer: bool = False
    prior: Prior | None = None
    start: float | None = None
    note: str = ""

    @model_validator(mode="after")
    def _bounds(self):
        lo, hi = self.range
        problems = []
        if self.start is not None and not (math.isfinite(self.start) and lo <= self.start <= hi):
            problems.append(f"start: {self.start}: must lie in the range [{lo}, {hi}]")
        if not (math.isfinite(lo) and math.isfinite(hi)):
            problems.append("range: bounds must be finite numbers")
        elif not lo < hi:
            problems.append(f"range: [{lo}, {hi}]: the lower bound must be below the upper bound")
        elif (self.log or (self.prior and self.prior.family in ("loguniform", "lognormal"))) and lo <= 0:
            problems.append(f"range: [{lo}, {hi}]: a log-scale parameter needs a positive lower bound")
        if self.integer and (lo != int(lo) or hi != int(hi)):
            problems.append("range: an integer parameter needs integer bounds")
        if problems:
            raise ValueError(" | ".join(problems))
        return self

    @property
    def label(self) -> str:
        return self.name or self.path

    @property
    def prior_family(self) -> str:
        return self.prior.family if self.prior else ("loguniform" if self.log else "uniform")


class TargetSpec(Sourced):
    """An observed figure, what it measures in a run (``quantity`` and its options), its
    uncertainty and likelihood, its weight, whether it is held out, and its ``source`` (or an
    ``assumption``)."""

    name: str = Field(pattern=NAME)
    quantity: str
    column: str | None = None
    day: int | None = None
    days: tuple[int, int] | None = None
    date: dt.date | None = None
    period: tuple[dt.date, dt.date] | None = None
    aggregate: Literal["mean", "sum", "min", "max", "first", "last"] | None = None
    nation_equivalent: bool = False
    observed: float
    sd: float | None = Field(default=None, gt=0)
    cv: float | None = Field(default=None, gt=0)
    likelihood: Literal["normal", "poisson", "negative_binomial", "binomial"] = "normal"
    dispersion: float | None = Field(default=None, gt=0)
    n: int | None = Field(default=None, gt=0)
    weight: float = Field(default=1.0, ge=0)
    holdout: bool = False
    note: str = ""

    @model_validator(mode="after")
    def _likelihood(self):
        f = self.likelihood
        problems = []
        if not math.isfinite(self.observed):
            problems.append("observed: must be a finite number")
        if f == "normal":
            if (self.sd is None) == (self.cv is None):
                problems.append("sd: a normal likelihood needs exactly one of 'sd' (absolute) or 'cv' "
                                "(relative to the observed figure)")
            elif self.cv is not None and self.observed == 0:
                problems.append("cv: the observed figure is 0; give 'sd' instead")
        else:
            for k in ("sd", "cv"):
                if getattr(self, k) is not None:
                    extra = " and dispersion" if f == "negative_binomial" else ""
                    problems.append(f"{k}: only for a normal likelihood (a {f} likelihood's spread "
                                    f"follows from its mean{extra})")
            if self.observed < 0 or self.observed != int(self.observed):
                problems.append(f"observed: {self.observed}: a {f} likelihood needs a count "
                                f"(a whole number >= 0)")
        if f == "negative_binomial" and self.dispersion is None:
            problems.append("dispersion: required by a negative_binomial likelihood (the size r: "
                            "variance = mu + mu^2 / r)")
        if f != "negative_binomial" and self.dispersion is not None:
            problems.append("dispersion: only for a negative_binomial likelihood")
        if f == "binomial":
            if self.n is None:
                problems.append("n: required by a binomial likelihood (the number of trials)")
            elif self.observed > self.n:
                problems.append(f"observed: {self.observed} is more than n = {self.n}")
        elif self.n is not None:
            problems.append("n: only for a binomial likelihood")
        if problems:
            raise ValueError(" | ".join(problems))
        return self

    @property
    def sd_abs(self) -> float | None:
        if self.likelihood != "normal":
            return None
        return self.sd if self.sd is not None else self.cv * abs(self.observed)

    def family_kw(self) -> dict[str, Any]:
        return {"sd": self.sd_abs, "dispersion": self.dispersion, "n": self.n}


class CalibrationFile(Strict):
    """A calibration: fit ``parameters`` of ``scenario`` (with ``set`` applied) to ``targets``,
    ``trials`` trials of ``seeds`` runs each (common seeds), proposed by ``sampler``."""

    name: str = Field(pattern=NAME)
    description: str = ""
    scenario: str
    set: dict[str, Any] = Field(default_factory=dict)
    parameters: list[ParameterSpec] = Field(min_length=1)
    targets: list[TargetSpec] = Field(min_length=1)
    seeds: int | list[int] = 2
    first_seed: int | None = Field(default=None, ge=0, lt=2**63)
    trials: int = Field(default=40, ge=1, le=MAX_TRIALS)
    sampler: Literal["tpe", "random", "cmaes", "qmc"] = "tpe"
    seed: int = Field(default=0, ge=0, lt=2**32)
    posterior_draws: int = Field(default=1000, ge=10, le=1_000_000)
    posterior_temperature: float | Literal["auto"] = "auto"

    @model_validator(mode="after")
    def _shape(self):
        problems = []
        problems += seed_problems(self.seeds, MAX_SEEDS)
        for kind, names in (("parameters", [p.label for p in self.parameters]),
                            ("targets", [t.name for t in self.targets])):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                problems.append(f"{kind}: {', '.join(dup)} given twice")
        paths = [p.path for p in self.parameters]
        for j, p in enumerate(paths):
            if p in self.set:
                problems.append(f"parameters[{j}].path: {p!r} is also fixed in 'set'")
        if paths and len(set(paths)) != len(paths):
            problems.append("parameters: a path is fitted twice")
        T = self.posterior_temperature
        if T != "auto" and not (math.isfinite(T) and 1 <= T <= 1e6):
            problems.append(f"posterior_temperature: {T}: 'auto' or a number from 1 (the plain "
                            f"posterior) to 1e6")
        if all(t.holdout or t.weight == 0 for t in self.targets):
            problems.append("targets: every target is held out (or has weight 0): nothing to fit")
        if problems:
            raise ValueError(" | ".join(problems))
        return self

    def seed_list(self, scenario_seed: int) -> list[int]:
        return seed_list(self.seeds, self.first_seed, scenario_seed)

    @property
    def fitted_targets(self) -> list[TargetSpec]:
        return [t for t in self.targets if not t.holdout and t.weight > 0]


