"""An experiment's run row and daily series straight from the run's sums (``Reduction``).

A run of a sweep keeps one row and, at most, its national daily series: building the tables
of a ``Results`` first (every cell a row, then grouped back to days) cost about a quarter of a
100,000-agent year's run. These functions compute the same figures with numpy on the arrays,
the observation models' ones included (list flows by cause, sanction entries, ticket purchases
blocked, persons and organisations apart, the ``date`` of a dated run);
``tests/test_sums.py`` checks that they equal ``metrics.run_row(res.summary)`` and
``metrics.daily_series(res)`` exactly on every shipped scenario (the float ticket expectations
are summed as pandas sums the daily table, so that they are equal bit for bit).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from credsim.calendar import dates
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


def rows(red: Reduction, level: np.ndarray, ms: Measures) -> np.ndarray:
    """The cells that are rows of the daily table (``collect.daily_frame``): anyone in them, any
    act or any flow. bool[provinces, days, groups, grades]."""
    return ((level[..., M_PERSONS] > 0) | (red.acts_grade.sum(axis=-1) > 0)
            | (level[..., ms.entered: ms.tickets] != 0).any(axis=-1))


def _group_sum(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Per day, the sum of ``values`` [provinces, days, groups, grades] over the cells ``keep``
    as ``Results.by_day`` sums the daily table's rows, bit for bit: pandas sums groups whose
    rows are sorted by day (one province) with ``np.add.reduceat``, others with its compensated
    (Kahan) group sum, in the table's row order."""
    P, D, G, K = values.shape
    if P == 1:
        per_day = keep[0].reshape(D, -1).sum(axis=1)
        total = np.zeros(D)
        if per_day.any():
            seg = np.add.reduceat(values[0][keep[0]], np.cumsum(per_day)[per_day > 0] - per_day[per_day > 0])
            total[per_day > 0] = seg
        return total
    v = values.transpose(1, 0, 2, 3).reshape(D, -1)
    m = keep.transpose(1, 0, 2, 3).reshape(D, -1)
    total = np.zeros(D)
    comp = np.zeros(D)
    for j in np.flatnonzero(m.any(axis=0)):
        on = m[:, j]
        y = v[:, j] - comp
        t = total + y
        c = (t - total) - y
        comp = np.where(on, np.where(np.isnan(c), 0.0, c), comp)
        total = np.where(on, t, total)
    return total


def _tickets(red: Reduction, level: np.ndarray, meta: dict[str, Any], ms: Measures,
             keep: np.ndarray) -> dict[str, np.ndarray]:
    """Per ticket kind the daily purchase attempts expected (float) and blocked (int), in the
    daily table's column order."""
    out: dict[str, np.ndarray] = {}
    for k, kind in enumerate(TICKET_KINDS):
        rate = meta["ticket_rates_per_year"][kind] / 365.0
        out[f"tickets_expected_{kind}"] = _group_sum(level[..., ms.tickets + k] * (rate / TICKET_FIX),
                                                     keep)
        out[f"tickets_blocked_{kind}"] = np.where(keep, red.tickets[..., k], 0).sum(axis=(0, 2, 3))
    return out


def _split(meta: dict[str, Any], ms: Measures) -> list[tuple[str, int]]:
    """The daily columns ``Results.by_day`` gives persons and organisations apart, with their
    measure, in its order: sanctions and lists in force, sanction entries, list flows."""
    cols = [(f"sanction_{s}", ms.sanction + k) for k, s in enumerate(meta["sanctions"])]
    cols += [(f"list_{x}", ms.listed + k) for k, x in enumerate(meta["lists"])]
    cols += [(f"entered_{s}", ms.entered + k) for k, s in enumerate(meta["sanctions"])]
    cols += [(f"list_{flow}_{x}", ms.list_flow + f * ms.L + k)
             for f, flow in enumerate(LIST_FLOWS) for k, x in enumerate(meta["lists"])]
    return cols


