"""An experiment's run row and daily series straight from the run's sums (``Reduction``).

A run of a sweep keeps one row and, at most, its national daily series: building the tables
of a ``Results`` first (every cell a row, then grouped back to days) cost about a quarter of a
100,000-agent year's run. These functions compute the same figures with numpy on the arrays;
``tests/test_sums.py`` checks that they equal ``metrics.run_row(res.summary)`` and
``metrics.daily_series(res)`` exactly on every shipped scenario.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from credsim.collect import Reduction
from credsim.experiment.metrics import DAILY_DROP
from credsim.harms import gini
from credsim.layout import (
    A_FALSE,
    A_RECORDED,
    A_TRUE,
    BAD_BUCKETS,
    HARM_COLS,
    M_FALSE_RESTRICTED,
    M_PERSONS,
    M_RESTRICTED,
    M_SCORE_SUM,
    Measures,
)
from credsim.summary import _score_end

_H = {c: j for j, c in enumerate(HARM_COLS)}
_INNOCENT = BAD_BUCKETS.index("0")


def _nan(v: float | None) -> float:
    return np.nan if v is None else v


def _ratio(num: int, den: int) -> float:
    """``num / den`` as the summary has it (a ratio of 0/0 is missing: NaN in the table)."""
    return num / den if den else np.nan


def national(level: np.ndarray) -> np.ndarray:
    """Levels summed over provinces, groups and grades: int64[days, measures]."""
    return level.sum(axis=(0, 2, 3))


def run_row(red: Reduction, level: np.ndarray, meta: dict[str, Any],
            chilling_ratio: float | None = None, chilling: bool = False) -> dict[str, float | int]:
    """The run table's row (``metrics.run_row`` of the run's summary), from its sums.
    ``chilling``: the run had a no-chilling baseline, giving ``chilling_ratio``."""
    ms = Measures.of(len(meta["sanctions"]), len(meta["lists"]))
    nat = national(level)  # [day, measure]
    last = nat[-1]
    harm = red.harm.sum(axis=0)  # [group, bucket, column]
    innocent = harm[:, _INNOCENT]
    present = innocent[:, _H["agents"]] > 0  # the harm table's non-empty rows
    shares = innocent[present, _H["ever_restricted"]] / innocent[present, _H["agents"]]
    shares = shares[shares > 0]
    reached = int(harm[..., _H["reached_lowest"]].sum())
    left = int(harm[..., _H["left_lowest"]].sum())
    restricted_days = int(nat[:, M_RESTRICTED].sum())
    wrongful_days = int(nat[:, M_FALSE_RESTRICTED].sum())
    score = _score_end(red.score_hist, meta["score_min"])
    values = np.arange(meta["score_min"], meta["score_min"] + len(red.score_hist))
    acts = red.acts_day
    row: dict[str, float | int] = {
        "persons": meta["persons"],
        "firms": meta["firms"],
        "scale": meta["scale"],
        "restricted_final_day": int(last[M_RESTRICTED]),
        "restricted_person_days": restricted_days,
        "falsely_restricted_final_day": int(last[M_FALSE_RESTRICTED]),
        "wrongful_restricted_days": wrongful_days,
        "share_wrongful": _ratio(wrongful_days, restricted_days),
        "disparate_impact_ratio": float(shares.max() / shares.min()) if len(shares) > 1 else np.nan,
        "ever_sanctioned_through_link": int(harm[..., _H["ever_sanctioned_through_link"]].sum()),
        "reached_lowest_grade": reached,
        "left_lowest_grade": left,
        "share_left_lowest": _ratio(left, reached),
        "score_mean_end": _nan(score["mean_end"]),
        "score_sd_end": _nan(score["sd_end"]),
        "score_gini": _nan(gini(red.score_hist, values - min(0, values.min()))),
        "acts_true": int(acts[..., A_TRUE].sum()),
        "acts_recorded": int(acts[..., A_RECORDED].sum()),
        "acts_false": int(acts[..., A_FALSE].sum()),
    }
    if chilling:
        row["chilling_ratio"] = _nan(chilling_ratio)
    by_grade = level[:, -1, :, :, M_PERSONS].sum(axis=(0, 1))
    for k, g in enumerate(meta["grades"]):
        row[f"grade_{g}"] = int(by_grade[k])
    sanctions = meta["sanctions"]
    for k, s in enumerate(sanctions):
        row[f"sanction_{s}"] = int(last[ms.sanction + k])
    for k, s in enumerate(sanctions):
        row[f"sanction_days_{s}"] = int(nat[:, ms.sanction + k].sum())
    for k, s in enumerate(sanctions):
        row[f"false_sanction_days_{s}"] = int(nat[:, ms.false_sanction + k].sum())
    for k, s in enumerate(sanctions):
        row[f"link_sanction_{s}"] = int(last[ms.link_sanction + k])
    for k, x in enumerate(meta["lists"]):
        row[f"list_{x}"] = int(last[ms.listed + k])
    return row


def lawful_chilled_acts(red: Reduction, meta: dict[str, Any]) -> int:
    """True acts of the lawful acts chilling acts on (the chilling ratio's numerator, or its
    denominator in the no-chilling baseline: ``harms.chilling_index``)."""
    keep = [k for k, a in enumerate(meta["acts"])
            if a in set(meta["lawful_acts"]) and a in set(meta["chilled_acts"])]
    return int(red.acts_day[..., keep, A_TRUE].sum())


def daily_series(red: Reduction, level: np.ndarray, meta: dict[str, Any],
                 columns: list[str] | None = None) -> pd.DataFrame:
    """The national daily series (``metrics.daily_series`` of the run's ``Results``), from its
    sums: all columns, or ``columns`` (a series the regime does not have is 0)."""
    ms = Measures.of(len(meta["sanctions"]), len(meta["lists"]))
    nat = national(level)
    ag = red.acts_grade.sum(axis=(0, 2))  # [day, grade, counter]
    days = nat.shape[0]
    cols: dict[str, Any] = {"day": np.arange(days, dtype=np.int32), "persons": nat[:, M_PERSONS],
                            "score_sum": nat[:, M_SCORE_SUM]}
    acts = ag.sum(axis=1)
    cols["acts_true"], cols["acts_recorded"] = acts[:, A_TRUE], acts[:, A_RECORDED]
    cols["acts_false"] = acts[:, A_FALSE]
    for prefix, first, names in (("sanction", ms.sanction, meta["sanctions"]),
                                 ("false_sanction", ms.false_sanction, meta["sanctions"]),
                                 ("link_sanction", ms.link_sanction, meta["sanctions"]),
                                 ("list", ms.listed, meta["lists"]),
                                 ("false_list", ms.false_listed, meta["lists"])):
        for k, name in enumerate(names):
            cols[f"{prefix}_{name}"] = nat[:, first + k]
    cols["restricted"] = nat[:, M_RESTRICTED]
    cols["falsely_restricted"] = nat[:, M_FALSE_RESTRICTED]
    persons = level[..., M_PERSONS].sum(axis=(0, 2))  # [day, grade]
    scored = persons[:, :-1].sum(axis=1)  # the last grade is the unscored
    cols["scored"] = scored
    cols["mean_score"] = cols["score_sum"] / np.where(scored > 0, scored, np.nan)
    # a grade is a column when some cell of it has anyone in it or any act (as the daily table)
    seen = ((level[..., M_PERSONS] > 0) | (red.acts_grade.sum(axis=-1) > 0)).any(axis=(0, 1, 2))
    for k, g in enumerate(meta["grades"]):
        if seen[k]:
            cols[f"grade_{g}"] = persons[:, k]
    keep = ([c for c in cols if c not in DAILY_DROP] if columns is None else ["day", *columns])
    for c in keep:
        if c not in cols:  # a series another arm's regime has (a list) is 0 in this one
            cols[c] = 0
    return pd.DataFrame({c: cols[c] for c in keep})
