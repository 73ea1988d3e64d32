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
    FIRM_GROUP,
    HARM_COLS,
    LIST_FLOWS,
    M_FALSE_RESTRICTED,
    M_PERSONS,
    M_RESTRICTED,
    M_SCORE_SUM,
    TICKET_FIX,
    TICKET_KINDS,
    Measures,
)
from credsim.summary import _score_end

_APART_FLOWS = ("added", "removed_performed", "removed_expired", "removed_appeal")

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
    row.update(_observed_row(red, level, meta, ms, harm))
    return row


def _observed_row(red: Reduction, level: np.ndarray, meta: dict[str, Any], ms: Measures,
                  harm: np.ndarray) -> dict[str, int | float]:
    """``metrics.observed_row`` of ``summary.observed``, from the sums: list flows by cause
    (totals over the days; ``ever`` on the last day), stocks and sanction entries, persons and
    organisations apart; tickets blocked and expected; persons travel-restricted in the run."""
    by_group = level.sum(axis=(0, 3))  # [day, group, measure]
    firm = by_group[:, FIRM_GROUP]
    everyone = by_group.sum(axis=1)
    row: dict[str, int | float] = {}

    def put(name: str, col: int, total: bool) -> None:
        pick = (lambda a: int(a[:, col].sum())) if total else (lambda a: int(a[-1, col]))
        orgs = pick(firm)
        persons = pick(everyone) - orgs
        row[name], row[f"{name}_persons"], row[f"{name}_orgs"] = persons + orgs, persons, orgs

    L = ms.L
    flow_of = {f: LIST_FLOWS.index(f) for f in LIST_FLOWS}
    for k, x in enumerate(meta["lists"]):
        for f in _APART_FLOWS:
            put(f"list_{f}_{x}", ms.list_flow + flow_of[f] * L + k, True)
        orgs = int(firm[-1, ms.listed + k])
        row[f"list_{x}_persons"] = int(everyone[-1, ms.listed + k]) - orgs
        row[f"list_{x}_orgs"] = orgs
        put(f"list_ever_{x}", ms.list_flow + flow_of["ever"] * L + k, False)
        for a in ("", "_persons", "_orgs"):  # under pressure: removals by performance while listed
            row[f"list_under_pressure_{x}{a}"] = row[f"list_removed_performed_{x}{a}"]
    for k, sn in enumerate(meta["sanctions"]):
        put(f"entered_{sn}", ms.entered + k, True)
    expected = _tickets_expected(level, meta, ms)
    for k, kind in enumerate(TICKET_KINDS):
        row[f"tickets_blocked_{kind}"] = int(red.tickets[..., k].sum())
        row[f"tickets_expected_{kind}"] = float(expected[:, k].sum())
    persons = np.delete(harm, FIRM_GROUP, axis=0)
    row["travel_restricted_persons"] = int(persons[..., _H["travel_restricted_in_run"]].sum())
    return row


def _tickets_expected(level: np.ndarray, meta: dict[str, Any], ms: Measures) -> np.ndarray:
    """Expected ticket attempts blocked per day and kind (float64[day, kind])."""
    rates = np.array([meta["ticket_rates_per_year"][k] for k in TICKET_KINDS]) / 365.0
    nat = level[..., ms.tickets: ms.tickets + len(TICKET_KINDS)].sum(axis=(0, 2, 3))
    return nat * (rates / TICKET_FIX)


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
    split = [*(f"sanction_{x}" for x in meta["sanctions"]), *(f"list_{x}" for x in meta["lists"])]
    for k, name in enumerate(meta["sanctions"]):
        cols[f"entered_{name}"] = nat[:, ms.entered + k]
    split += [f"entered_{x}" for x in meta["sanctions"]]
    firm_cols: dict[str, np.ndarray] = {}
    firm = level[:, :, FIRM_GROUP].sum(axis=(0, 2))  # [day, measure]
    for k, name in enumerate(meta["sanctions"]):
        firm_cols[f"sanction_{name}"] = firm[:, ms.sanction + k]
        firm_cols[f"entered_{name}"] = firm[:, ms.entered + k]
    for k, name in enumerate(meta["lists"]):
        firm_cols[f"list_{name}"] = firm[:, ms.listed + k]
    for f, flow in enumerate(LIST_FLOWS):
        for k, name in enumerate(meta["lists"]):
            col = ms.list_flow + f * ms.L + k
            cols[f"list_{flow}_{name}"] = nat[:, col]
            firm_cols[f"list_{flow}_{name}"] = firm[:, col]
            split.append(f"list_{flow}_{name}")
    expected = _tickets_expected(level, meta, ms)
    blocked = red.tickets.sum(axis=(0, 2, 3))  # [day, kind]
    for k, kind in enumerate(TICKET_KINDS):
        cols[f"tickets_expected_{kind}"] = expected[:, k]
        cols[f"tickets_blocked_{kind}"] = blocked[:, k]
    cols["restricted"] = nat[:, M_RESTRICTED]
    cols["falsely_restricted"] = nat[:, M_FALSE_RESTRICTED]
    for c in split:
        cols[f"{c}_orgs"] = firm_cols[c]
    for c in split:
        cols[f"{c}_persons"] = cols[c] - firm_cols[c]
    persons = level[..., M_PERSONS].sum(axis=(0, 2))  # [day, grade]
    scored = persons[:, :-1].sum(axis=1)  # the last grade is the unscored
    cols["scored"] = scored
    cols["mean_score"] = cols["score_sum"] / np.where(scored > 0, scored, np.nan)
    # a grade is a column when some cell of it has anyone in it or any act (as the daily table)
    seen = ((level[..., M_PERSONS] > 0) | (red.acts_grade.sum(axis=-1) > 0)).any(axis=(0, 1, 2))
    for k, g in enumerate(meta["grades"]):
        if seen[k]:
            cols[f"grade_{g}"] = persons[:, k]
    if meta.get("start"):  # a run with a calendar: each day's date
        import datetime as dt

        from credsim.calendar import dates

        day = cols.pop("day")
        cols = {"day": day, "date": dates(dt.date.fromisoformat(meta["start"]), day), **cols}
    dated = ["date"] if "date" in cols else []
    keep = ([c for c in cols if c not in DAILY_DROP] if columns is None
            else ["day", *dated, *[c for c in columns if c not in dated]])
    for c in keep:
        if c not in cols:  # a series another arm's regime has (a list) is 0 in this one
            cols[c] = 0
    return pd.DataFrame({c: cols[c] for c in keep})
