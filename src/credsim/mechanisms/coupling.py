"""Coupling: joint punishment through links (household children, firms' responsible persons).

A firm's responsible persons are those the SPC Provisions on Restricting High Consumption name
for an organisation debtor (legal representative, principal responsible person, directly
responsible persons, actual controller): ``responsible_persons`` adults per firm, the legal
representative first. A sanction that ``reaches`` ``legal_representative`` reaches all of them.

Links are applied at epoch boundaries by the engine (``kernel.couple``), which builds them only
when a sanction reaches across one; whether the kernel needs its link code is the engine's
``links`` argument (``features.links``), so this mechanism selects no feature bit itself.
``restrict_mask`` (the sanctions of kind restriction) sits here because links count what they
pass on as restricting; the kernels read it for every agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from credsim.config import Strict
from credsim.mechanisms.base import Compiled, Mechanism, TableField

if TYPE_CHECKING:  # pragma: no cover
    from credsim.regime import Regime

REACHES = {"household_children": "reach_children", "legal_representative": "reach_rep",
           "represented_firms": "reach_firms"}  # a sanction's ``reaches`` -> its mask


class CouplingSpec(Strict):
    """Links applied at epoch boundaries: households (children, elderly parents) and firms'
    legal representatives."""

    households: bool
    legal_representatives: bool
    responsible_persons: int = Field(ge=1, le=4)


def compile_coupling(spec: CouplingSpec, regime: Regime, cat, rt) -> dict[str, Any]:
    masks = dict.fromkeys(REACHES.values(), 0)
    restrict = 0
    for k, sn in enumerate(regime.sanctions):
        for reach in sn.reaches:
            if reach in REACHES:
                masks[REACHES[reach]] |= 1 << k
        if sn.kind == "restriction":
            restrict |= 1 << k
    return {**{name: np.uint64(m) for name, m in masks.items()}, "restrict_mask": np.uint64(restrict),
            "households": spec.households, "legal_reps": spec.legal_representatives,
            "responsible_persons": spec.responsible_persons}


def uses(spec: Compiled) -> int:
    """None of its own: links reach the kernel as the engine's ``links`` argument."""
    return 0


def coupled(X) -> bool:
    """Links of either kind are on."""
    return X.households or X.legal_reps


MECHANISM = Mechanism(
    section="coupling",
    model=CouplingSpec,
    off={"households": False, "legal_representatives": False},
    uses=uses,
    tables=(
        TableField("reach_children", int, "sanction mask reaching the household's children"),
        TableField("reach_rep", int, "sanction mask of firms reaching their legal representative"),
        TableField("reach_firms", int, "sanction mask of persons reaching the firms they represent"),
        TableField("restrict_mask", int, "sanctions of kind restriction"),
        TableField("households", bool, "links to household children on"),
        TableField("legal_reps", bool, "links between firms and their responsible persons on"),
        TableField("responsible_persons", int, "responsible persons per firm (legal rep. first)"),
    ),
    compile=compile_coupling,
    derived={"coupled": coupled},
)
