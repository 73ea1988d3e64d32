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


def _thinning(spec: ResponseSpec, cat: Catalogue, rt: Any) -> tuple[np.ndarray, np.ndarray]:
    """(constant acceptance: chilling, deterrence exponent per unit of recording chance) of
    each act under the compiled regime ``rt``."""
    negative = (rt.act_points < 0) | (rt.act_lists != 0) | (rt.act_cap < BIG)
    lawful = np.array([a.lawful for a in cat.acts])
    accept = np.where(lawful & negative, 1.0 - spec.chilling, 1.0)
    span = max(1, rt.score_init - rt.band_min[-1]) if len(rt.band_min) > 1 else max(1, rt.score_init)
    sev = np.minimum(1.0, np.maximum(0, -rt.act_points) / span) + (rt.act_lists != 0)
    return accept, spec.deterrence * sev * (~lawful)


def net_to_base(spec: ResponseSpec, cat: Catalogue) -> np.ndarray:
    """Per act, the factor that turns its catalogue rate into the candidate (pre-response) rate:
    1 for a gross rate; for a rate recorded as a net flow (``rate_basis = "net"``) under regime
    ``observed_under``, 1 / the share of candidate acts that survive that regime's response:
    exp(deterrence x severity) / acceptance. Exact because a net act is always recorded
    (detection 1, checked by the catalogue), so deterrence thins it by one constant factor."""
    from credsim.compile import compile_regime  # compile imports the mechanisms
    from credsim.regime import load_regime

    base = np.ones(len(cat.acts))
    for a, act in enumerate(cat.acts):
        if act.rate_basis != "net":
            continue
        obs = load_regime(act.observed_under)
        known = set(cat.act_names)
        missing = sorted({r.act for r in obs.rules} - known)
        if missing:
            raise ValueError(f"acts[{a}].observed_under: regime {act.observed_under!r} scores acts "
                             f"this catalogue lacks ({', '.join(missing)})")
        rt = compile_regime(obs, cat.act_names)
        accept, deter = _thinning(spec, cat, rt)
        scored = act.subject in obs.covers and rt.act_rule[a] >= 0
        kept = accept[a] * (np.exp(-deter[a]) if scored else 1.0)
        base[a] = 1.0 / kept
    return base


def compile_response(spec: ResponseSpec, regime, cat: Catalogue, rt: Any) -> dict[str, Any]:
    """Chilling lowers lawful acts the regime penalises; deterrence lowers unlawful acts by the
    severity of their sanction (in units of the score's span; a listing counts 1); gaming raises
    the candidate rate of acts that earn points (thinned back away from band thresholds); rates
    recorded as net flows are raised to their candidate rate (``net_to_base``)."""
    accept, deter = _thinning(spec, cat, rt)
    game = np.where(rt.act_points > 0, 1.0 + spec.gaming, 1.0)
    return {
        "act_accept": accept.astype(np.float64),
        "act_deter": deter.astype(np.float64),
        "act_game": game.astype(np.float64),
        "act_base": net_to_base(spec, cat),
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
        TableField("act_base", np.ndarray, "float64[A]: catalogue rate -> candidate rate (net flows)"),
        TableField("act_parent", np.ndarray, "bool[A]: needs an elderly parent in the household"),
        TableField("game_window", int, "distance to a band edge within which agents game"),
    ),
    compile=compile_response,
)
