"""Harm metrics: what a regime does to people, measured on the simulated ground truth.

All figures come from a run's results (a ``Results``, read as a ``view.RunView``): false
sanctions and wrongful restricted days, disparate impact among agents with the same true
behaviour, surveillance amplification, spillover through households and firms, mobility out of
the lowest grade, score inequality, and (with a baseline run) the chilling of lawful acts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from credsim.view import RunView


def gini(hist: np.ndarray, values: np.ndarray) -> float | None:
    """Gini coefficient of a distribution given as counts of each value (values >= 0)."""
    n = hist.sum()
    if n == 0:
        return None
    v = values.astype(np.float64)
    total = (hist * v).sum()
    if total <= 0:
        return None
    cum_n = np.cumsum(hist)
    # mean absolute difference over the sorted distribution, in closed form
    cum_v = np.cumsum(hist * v)
    lorenz = (cum_v - hist * v / 2) / total
    return float(1 - 2 * (hist * lorenz).sum() / n) if cum_n[-1] else None


def false_sanctions(res: RunView) -> dict[str, Any]:
    """Sanctions resting on at least one erroneous record: final day, agent-days, by group."""
    d, m = res.daily, res.meta
    last = d[d.day == d.day.max()]
    out = {
        "falsely_restricted_final_day": int(last.falsely_restricted.sum()),
        "wrongful_restricted_person_days": int(d.falsely_restricted.sum()),
        "restricted_person_days": int(d.restricted.sum()),
        "by_sanction_final_day": {s: int(last[f"false_sanction_{s}"].sum()) for s in m["sanctions"]},
        "by_sanction_days": {s: int(d[f"false_sanction_{s}"].sum()) for s in m["sanctions"]},
        "falsely_restricted_by_group_final_day": {
            str(g): int(v) for g, v in last.groupby("group", observed=True).falsely_restricted.sum().items()
        },
    }
    r = out["restricted_person_days"]
    out["share_of_restricted_days_wrongful"] = out["wrongful_restricted_person_days"] / r if r else None
    return out


def disparate_impact(res: RunView, by: str = "group") -> pd.DataFrame:
    """Share ever restricted among agents with the same true behaviour, by ``by``
    (group, region or province). Rows: true deducted acts 0 / 1 / 2+."""
    h = res.harm
    tab = h.groupby([by, "true_deducted_acts"], observed=True)[["agents", "ever_restricted",
                                                               "ever_falsely_restricted"]].sum()
    tab["share_ever_restricted"] = tab.ever_restricted / tab.agents
    tab["share_ever_falsely_restricted"] = tab.ever_falsely_restricted / tab.agents
    return tab.reset_index()


def _ratio(series: pd.Series) -> float | None:
    s = series[series > 0]
    return float(s.max() / s.min()) if len(s) > 1 else None


def amplification(res: RunView) -> dict[str, Any]:
    """Recorded acts per true act, by the grade the agent had when acting."""
    g = res.daily.groupby("grade", observed=True)[["acts_true", "acts_recorded", "acts_false"]].sum()
    out = {}
    for grade, r in g.iterrows():
        if r.acts_true > 0:
            out[str(grade)] = {
                "true": int(r.acts_true), "recorded": int(r.acts_recorded),
                "false": int(r.acts_false),
                "recorded_per_true": float(r.acts_recorded / r.acts_true),
                "true_recorded_per_true": float((r.acts_recorded - r.acts_false) / r.acts_true),
            }
    return out


def spillover(res: RunView) -> dict[str, Any]:
    """Persons sanctioned only through a household or firm link."""
    d, m = res.daily, res.meta
    last = d[d.day == d.day.max()]
    minors = last[last.grade == "unscored"]
    return {
        "through_link_final_day": {s: int(last[f"link_sanction_{s}"].sum()) for s in m["sanctions"]},
        "through_link_days": {s: int(d[f"link_sanction_{s}"].sum()) for s in m["sanctions"]},
        "unscored_persons_through_link_final_day": {
            s: int(minors[f"link_sanction_{s}"].sum()) for s in m["sanctions"]
        },
        "ever_sanctioned_through_link": int(res.harm.ever_sanctioned_through_link.sum()),
    }


def mobility(res: RunView) -> dict[str, Any]:
    h = res.harm
    reached = int(h.reached_lowest.sum())
    left = int(h.left_lowest.sum())
    return {"reached_lowest_grade": reached, "left_lowest_grade": left,
            "share_reaching_lowest_that_left": left / reached if reached else None}


def chilling_index(res: RunView, baseline: RunView) -> dict[str, Any]:
    """Lawful acts under the regime relative to the same run without chilling (same seed)."""
    lawful = set(res.meta.get("lawful_acts", []))
    a = res.acts[res.acts.act.isin(lawful)].groupby("act", observed=True)["true"].sum()
    b = baseline.acts[baseline.acts.act.isin(lawful)].groupby("act", observed=True)["true"].sum()
    per = {str(k): float(a.get(k, 0) / v) for k, v in b.items() if v > 0}
    scored = set(res.meta.get("chilled_acts", []))
    num = sum(a.get(k, 0) for k in scored)
    den = sum(b.get(k, 0) for k in scored)
    return {"scored_lawful_acts_ratio": (num / den) if den else None, "per_act": per}


def summarise(res: RunView) -> dict[str, Any]:
    """Every harm metric that one run can give."""
    hist = res.score_hist
    values = np.arange(res.meta["score_min"], res.meta["score_min"] + len(hist))
    di = disparate_impact(res)
    innocent = di[di.true_deducted_acts == "0"]
    return {
        "false_sanctions": false_sanctions(res),
        "disparate_impact_innocent": {
            "share_ever_restricted_by_group": {
                str(r.group): float(r.share_ever_restricted) for r in innocent.itertuples()
            },
            "max_min_ratio": _ratio(innocent.set_index("group").share_ever_restricted),
        },
        "surveillance_amplification": amplification(res),
        "spillover": spillover(res),
        "mobility": mobility(res),
        "score_gini": gini(hist, values - min(0, values.min())),
    }
