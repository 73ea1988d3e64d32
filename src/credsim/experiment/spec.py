"""The experiment file (TOML): a base scenario, what varies (factors and a design, or named
arms), seeds, outputs. docs/reference.md lists the keys."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, model_validator

from credsim.config import Strict
from credsim.experiment.design import DesignSpec, Factor
from credsim.experiment.metrics import DEFAULT_OUTPUTS, LABELS, PREFIX_LABELS
from credsim.seeds import seed_list, seed_problems

MAX_SEEDS = 10_000
METRIC_PREFIXES = tuple(p for p, _ in PREFIX_LABELS)


class ArmSpec(Strict):
    """A named arm of a comparison: its own scenario file (default: the experiment's) and values."""

    label: str = Field(min_length=1, max_length=80)
    scenario: str | None = None
    set: dict[str, Any] = Field(default_factory=dict)


class ExperimentFile(Strict):
    """An experiment: ``scenario`` (relative to the file), fixed changes ``set`` for every run,
    then either ``factors`` with a ``design`` (a sweep) or ``arms`` (a paired comparison), run
    for each of ``seeds`` (a count from ``first_seed``, default the scenario's seed, or a list)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
    description: str = ""
    scenario: str
    set: dict[str, Any] = Field(default_factory=dict)
    seeds: int | list[int] = Field(default=1)
    first_seed: int | None = Field(default=None, ge=0, lt=2**63)
    outputs: list[str] = Field(default_factory=lambda: list(DEFAULT_OUTPUTS), min_length=1)
    daily: bool | list[str] = True
    design: DesignSpec = Field(default_factory=DesignSpec)
    factors: list[Factor] = Field(default_factory=list)
    arms: list[ArmSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shape(self):
        problems = []
        problems += seed_problems(self.seeds, MAX_SEEDS)
        if self.factors and self.arms:
            problems.append("arms: give factors (a sweep) or arms (a comparison), not both")
        labels = [a.label for a in self.arms]
        if len(set(labels)) != len(labels):
            problems.append("arms: two arms have the same label")
        for j, o in enumerate(self.outputs):
            if not known_metric(o):
                problems.append(f"outputs[{j}]: {o!r} is not a metric of the run table "
                                f"(e.g. {', '.join(DEFAULT_OUTPUTS[:4])}; docs/reference.md lists them)")
        if problems:
            raise ValueError(" | ".join(problems))
        return self

    def seed_list(self, scenario_seed: int) -> list[int]:
        return seed_list(self.seeds, self.first_seed, scenario_seed)


def known_metric(name: str) -> bool:
    """A run table column (``credsim.experiment.metrics``): a named metric or a per-grade,
    per-sanction or per-list column."""
    if name in LABELS or name in ("persons", "firms"):
        return True
    return any(name.startswith(p) and re.fullmatch(r"[A-Za-z0-9_+\-]+", name[len(p):] or "-")
               for p in METRIC_PREFIXES)
