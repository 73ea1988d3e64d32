"""Behaviour response: candidate acts are thinned by chilling, deterrence and gaming.

The same step drops acts that need an elderly parent from agents without one in their
household (``act_parent``, from the catalogue's ``needs``): a drawn act is accepted or not in
one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from credsim import limits as L
from credsim.config import Strict
from credsim.layout import BIG, FEAT_ACTS
from credsim.mechanisms.base import Compiled, Mechanism, TableField

if TYPE_CHECKING:  # pragma: no cover
    from credsim.behaviour import Catalogue


class ResponseSpec(Strict):
    """Behaviour response elasticities. All zero: behaviour is fixed."""

    deterrence: float = Field(ge=0, le=20)
    gaming: float = Field(ge=0, le=20)
    gaming_window: int = Field(ge=0, le=2 * L.SCORE)
    chilling: float = Field(ge=0, le=1)


def compile_response(spec: ResponseSpec, regime, cat: Catalogue, rt: Any) -> dict[str, Any]:
    """Chilling lowers lawful acts the regime penalises; deterrence lowers unlawful acts by the
    severity of their sanction (in units of the score's span; a listing counts 1); gaming raises
    the candidate rate of acts that earn points (thinned back away from band thresholds)."""
    negative = (rt.act_points < 0) | (rt.act_lists != 0) | (rt.act_cap < BIG)
    lawful = np.array([a.lawful for a in cat.acts])
    accept = np.where(lawful & negative, 1.0 - spec.chilling, 1.0)
    span = max(1, rt.score_init - rt.band_min[-1]) if len(rt.band_min) > 1 else max(1, rt.score_init)
    sev = np.minimum(1.0, np.maximum(0, -rt.act_points) / span) + (rt.act_lists != 0)
    deter = spec.deterrence * sev * (~lawful)
    game = np.where(rt.act_points > 0, 1.0 + spec.gaming, 1.0)
    return {
        "act_accept": accept.astype(np.float64),
        "act_deter": deter.astype(np.float64),
        "act_game": game.astype(np.float64),
        "act_parent": np.array([a.needs == "elderly_parent" for a in cat.acts], np.bool_),
        "game_window": spec.gaming_window,
    }


def uses(spec: Compiled) -> int:
    """Candidate acts thinned: by the response, or for want of an elderly parent."""
    X = spec.mechanisms
    thinned = ((X.act_accept < 1.0).any() or (X.act_deter > 0.0).any() or (X.act_game > 1.0).any()
               or X.act_parent.any())
    return FEAT_ACTS if thinned else 0


MECHANISM = Mechanism(
    section="response",
    model=ResponseSpec,
    off={"deterrence": 0.0, "gaming": 0.0, "chilling": 0.0},
    uses=uses,
    tables=(
        TableField("act_accept", np.ndarray, "float64[A]: constant acceptance (chilling), 1 = none"),
        TableField("act_deter", np.ndarray, "float64[A]: deterrence exponent per unit of recording chance"),
        TableField("act_game", np.ndarray, "float64[A]: candidate boost of good deeds (1 = none)"),
        TableField("act_parent", np.ndarray, "bool[A]: needs an elderly parent in the household"),
        TableField("game_window", int, "distance to a band edge within which agents game"),
    ),
    compile=compile_response,
)
