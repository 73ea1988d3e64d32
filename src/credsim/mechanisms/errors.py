"""Errors: sensors make false records at their catalogue error rates (``fpir x probes_per_year``).

They add no field of their own: ``enabled`` adds false-match groups to the behaviour tables
(``compile.compile_behaviour(..., errors=...)``, ``BehaviourTables.grp_false``), and the kernel
keeps a shadow state of what true records alone would give.
"""

from __future__ import annotations

from credsim.config import Strict
from credsim.layout import FEAT_ACTS, FEAT_FALSE
from credsim.mechanisms.base import Compiled, Mechanism


class ErrorsSpec(Strict):
    """False records from the sensors' error rates (see the catalogue's sensors)."""

    enabled: bool


def uses(spec: Compiled) -> int:
    """False matches to draw, and the true shadow state of scores and lists they need."""
    return FEAT_ACTS | FEAT_FALSE if (spec.behaviour.grp_false >= 0).any() else 0


MECHANISM = Mechanism(section="errors", model=ErrorsSpec, off={"enabled": False}, uses=uses)
