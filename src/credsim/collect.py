"""Collect a run's results: sum the communities' aggregates (``Reduction``), then turn the sums
and the run's metadata into the tables of a ``Results`` (``collect``).

The driver (``sim.py``) calls this module; ``Results`` never reaches back into the driver.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from credsim.calendar import dates
from credsim.layout import (
    A_FALSE,
    A_RECORDED,
    A_TRUE,
    BAD_BUCKETS,
    CAUSE_CODE,
    CAUSE_NAMES,
    CAUSE_RECOVERY,
    CAUSE_REVERSAL,
    GROUPS,
    HARM_COLS,
    KIND_ACT,
    KIND_FALSE,
    KIND_LINK,
    KIND_NAMES,
    KIND_TIMER,
    LIST_FLOWS,
    M_FALSE_RESTRICTED,
    M_PERSONS,
    M_RESTRICTED,
    M_SCORE_SUM,
    P_AGENT,
    P_CODE,
    P_DAY,
    P_GRADE,
    P_KIND,
    P_LISTS,
    P_RECORDED,
    P_SANCTIONS,
    P_SCORE,
    P_SENSOR,
    TICKET_FIX,
    TICKET_KINDS,
    UNSCORED,
    Measures,
)
from credsim.results import Results
from credsim.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from credsim.behaviour import Catalogue
    from credsim.engine import CommunityResult
    from credsim.population import PopulationPlan
    from credsim.regime import Regime
    from credsim.scenario import Scenario


@dataclass
class Reduction:
    """Community aggregates summed by province (integer sums: the order communities finish in
    never matters). ``level`` holds day-to-day differences until ``collect`` sums them up."""

    level: np.ndarray
    acts_day: np.ndarray
    acts_grade: np.ndarray
    score_hist: np.ndarray
    harm: np.ndarray
    tickets: np.ndarray
    panel: list[np.ndarray] = field(default_factory=list)
    events: int = 0
    done: int = 0

    @classmethod
    def empty(cls, provinces: int, days: int, grades: int, measures: int, acts: int,
              scores: int) -> Reduction:
        """Zero sums for ``grades`` grades (unscored included) and ``scores`` score values."""
        G = len(GROUPS)
        return cls(
            level=np.zeros((provinces, days + 1, G, grades, measures), np.int64),
            acts_day=np.zeros((provinces, days, G, acts, 3), np.int64),
            acts_grade=np.zeros((provinces, days, G, grades, 3), np.int64),
            score_hist=np.zeros(scores, np.int64),
            harm=np.zeros((provinces, G, len(BAD_BUCKETS), len(HARM_COLS)), np.int64),
            tickets=np.zeros((provinces, days, G, grades, len(TICKET_KINDS)), np.int64),
        )

    def add(self, r: CommunityResult) -> None:
        """Add one community's aggregates (into its province, or into the one national row of a
        reduction made with ``provinces=1``)."""
        p = r.province if len(self.level) > 1 else 0
        self.level[p] += r.diff
        self.acts_day[p] += r.acts_day
        self.acts_grade[p] += r.acts_grade
        self.score_hist += r.score_hist
        self.harm[p] += r.harm
        self.tickets[p] += r.tickets
        if len(r.panel):
            self.panel.append(r.panel)
        self.events += r.events
        self.done += 1

    def levels(self, days: int) -> np.ndarray:
        """The daily levels: ``level``'s day-to-day differences summed up, ``days`` days."""
        return np.cumsum(self.level, axis=1)[:, :days]


NATIONAL = "all provinces simulated"  # the one province of a run reduced nationally


def run_meta(scenario: Scenario, regime: Regime, catalogue: Catalogue, plan: PopulationPlan,
             act_accept: Sequence[float], perf: dict[str, Any], by_province: bool = True) -> dict[str, Any]:
    """What the tables need to be read (names of grades, sanctions, lists, acts, provinces...)
    and what the run was (scenario, seed, scale, performance): ``Results.meta``. Without
    ``by_province`` the tables have one province, ``NATIONAL``, and one region."""
    grades = regime.grade_labels + [UNSCORED]
    acts = catalogue.act_names
    return {
        "credsim_version": __version__,
        "scenario": scenario.name,
        "regime": regime.name,
        "regime_title": regime.title,
        "seed": scenario.seed,
        "days": scenario.days,
        "burn_in_days": scenario.burn_in_days,
        # the calendar: day 0 is ``start``, the last day ``end`` (None: the run has no dates)
        "start": None if scenario.start is None else scenario.start.isoformat(),
        "end": None if scenario.start is None else scenario.end_date.isoformat(),
        "grades": grades,
        "sanctions": [s.name for s in regime.sanctions],
        "sanction_kinds": {s.name: s.kind for s in regime.sanctions},
        "sanction_labels": {s.name: s.label for s in regime.sanctions},
        "lists": [x.name for x in regime.lists],
        "acts": acts,
        "act_labels": {a.name: a.label for a in catalogue.acts},
        "lawful_acts": [a.name for a in catalogue.acts if a.lawful],
        "chilled_acts": [a for a, f in zip(acts, act_accept, strict=True) if f < 1.0],
        "list_labels": {x.name: x.label for x in regime.lists},
        "sensors": [s.name for s in catalogue.sensors],
        "act_sensors": {a.name: list(a.sensors) for a in catalogue.acts},
        "band_min": {b.label: b.min for b in regime.bands},
        "ticket_kinds": TICKET_KINDS,
        "ticket_blocks": {k: [s.name for s in regime.sanctions if k in s.blocks_tickets]
                          for k in TICKET_KINDS},
        "ticket_rates_per_year": {k: getattr(scenario.tickets, k).rate_per_year
                                  for k in TICKET_KINDS},
        "ticket_dispersion": scenario.tickets.dispersion.shape,
        "groups": GROUPS,
        "provinces": plan.provinces if by_province else [NATIONAL],
        "regions": plan.regions if by_province else [NATIONAL],
        "persons": plan.persons,
        "firms": plan.firms,
        "scale": plan.scale,
        "score_min": regime.score.min,
        "score_max": regime.score.max,
        "performance": perf,
    }


