"""What an experiment keeps of each run: one flat row of headline figures and harm metrics (the
run table's columns), and the national daily series.

The names are the run table's columns, the ones users write in ``outputs`` and in SQL
(``select point, avg(wrongful_restricted_days) from runs group by 1``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from credsim.view import RunView

# the harm metrics and headline figures, in plain words (reports, plots, docs/reference.md)
LABELS: dict[str, str] = {
    "restricted_final_day": "agents under a restriction on the last day",
    "restricted_person_days": "agent-days under a restriction",
    "falsely_restricted_final_day": "agents restricted because of a false record, last day",
    "wrongful_restricted_days": "agent-days restricted because of a false record",
    "share_wrongful": "share of restricted agent-days due to false records",
    "disparate_impact_ratio": "highest / lowest share ever restricted among innocent groups",
    "ever_sanctioned_through_link": "agents ever sanctioned only through a household or firm",
    "reached_lowest_grade": "agents who reached the lowest grade",
    "left_lowest_grade": "agents who left the lowest grade",
    "share_left_lowest": "share of those reaching the lowest grade who left it",
    "score_mean_end": "mean score, last day",
    "score_sd_end": "standard deviation of scores, last day",
    "score_gini": "Gini coefficient of scores, last day",
    "acts_true": "acts committed",
    "acts_recorded": "acts recorded",
    "acts_false": "false records",
    "chilling_ratio": "lawful scored acts relative to no chilling",
    "travel_restricted_persons": "persons under a ticket-blocking sanction on some counted day",
}

DEFAULT_OUTPUTS = ("wrongful_restricted_days", "restricted_person_days", "falsely_restricted_final_day",
                   "restricted_final_day", "share_wrongful", "disparate_impact_ratio",
                   "ever_sanctioned_through_link", "score_gini")


def _num(v: Any) -> float | int:
    """A JSON figure as a number for the table: None -> NaN (missing, e.g. a ratio of 0/0)."""
    if v is None:
        return math.nan
    return v


def run_row(summary: dict[str, Any]) -> dict[str, float | int]:
    """The run table's row for one run's ``summary`` (``Results.summary``)."""
    h = summary["harms"]
    fs = h["false_sanctions"]
    mob = h["mobility"]
    fd = summary["final_day"]
    acts = summary.get("acts", {})
    row: dict[str, float | int] = {
        "persons": summary["population"]["persons"],
        "firms": summary["population"]["firms"],
        "scale": summary["population"]["scale"],  # simulated / represented persons (nation-equivalents)
        "restricted_final_day": summary["restricted_final_day"],
        "restricted_person_days": fs["restricted_person_days"],
        "falsely_restricted_final_day": fs["falsely_restricted_final_day"],
        "wrongful_restricted_days": fs["wrongful_restricted_person_days"],
        "share_wrongful": _num(fs["share_of_restricted_days_wrongful"]),
        "disparate_impact_ratio": _num(h["disparate_impact_innocent"]["max_min_ratio"]),
        "ever_sanctioned_through_link": h["spillover"]["ever_sanctioned_through_link"],
        "reached_lowest_grade": mob["reached_lowest_grade"],
        "left_lowest_grade": mob["left_lowest_grade"],
        "share_left_lowest": _num(mob["share_reaching_lowest_that_left"]),
        "score_mean_end": _num(summary["score"]["mean_end"]),
        "score_sd_end": _num(summary["score"]["sd_end"]),
        "score_gini": _num(h["score_gini"]),
        "acts_true": sum(a["true"] for a in acts.values()),
        "acts_recorded": sum(a["recorded"] for a in acts.values()),
        "acts_false": sum(a["false"] for a in acts.values()),
    }
    if "chilling" in h:
        row["chilling_ratio"] = _num(h["chilling"]["scored_lawful_acts_ratio"])
    for g, n in fd["grades"].items():
        row[f"grade_{g}"] = n
    for s, n in fd["sanctions"].items():
        row[f"sanction_{s}"] = n
    for s, n in summary["person_days_under_sanction"].items():
        row[f"sanction_days_{s}"] = n
    for s, n in fs["by_sanction_days"].items():
        row[f"false_sanction_days_{s}"] = n
    for s, n in h["spillover"]["through_link_final_day"].items():
        row[f"link_sanction_{s}"] = n
    for x, n in fd["lists"].items():
        row[f"list_{x}"] = n
    row.update(observed_row(summary.get("observed")))
    return row


def observed_row(obs: dict[str, Any] | None) -> dict[str, int | float]:
    """The run table's columns of ``summary["observed"]`` (``summary.observed``): per list and
    flow (``list_added_<list>``, ``list_removed_performed_<list>``, ..., ``list_ever_<list>``,
    ``list_under_pressure_<list>``) the total, ``_persons`` and ``_orgs``; the final stock
    apart (``list_<list>_persons``); per sanction its entries (``entered_<s>``...); per ticket
    kind ``tickets_blocked_<kind>`` and ``tickets_expected_<kind>``;
    ``travel_restricted_persons``."""
    if not obs:
        return {}
    row: dict[str, int | float] = {}

    def put(name: str, v: dict[str, int]) -> None:
        row[name] = v["persons"] + v["organisations"]
        row[f"{name}_persons"] = v["persons"]
        row[f"{name}_orgs"] = v["organisations"]

    for x, flows in obs["lists"].items():
        for flow, v in flows.items():
            if flow == "stock_final_day":
                row[f"list_{x}_persons"] = v["persons"]
                row[f"list_{x}_orgs"] = v["organisations"]
            else:
                put(f"list_{'ever' if flow == 'ever_listed' else flow}_{x}", v)
    for s, v in obs["sanction_entries"].items():
        put(f"entered_{s}", v)
    for k, v in obs["tickets_blocked"].items():
        row[f"tickets_blocked_{k}"] = v["blocked"]
        row[f"tickets_expected_{k}"] = v["expected"]
    row["travel_restricted_persons"] = obs["travel_restricted_persons"]
    return row


DAILY_DROP = ("score_sum",)  # by_day columns an experiment does not keep (mean_score is kept)


def daily_series(res: RunView, columns: list[str] | None = None) -> pd.DataFrame:
    """The national daily series of one run (``Results.by_day``), all columns or ``columns``."""
    bd = res.by_day
    dated = ["date"] if "date" in bd.columns else []  # a run with a calendar
    keep = ([c for c in bd.columns if c not in DAILY_DROP] if columns is None
            else ["day", *dated, *[c for c in columns if c not in dated]])
    missing = [c for c in keep if c not in bd.columns]
    for c in missing:  # a series the regime does not have (a list another arm has) is 0
        bd[c] = 0
    return bd[keep].copy()


PREFIX_LABELS = (("grade_", "agents in grade {}, last day"), ("sanction_days_", "agent-days under {}"),
                 ("false_sanction_days_", "agent-days under {} from a false record"),
                 ("link_sanction_", "agents under {} through a link, last day"),
                 ("sanction_", "agents under {}, last day"), ("list_", "agents on list {}, last day"))


FIXED_DAILY = ("day", "persons", "acts_true", "acts_recorded", "acts_false", "restricted",
               "falsely_restricted", "scored", "mean_score")


def columns_for(regime) -> tuple[set[str], set[str]]:
    """The run-table and daily columns a run of ``regime`` has (checked before an experiment
    runs, so that a misspelt output or series is an error, not a silent column of zeros)."""
    grades = [f"grade_{b.label}" for b in regime.bands] + ["grade_unscored"]
    sanctions = [s.name for s in regime.sanctions]
    lists = [x.name for x in regime.lists]
    row = {*LABELS, "persons", "firms", "scale", *grades}
    for p in ("sanction_", "sanction_days_", "false_sanction_days_", "link_sanction_"):
        row |= {p + s for s in sanctions}
    row |= {f"list_{x}" for x in lists}
    daily = {*FIXED_DAILY, *grades}
    for p in ("sanction_", "false_sanction_", "link_sanction_"):
        daily |= {p + s for s in sanctions}
    daily |= {f"list_{x}" for x in lists} | {f"false_list_{x}" for x in lists}
    obs_row, obs_daily = observed_columns(sanctions, lists)
    return row | obs_row, daily | obs_daily


OBSERVED_FLOWS = ("added", "removed_performed", "removed_expired", "removed_appeal", "ever",
                  "under_pressure")
APART = ("", "_persons", "_orgs")


def observed_columns(sanctions: list[str], lists: list[str]) -> tuple[set[str], set[str]]:
    """The run-table and daily columns of the observation models (``observed_row``,
    ``Results.by_day``) for a regime's sanctions and lists."""
    from credsim.layout import LIST_FLOWS, TICKET_KINDS

    row = {"travel_restricted_persons"}
    daily: set[str] = set()
    for x in lists:
        row |= {f"list_{f}_{x}{a}" for f in OBSERVED_FLOWS for a in APART}
        row |= {f"list_{x}_persons", f"list_{x}_orgs"}
        daily |= {f"list_{f}_{x}{a}" for f in LIST_FLOWS for a in APART}
        daily |= {f"list_{x}_persons", f"list_{x}_orgs"}
    for sn in sanctions:
        row |= {f"entered_{sn}{a}" for a in APART}
        daily |= {f"entered_{sn}{a}" for a in APART} | {f"sanction_{sn}_persons", f"sanction_{sn}_orgs"}
    for k in TICKET_KINDS:
        row |= {f"tickets_blocked_{k}", f"tickets_expected_{k}"}
        daily |= {f"tickets_blocked_{k}", f"tickets_expected_{k}"}
    return row, daily


def label(metric: str) -> str:
    """A metric's plain-English label (its column name when it has none)."""
    if metric in LABELS:
        return LABELS[metric]
    for prefix, text in PREFIX_LABELS:
        if metric.startswith(prefix):
            return text.format(metric[len(prefix):].replace("_", " "))
    return metric.replace("_", " ")
