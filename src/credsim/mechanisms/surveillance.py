"""Surveillance feedback: the lowest grades and listed agents face more detection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from credsim import limits as L
from credsim.config import Strict
from credsim.layout import FEAT_ACTS
from credsim.mechanisms.base import Compiled, Mechanism, TableField

if TYPE_CHECKING:  # pragma: no cover
    from credsim.regime import Regime


class SurveillanceSpec(Strict):
    """Watched agents (lowest grades, listed) face ``multiplier`` times the detection intensity:
    a sensor that catches an act with probability p catches it with 1 - (1 - p)^multiplier, and
    makes ``multiplier`` times as many false matches."""

    enabled: bool
    multiplier: float = Field(ge=1, le=100)
    lowest_grades: int = Field(ge=0, le=L.BANDS)
    listed: bool


def compile_surveillance(spec: SurveillanceSpec, regime: Regime, cat, rt) -> dict[str, Any]:
    K = len(regime.bands)
    watched = np.zeros(K + 1, np.bool_)
    surv_lists = 0
    if spec.enabled and spec.multiplier > 1:
        # the lowest grades, never all of them (a one-band regime has no "low" grade)
        watched[max(1, K - spec.lowest_grades):K] = spec.lowest_grades > 0
        if spec.listed:
            surv_lists = (1 << len(regime.lists)) - 1
    return {"surv_mult": float(spec.multiplier) if spec.enabled else 1.0, "surv_grades": watched,
            "surv_lists": surv_lists}


def uses(spec: Compiled) -> int:
    """Watched agents' acts are detected with a probability of their own."""
    X = spec.mechanisms
    return FEAT_ACTS if X.surv_grades.any() or X.surv_lists != 0 else 0


MECHANISM = Mechanism(
    section="surveillance",
    model=SurveillanceSpec,
    off={"enabled": False},
    uses=uses,
    tables=(
        TableField("surv_mult", float, "detection intensity of watched agents (1 = off)"),
        TableField("surv_grades", np.ndarray, "bool[K+1]: the watched grades"),
        TableField("surv_lists", int, "list bit mask that puts an agent under watch"),
    ),
    compile=compile_surveillance,
)
