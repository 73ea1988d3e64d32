"""The headline figures of a run (``Results.summary``, ``summary.json``): final-day grades,
sanctions and lists, in the simulation and nation-equivalent, acts, score moments, harms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from credsim import harms

if TYPE_CHECKING:  # pragma: no cover
    from credsim.view import RunView


def summarise(res: RunView) -> dict[str, Any]:
    """Every headline figure of one run, as plain JSON values."""
    m = res.meta
    bd = res.by_day
    last = bd.iloc[-1]
    first = bd.iloc[0]
    nation = 1.0 / m["scale"] if m["scale"] > 0 else None
    grades = {g: int(last.get(f"grade_{g}", 0)) for g in m["grades"]}
    sanctions = {s: int(last[f"sanction_{s}"]) for s in m["sanctions"]}
    lists = {x: int(last[f"list_{x}"]) for x in m["lists"]}
    person_days = {s: int(bd[f"sanction_{s}"].sum()) for s in m["sanctions"]}
    acts = res.acts.groupby("act", observed=True)[["true", "recorded", "false"]].sum()

    def scaled(d: dict[str, int]) -> dict[str, int]:
        return {k: int(round(v * nation)) for k, v in d.items()} if nation else {}

    return {
        "credsim_version": m["credsim_version"],
        "scenario": m["scenario"],
        "regime": m["regime"],
        "seed": m["seed"],
        "days": m["days"],
        **({"start": m["start"], "end": m["end"], "burn_in_days": m.get("burn_in_days", 0)}
           if m.get("start") else {}),
        "population": {"persons": m["persons"], "firms": m["firms"], "scale": m["scale"],
                       "represented_per_simulated_agent": nation,
                       "note": "scale and *_nation_equivalent refer to the provinces simulated"},
        "final_day": {"grades": grades, "sanctions": sanctions, "lists": lists},
        "final_day_nation_equivalent": {"grades": scaled(grades), "sanctions": scaled(sanctions),
                                        "lists": scaled(lists)},
        "person_days_under_sanction": person_days,
        "acts": {str(a): {"true": int(r["true"]), "recorded": int(r["recorded"]),
                          "false": int(r["false"])} for a, r in acts.iterrows()},
        "restricted_final_day": int(last["restricted"]),
        "restricted_final_day_nation_equivalent": int(round(last["restricted"] * nation)) if nation else None,
        "score": {
            "mean_start": None if pd.isna(first["mean_score"]) else float(first["mean_score"]),
            **_score_end(res.score_hist, m["score_min"]),
        },
        "harms": harms.summarise(res),
        "observed": observed(res),
        "performance": m.get("performance", {}),
    }


def observed(res: RunView) -> dict[str, Any]:
    """The run in the units the published figures use, persons and organisations apart: per
    list its flows over the counted days (added, removed by cause, ``under_pressure``: removals
    by performance while listed), the stock on the last day and the agents ever listed since
    day 0 (burn-in included); per sanction its entries; per ticket kind the purchase attempts
    blocked (person-times) and their expectation; persons under a ticket-blocking sanction on
    some counted day (``travel_restricted_persons``)."""
    m = res.meta
    bd = res.by_day
    last = bd.iloc[-1]

    def apart(col: str, total: bool) -> dict[str, int]:
        pick = (lambda c: int(bd[c].sum())) if total else (lambda c: int(last[c]))
        return {"persons": pick(f"{col}_persons"), "organisations": pick(f"{col}_orgs")}

    lists = {}
    for x in m["lists"]:
        lists[x] = {
            "added": apart(f"list_added_{x}", True),
            "removed_performed": apart(f"list_removed_performed_{x}", True),
            "removed_expired": apart(f"list_removed_expired_{x}", True),
            "removed_appeal": apart(f"list_removed_appeal_{x}", True),
            "stock_final_day": apart(f"list_{x}", False),
            "ever_listed": apart(f"list_ever_{x}", False),
        }
        lists[x]["under_pressure"] = lists[x]["removed_performed"]
    tickets = {k: {"blocked": int(bd[f"tickets_blocked_{k}"].sum()),
                   "expected": float(bd[f"tickets_expected_{k}"].sum()),
                   "blocked_by": m["ticket_blocks"][k],
                   "rate_per_year": m["ticket_rates_per_year"][k]}
               for k in m["ticket_kinds"]}
    harm = res.harm
    persons = harm[harm.group != "firm"]
    return {
        "note": ("flows and ticket blocks over the run's counted days (after the burn-in); "
                 "ever_listed since the run's day 0, burn-in included"),
        "lists": lists,
        "sanction_entries": {s: apart(f"entered_{s}", True) for s in m["sanctions"]},
        "tickets_blocked": tickets,
        "ticket_dispersion": m["ticket_dispersion"],
        "travel_restricted_persons": int(persons["travel_restricted_in_run"].sum()),
    }


def _score_end(hist: np.ndarray, score_min: int) -> dict[str, Any]:
    """Mean, standard deviation and percentiles of the last day's scores, from their histogram."""
    scores = np.arange(score_min, score_min + len(hist))
    n = hist.sum()
    if n == 0:
        return {"mean_end": None, "sd_end": None, "percentiles_end": {}}
    mean = float((hist * scores).sum() / n)
    sd = float(np.sqrt(max(0.0, (hist * (scores - mean) ** 2).sum() / n)))
    cdf = np.cumsum(hist) / n
    pct = {str(q): int(scores[np.searchsorted(cdf, q / 100)]) for q in (1, 10, 50, 90, 99)}
    return {"mean_end": mean, "sd_end": sd, "percentiles_end": pct}
