"""Checks of a scenario that need its other files: references that resolve, a population that
can be cut into communities, event rates that stay finite after the scenario's overrides.
Every problem names the scenario file and the key path."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationError

from credsim import limits as L
from credsim.behaviour import load_catalogue
from credsim.config import shorten
from credsim.errors import ConfigError, ReferenceProblem
from credsim.refs import is_name


def _run_name(v: str) -> str:
    if not is_name(v):
        raise ValueError("a scenario's name is a name, not a path: letters, digits, '.', '_' and "
                         "'-', at most 100 characters, no '/' (it names the run directory)")
    return v


RunName = Annotated[str, AfterValidator(_run_name)]


def scenario_checks(sc: Any) -> None:  # a scenario.Scenario (which imports this module)
    """Raise ConfigError (naming the scenario and the key) on the first kind of problem found."""
    refs = (("behaviour.catalogue", sc.behaviour.catalogue,
             lambda: load_catalogue(sc.behaviour.catalogue, sc._base)),
            ("population.marginals", sc.population.marginals, lambda: sc.marginals_model),
            ("regime." + ("use" if sc.regime.use is not None else "file"),
             sc.regime.use if sc.regime.use is not None else sc.regime.file, lambda: sc.regime_model))
    problems = []
    for key, ref, load in refs:
        try:
            load()
        except ReferenceProblem as exc:
            problems += [f"{key}: {shorten(repr(ref))}: {p}" for p in exc.problems]
    if problems:
        raise ConfigError(sc._source, problems)
    problems = population_problems(sc)
    try:
        _ = sc.catalogue
    except ValidationError as exc:  # the catalogue's own checks, after the scenario's overrides
        problems += [f"behaviour/detection (the catalogue after the scenario's overrides): {p}"
                     for e in exc.errors(include_url=False)
                     for p in str(e["msg"]).removeprefix("Value error, ").split(" | ")]
    if problems:
        raise ConfigError(sc._source, problems)


def population_problems(sc: Any) -> list[str]:
    """At least one person; at most ``limits.PERSONS`` and ``limits.COMMUNITIES``."""
    pop = sc.population
    table = [(n, p) for n, p, _ in sc.marginals_model.province_table
             if not pop.provinces or n in pop.provinces]
    total = sum(p for _, p in table)
    if not table or total <= 0:
        return []  # unknown provinces are reported by Scenario.check
    persons = pop.persons if pop.persons is not None else round(total * (pop.scale or 0.0))
    key = "population.persons" if pop.persons is not None else "population.scale"
    value = pop.persons if pop.persons is not None else pop.scale
    if persons < 1:
        return [f"{key}: {value!r} gives {persons} persons from {total:,}: at least 1 is needed"]
    if persons > L.PERSONS:
        return [f"{key}: {value!r} gives {persons:,} persons; at most {L.PERSONS:,}"]
    comms = sum(max(1, math.ceil(persons * p / total / pop.community_size)) for _, p in table)
    if comms > L.COMMUNITIES:
        return [f"population.community_size: {pop.community_size:,} cuts {persons:,} persons into "
                f"about {comms:,} communities; at most {L.COMMUNITIES:,} (raise community_size)"]
    return []
