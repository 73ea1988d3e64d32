"""A cheap end-of-run check of a run's outputs: counts are non-negative integers, the grades hold
the whole population every day, no summary figure is NaN or infinite. A failure is a bug in
credsim, never in the scenario: it is reported, not hidden."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

COUNT_COLUMNS = ("persons", "acts_true", "acts_recorded", "acts_false", "true", "recorded", "false")
NOT_COUNTS = {"score_sum", "score", "day", "agent", "lists", "sanctions"}  # may be negative


class SanityError(RuntimeError):
    """A run's outputs fail the end-of-run check: a bug in credsim."""


def problems(res: Any, agents: int) -> list[str]:
    """What is wrong with ``res`` (a ``Results``) for a run of ``agents`` agents; [] if nothing."""
    out: list[str] = []
    for name in ("daily", "acts", "harm", "panel"):
        df: pd.DataFrame = getattr(res, name)
        for col in df.columns:
            v = df[col]
            if isinstance(v.dtype, pd.CategoricalDtype):
                continue
            a = v.to_numpy()  # numpy on each column: a few microseconds, pandas' checks milliseconds
            kind = a.dtype.kind
            if kind == "f" and not np.isfinite(a).all():
                out.append(f"{name}.{col}: NaN or infinite values")
            if name == "panel" or col in NOT_COUNTS or kind not in "fiu":
                continue
            if col in COUNT_COLUMNS and kind == "f":
                out.append(f"{name}.{col}: counts are not integers ({v.dtype})")
            elif kind in "iu" and len(a) and a.min() < 0:
                out.append(f"{name}.{col}: negative counts (min {a.min()})")
    d = res.daily
    if len(d):
        per_day = d.groupby("day", observed=True)["persons"].sum()
        wrong = per_day[per_day != agents]
        if len(wrong) or len(per_day) != d["day"].nunique():
            out.append(f"daily.persons: the grades hold {int(wrong.iloc[0])} agents on day "
                       f"{wrong.index[0]}, not {agents}" if len(wrong) else "daily: days missing")
    out += [f"summary.{k}: {v!r}" for k, v in _numbers(res.summary) if not math.isfinite(v)]
    return out


def sums_problems(level: np.ndarray, red: Any, agents: int) -> list[str]:
    """The same check on a run's sums, before any table is built (experiments): ``level`` the
    daily levels (``Reduction.levels``) of ``red`` (a ``Reduction``)."""
    from credsim.layout import M_PERSONS, M_SCORE_SUM

    out: list[str] = []
    counts = np.delete(level, M_SCORE_SUM, axis=-1)
    for name, a in (("daily", counts), ("acts_day", red.acts_day), ("acts_grade", red.acts_grade),
                    ("harm", red.harm), ("score_hist", red.score_hist)):
        if a.size and a.min() < 0:
            out.append(f"{name}: negative counts (min {a.min()})")
    per_day = level[..., M_PERSONS].sum(axis=(0, 2, 3))
    wrong = np.nonzero(per_day != agents)[0]
    if len(wrong):
        out.append(f"daily.persons: the grades hold {int(per_day[wrong[0]])} agents on day "
                   f"{int(wrong[0])}, not {agents}")
    return out


def _numbers(x: Any, path: str = "") -> list[tuple[str, float]]:
    if isinstance(x, dict):
        return [n for k, v in x.items() for n in _numbers(v, f"{path}.{k}" if path else str(k))]
    if isinstance(x, list | tuple):
        return [n for k, v in enumerate(x) for n in _numbers(v, f"{path}[{k}]")]
    if isinstance(x, float | np.floating):
        return [(path, float(x))]
    return []
