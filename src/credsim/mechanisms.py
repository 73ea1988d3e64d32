"""Mechanisms that act on people: errors, appeals, surveillance feedback, behaviour response,
coupling through households and firms. Defaults (with sources) live in data/mechanisms.toml."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import Field

from credsim.config import Strict, read_toml
from credsim.data import data_path


class ErrorsSpec(Strict):
    """False records from the sensors' error rates (see the catalogue's sensors)."""

    enabled: bool = True


class AppealsSpec(Strict):
    """Erroneous records are challenged and removed with ``probability``, ``delay_days`` later."""

    enabled: bool = True
    probability: float = Field(default=0.3, ge=0, le=1)
    delay_days: int = Field(default=20, ge=0)


class SurveillanceSpec(Strict):
    """Watched agents (lowest grades, listed) face ``multiplier`` times the detection intensity:
    a sensor that catches an act with probability p catches it with 1 - (1 - p)^multiplier, and
    makes ``multiplier`` times as many false matches."""

    enabled: bool = True
    multiplier: float = Field(default=2.0, ge=1, le=100)
    lowest_grades: int = Field(default=2, ge=0)
    listed: bool = True


class ResponseSpec(Strict):
    """Behaviour response elasticities. All zero: behaviour is fixed."""

    deterrence: float = Field(default=0.5, ge=0, le=20)
    gaming: float = Field(default=0.5, ge=0, le=20)
    gaming_window: int = Field(default=20, ge=0)
    chilling: float = Field(default=0.25, ge=0, le=1)


class CouplingSpec(Strict):
    """Links applied at epoch boundaries: households (children, elderly parents) and firms'
    legal representatives."""

    households: bool = True
    legal_representatives: bool = True


@cache
def _defaults() -> dict[str, Any]:
    raw = read_toml(data_path("mechanisms.toml"))
    keep = {
        "errors": ["enabled"],
        "appeals": ["enabled", "probability", "delay_days"],
        "surveillance": ["enabled", "multiplier", "lowest_grades", "listed"],
        "response": ["deterrence", "gaming", "gaming_window", "chilling"],
        "coupling": ["households", "legal_representatives"],
    }
    return {sec: {k: raw[sec][k] for k in keys} for sec, keys in keep.items()}


def default(section: str) -> dict[str, Any]:
    """The shipped default values of one mechanism section."""
    return dict(_defaults()[section])


def mechanisms_off() -> dict[str, Any]:
    """Scenario tables that switch every mechanism off (a baseline for comparisons)."""
    return {
        "errors": {"enabled": False},
        "appeals": {"enabled": False},
        "surveillance": {"enabled": False},
        "response": {"deterrence": 0.0, "gaming": 0.0, "chilling": 0.0},
        "coupling": {"households": False, "legal_representatives": False},
    }