def collect(red: Reduction, meta: dict[str, Any]) -> Results:
    """The ``Results`` of a run from its summed aggregates and its ``run_meta``."""
    level = red.levels(meta["days"])
    return Results(meta, daily_frame(level, red.acts_grade, meta, red.tickets),
                   acts_frame(red.acts_day, meta), panel_frame(red.panel, meta), red.score_hist,
                   harm_frame(red.harm, meta))


# -------------------------------------------------------------------- frames
def _where(p: np.ndarray, day: np.ndarray, g: np.ndarray, meta: dict[str, Any]) -> dict[str, Any]:
    """The key columns daily and acts rows share: day, province, its region, group."""
    return {
        "day": day.astype(np.int32),
        **_date(day, meta),
        "province": pd.Categorical.from_codes(p, meta["provinces"]),
        "region": pd.Categorical(np.array(meta["regions"])[p]),
        "group": pd.Categorical.from_codes(g, GROUPS),
    }


def _date(day: np.ndarray, meta: dict[str, Any]) -> dict[str, Any]:
    """A ``date`` column (start + day) for a run with a calendar, none otherwise."""
    if not meta.get("start"):
        return {}
    return {"date": dates(dt.date.fromisoformat(meta["start"]), day)}


def daily_frame(level: np.ndarray, acts_grade: np.ndarray, meta: dict[str, Any],
                tickets: np.ndarray | None = None) -> pd.DataFrame:
    """``Results.daily``: one row per (province, day, group, grade) with anyone in it, any act
    or any flow. Besides the stocks: per sanction its entries that day; per list its flows
    (``layout.LIST_FLOWS``: added, removed by cause, ever listed since day 0, burn-in included);
    per ticket kind the purchase attempts blocked (Poisson draws, person-times) and their
    expectation given the persons it was blocked for."""
    ms = Measures.of(len(meta["sanctions"]), len(meta["lists"]))
    flows = level[..., ms.entered: ms.tickets]
    idx = np.nonzero((level[..., M_PERSONS] > 0) | (acts_grade.sum(axis=-1) > 0)
                     | (flows != 0).any(axis=-1))
    p, day, g, k = idx
    cols: dict[str, Any] = {
        **_where(p, day, g, meta),
        "grade": pd.Categorical.from_codes(k, meta["grades"]),
        "persons": level[idx + (M_PERSONS,)],
        "score_sum": level[idx + (M_SCORE_SUM,)],
        "acts_true": acts_grade[p, day, g, k, A_TRUE],
        "acts_recorded": acts_grade[p, day, g, k, A_RECORDED],
        "acts_false": acts_grade[p, day, g, k, A_FALSE],
    }
    cols["restricted"] = level[idx + (M_RESTRICTED,)]
    cols["falsely_restricted"] = level[idx + (M_FALSE_RESTRICTED,)]
    for prefix, first, names in (("sanction", ms.sanction, meta["sanctions"]),
                                 ("false_sanction", ms.false_sanction, meta["sanctions"]),
                                 ("link_sanction", ms.link_sanction, meta["sanctions"]),
                                 ("list", ms.listed, meta["lists"]),
                                 ("false_list", ms.false_listed, meta["lists"])):
        for k, name in enumerate(names):
            cols[f"{prefix}_{name}"] = level[idx + (first + k,)]
    for k, name in enumerate(meta["sanctions"]):
        cols[f"entered_{name}"] = level[idx + (ms.entered + k,)]
    L = ms.L
    for f, flow in enumerate(LIST_FLOWS):
        for k, name in enumerate(meta["lists"]):
            cols[f"list_{flow}_{name}"] = level[idx + (ms.list_flow + f * L + k,)]
    rates = np.array([meta["ticket_rates_per_year"][k] for k in TICKET_KINDS]) / 365.0
    for k, kind in enumerate(TICKET_KINDS):
        cols[f"tickets_expected_{kind}"] = level[idx + (ms.tickets + k,)] * (rates[k] / TICKET_FIX)
        cols[f"tickets_blocked_{kind}"] = (tickets[idx + (k,)] if tickets is not None
                                           else np.zeros(len(idx[0]), np.int64))
    return pd.DataFrame(cols)


