"""``RunView``: what the readers of a run (harm metrics, headline figures, plots, report) read.

``Results`` is one. The readers annotate with this protocol rather than with ``Results``, so
that ``Results`` can call them (``plot``, ``save``, ``summary``) without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd


class RunView(Protocol):
    """The tables and figures of one run, read only."""

    @property
    def meta(self) -> dict[str, Any]: ...

    @property
    def daily(self) -> pd.DataFrame: ...

    @property
    def acts(self) -> pd.DataFrame: ...

    @property
    def panel(self) -> pd.DataFrame: ...

    @property
    def harm(self) -> pd.DataFrame: ...

    @property
    def score_hist(self) -> np.ndarray: ...

    @property
    def by_day(self) -> pd.DataFrame: ...

    @property
    def summary(self) -> dict[str, Any]: ...