def observed_row(red: Reduction, level: np.ndarray, meta: dict[str, Any],
                 tickets: dict[str, np.ndarray] | None = None) -> dict[str, int | float]:
    """The run table's columns of the observation models (``metrics.observed_row`` of the
    summary's ``observed``), from the sums; ``tickets``: the daily ticket series if at hand."""
    ms = Measures.of(len(meta["sanctions"]), len(meta["lists"]))
    if tickets is None:
        tickets = _tickets(red, level, meta, ms, rows(red, level, ms))
    orgs = level[:, :, FIRM_GROUP].sum(axis=(0, 2))  # [day, measure]
    persons = national(level) - orgs
    row: dict[str, int | float] = {}

    def put(name: str, m: int, total: bool) -> None:
        p = int(persons[:, m].sum() if total else persons[-1, m])
        o = int(orgs[:, m].sum() if total else orgs[-1, m])
        row[name], row[f"{name}_persons"], row[f"{name}_orgs"] = p + o, p, o

    flow = {f: i for i, f in enumerate(LIST_FLOWS)}
    for k, x in enumerate(meta["lists"]):
        for f in ("added", "removed_performed", "removed_expired", "removed_appeal"):
            put(f"list_{f}_{x}", ms.list_flow + flow[f] * ms.L + k, True)
        row[f"list_{x}_persons"] = int(persons[-1, ms.listed + k])
        row[f"list_{x}_orgs"] = int(orgs[-1, ms.listed + k])
        put(f"list_ever_{x}", ms.list_flow + flow["ever"] * ms.L + k, False)
        put(f"list_under_pressure_{x}", ms.list_flow + flow["removed_performed"] * ms.L + k, True)
    for k, s in enumerate(meta["sanctions"]):
        put(f"entered_{s}", ms.entered + k, True)
    for kind in meta["ticket_kinds"]:
        row[f"tickets_blocked_{kind}"] = int(tickets[f"tickets_blocked_{kind}"].sum())
        row[f"tickets_expected_{kind}"] = float(tickets[f"tickets_expected_{kind}"].sum())
    harm = red.harm  # [province, group, bucket, column]
    present = harm[..., _H["agents"]] > 0  # the harm table's rows
    present[:, FIRM_GROUP] = False
    row["travel_restricted_persons"] = int(harm[..., _H["travel_restricted_in_run"]][present].sum())
    return row


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
    row.update(observed_row(red, level, meta))
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
    for k, name in enumerate(meta["sanctions"]):
        cols[f"entered_{name}"] = nat[:, ms.entered + k]
    for f, flow in enumerate(LIST_FLOWS):
        for k, name in enumerate(meta["lists"]):
            cols[f"list_{flow}_{name}"] = nat[:, ms.list_flow + f * ms.L + k]
    keep_cells = rows(red, level, ms)
    cols.update(_tickets(red, level, meta, ms, keep_cells))
    cols["restricted"] = nat[:, M_RESTRICTED]
    cols["falsely_restricted"] = nat[:, M_FALSE_RESTRICTED]
    split = _split(meta, ms)
    orgs = level[:, :, FIRM_GROUP].sum(axis=(0, 2))  # [day, measure]
    for name, m in split:
        cols[f"{name}_orgs"] = orgs[:, m]
    for name, m in split:
        cols[f"{name}_persons"] = nat[:, m] - orgs[:, m]
    persons = level[..., M_PERSONS].sum(axis=(0, 2))  # [day, grade]
    scored = persons[:, :-1].sum(axis=1)  # the last grade is the unscored
    cols["scored"] = scored
    cols["mean_score"] = cols["score_sum"] / np.where(scored > 0, scored, np.nan)
    # a grade is a column when some cell of it is a row of the daily table
    seen = keep_cells.any(axis=(0, 1, 2))
    for k, g in enumerate(meta["grades"]):
        if seen[k]:
            cols[f"grade_{g}"] = persons[:, k]
    dated = []
    if meta.get("start"):  # a run with a calendar: each day's date, after the day
        dated = ["date"]
        cols["date"] = dates(dt.date.fromisoformat(meta["start"]), cols["day"])
    order = ["day", *dated, *[c for c in cols if c not in ("day", "date")]]
    keep = ([c for c in order if c not in DAILY_DROP] if columns is None
            else ["day", *dated, *[c for c in columns if c not in dated]])
    for c in keep:
        if c not in cols:  # a series another arm's regime has (a list) is 0 in this one
            cols[c] = 0
    return pd.DataFrame({c: cols[c] for c in keep})
