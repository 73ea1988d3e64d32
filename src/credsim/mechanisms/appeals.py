"""Appeals: an erroneous record is challenged and removed with a probability, some days later."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from credsim import limits as L
from credsim.config import Strict
from credsim.layout import FEAT_TIMERS
from credsim.mechanisms.base import Compiled, Mechanism, TableField


class AppealsSpec(Strict):
    """Erroneous records are challenged and removed with ``probability``, ``delay_days`` later."""

    enabled: bool
    probability: float = Field(ge=0, le=1)
    delay_days: int = Field(ge=0, le=L.DAYS)


def compile_appeals(spec: AppealsSpec, regime, cat, rt) -> dict[str, Any]:
    return {"appeal_p": spec.probability if spec.enabled else 0.0, "appeal_delay": spec.delay_days}


def uses(spec: Compiled) -> int:
    """A successful appeal is a timer: the record is reversed on a due day."""
    return FEAT_TIMERS if spec.mechanisms.appeal_p > 0.0 else 0


MECHANISM = Mechanism(
    section="appeals",
    model=AppealsSpec,
    off={"enabled": False},
    uses=uses,
    tables=(
        TableField("appeal_p", float, "chance that a false record is appealed and removed (0 = off)"),
        TableField("appeal_delay", int, "days from a false record to its removal"),
    ),
    compile=compile_appeals,
)
