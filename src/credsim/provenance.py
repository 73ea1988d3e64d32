"""Every figure credsim ships says where it comes from: a ``source`` or a labelled ``assumption``."""

from __future__ import annotations

from pydantic import model_validator

from credsim.config import Strict


class Sourced(Strict):
    """A value with its provenance. Exactly one of ``source`` and ``assumption`` is given."""

    source: str | None = None
    assumption: str | None = None

    @model_validator(mode="after")
    def _one_provenance(self):
        if (self.source is None) == (self.assumption is None):
            raise ValueError(
                "give exactly one of 'source' (where the figure comes from) or "
                "'assumption' (why it was chosen, when no source gives it)"
            )
        return self

    @property
    def is_assumption(self) -> bool:
        return self.assumption is not None

    @property
    def provenance(self) -> str:
        return self.source if self.source is not None else f"assumption: {self.assumption}"


class Calibrated(Strict):
    """A value fitted by ``credsim calibrate``: where it was fitted (the calibration file) and on
    which targets. A scenario's ``[calibrated."key.path"]`` tables hold these; loading the
    scenario applies each ``value`` at its key path (``Scenario.with_overrides``)."""

    value: float | int | bool | str
    spec: str  # the calibration file that fitted it
    targets: list[str] = []  # the calibration targets that gave it (empty: fixed by the spec's set)
    note: str = ""