def harm_frame(harm: np.ndarray, meta: dict[str, Any]) -> pd.DataFrame:
    """``Results.harm``: harm counts by (province, group, true deducted acts), non-empty rows."""
    P, G, B, _ = harm.shape
    p, g, b = np.meshgrid(np.arange(P), np.arange(G), np.arange(B), indexing="ij")
    df = pd.DataFrame({
        "province": pd.Categorical.from_codes(p.ravel(), meta["provinces"]),
        "region": pd.Categorical(np.array(meta["regions"])[p.ravel()]),
        "group": pd.Categorical.from_codes(g.ravel(), GROUPS),
        "true_deducted_acts": pd.Categorical.from_codes(b.ravel(), BAD_BUCKETS),
    })
    for j, c in enumerate(HARM_COLS):
        df[c] = harm[..., j].ravel()
    return df[df.agents > 0].reset_index(drop=True)


def acts_frame(acts_day: np.ndarray, meta: dict[str, Any]) -> pd.DataFrame:
    """``Results.acts``: true, recorded and false acts by (province, day, group, act)."""
    nz = np.nonzero(acts_day[..., A_RECORDED] + acts_day[..., A_TRUE] > 0)
    p, day, g, a = nz
    return pd.DataFrame({
        **_where(p, day, g, meta),
        "act": pd.Categorical.from_codes(a, meta["acts"]),
        "true": acts_day[nz + (A_TRUE,)],
        "recorded": acts_day[nz + (A_RECORDED,)],
        "false": acts_day[nz + (A_FALSE,)],
    })


def _source(meta: dict[str, Any], kind: int, code: int, false: int) -> str:
    """Which data source made a record: the sensor of a false match, the act's sensors else."""
    if kind == KIND_FALSE and false > 0:
        return meta["sensors"][false - 1] + " (false match)"
    if kind == KIND_ACT:
        return " or ".join(meta["act_sensors"].get(meta["acts"][code], [])) or "-"
    return ""


def _detail(meta: dict[str, Any], kind: int, code: int) -> str:
    """What a panel event was, in words: the act, the timer, or the sanctions held through a link."""
    if kind in (KIND_ACT, KIND_FALSE):
        return meta["acts"][code]
    if kind == KIND_TIMER:
        cause, idx = divmod(int(code), CAUSE_CODE)
        if cause == CAUSE_RECOVERY:
            return f"recovery[{idx}]"
        if cause == CAUSE_REVERSAL:
            return "appeal upheld: erroneous records removed"
        return f"{CAUSE_NAMES.get(cause, '?')}:{meta['lists'][idx]}"
    if kind == KIND_LINK:
        held = [s for k, s in enumerate(meta["sanctions"]) if (int(code) >> k) & 1]
        return "through a household or firm link: " + (", ".join(held) or "lifted")
    return "start"


def panel_frame(chunks: list[np.ndarray], meta: dict[str, Any]) -> pd.DataFrame:
    """``Results.panel``: the panel agents' events, by anonymous agent id, then day."""
    cols = ["agent", "day", "event", "detail", "recorded", "false_record", "source", "score",
            "grade", "lists", "sanctions"]
    if not chunks:
        empty = {c: pd.Series(dtype="int64") for c in cols}
        if meta.get("start"):
            empty = {"agent": empty["agent"], "day": empty["day"],
                     "date": pd.Series(dtype="datetime64[s]"), **empty}
        return pd.DataFrame(empty)
    rows = np.concatenate(chunks)
    # by agent, then day; rows of one day keep their order (lexsort is stable): the same order
    # whichever thread or worker wrote them
    rows = rows[np.lexsort((rows[:, P_DAY], rows[:, P_AGENT]))]
    # anonymous panel ids: rank of the synthetic index, never the index itself
    _, pid = np.unique(rows[:, P_AGENT], return_inverse=True)
    kinds, codes, sensors = rows[:, P_KIND], rows[:, P_CODE], rows[:, P_SENSOR]
    grades = np.array(meta["grades"])
    return pd.DataFrame({
        "agent": pid.astype(np.int64),
        "day": rows[:, P_DAY],
        **_date(rows[:, P_DAY], meta),
        "event": [KIND_NAMES[int(k)] for k in kinds],
        "detail": [_detail(meta, k, code) for k, code in zip(kinds, codes, strict=True)],
        "recorded": rows[:, P_RECORDED].astype(bool),
        "false_record": sensors > 0,
        "source": [_source(meta, int(k), int(code), int(f))
                   for k, code, f in zip(kinds, codes, sensors, strict=True)],
        "score": rows[:, P_SCORE],
        "grade": grades[rows[:, P_GRADE]],
        "lists": rows[:, P_LISTS],
        "sanctions": rows[:, P_SANCTIONS],
    })
