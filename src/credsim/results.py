"""Results of a run: daily aggregates, acts, an anonymous panel, headline figures, plots.

In memory they are pandas DataFrames; on disk a run directory of Parquet files, a summary,
PNG plots and an HTML report. ``Results.load(dir)`` reads a run directory back.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from credsim import __version__, harms
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
    UNSCORED,
    Measures,
)

if TYPE_CHECKING:  # pragma: no cover
    from credsim.engine import EngineSpec
    from credsim.sim import Sim, _Reduction


def _col(prefix: str, name: str) -> str:
    return f"{prefix}_{name}"


class Results:
    """What a run produced. ``daily``, ``acts``, ``panel`` (DataFrames), ``summary`` (dict)."""

    def __init__(self, meta: dict[str, Any], daily: pd.DataFrame, acts: pd.DataFrame,
                 panel: pd.DataFrame, score_hist: np.ndarray, harm: pd.DataFrame,
                 summary: dict[str, Any] | None = None):
        self.meta = meta
        self.daily = daily
        self.acts = acts
        self.panel = panel
        self.score_hist = score_hist
        self.harm = harm
        self._summary = summary

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_reduction(cls, sim: Sim, red: _Reduction, perf: dict[str, Any],
                       spec: EngineSpec) -> Results:
        reg = sim.regime
        grades = reg.grade_labels + [UNSCORED]
        sanctions = [s.name for s in reg.sanctions]
        lists = [x.name for x in reg.lists]
        acts = sim.catalogue.act_names
        plan = sim.plan
        meta = {
            "credsim_version": __version__,
            "scenario": sim.scenario.name,
            "regime": reg.name,
            "regime_title": reg.title,
            "seed": sim.scenario.seed,
            "days": sim.scenario.days,
            "grades": grades,
            "sanctions": sanctions,
            "sanction_kinds": {s.name: s.kind for s in reg.sanctions},
            "sanction_labels": {s.name: s.label for s in reg.sanctions},
            "lists": lists,
            "acts": acts,
            "act_labels": {a.name: a.label for a in sim.catalogue.acts},
            "lawful_acts": [a.name for a in sim.catalogue.acts if a.lawful],
            "chilled_acts": [a for a, f in zip(acts, spec.mechanisms.act_accept, strict=True)
                             if f < 1.0],
            "list_labels": {x.name: x.label for x in reg.lists},
            "sensors": [s.name for s in sim.catalogue.sensors],
            "act_sensors": {a.name: list(a.sensors) for a in sim.catalogue.acts},
            "band_min": {b.label: b.min for b in reg.bands},
            "groups": GROUPS,
            "provinces": plan.provinces,
            "regions": plan.regions,
            "persons": plan.persons,
            "firms": plan.firms,
            "scale": plan.scale,
            "score_min": reg.score.min,
            "score_max": reg.score.max,
            "performance": perf,
        }
        daily = _daily_frame(red.level, red.acts_grade, meta)
        actsdf = _acts_frame(red.acts_day, meta)
        panel = _panel_frame(red.panel, meta)
        return cls(meta, daily, actsdf, panel, red.score_hist, _harm_frame(red.harm, meta))

    # ---------------------------------------------------------------- headline figures
    @property
    def summary(self) -> dict[str, Any]:
        if self._summary is None:
            self._summary = _summarise(self)
        return self._summary

    @cached_property
    def by_day(self) -> pd.DataFrame:
        """National daily totals: persons per grade, under each sanction, on each list."""
        d = self.daily
        value_cols = [c for c in d.columns if c.startswith(("sanction_", "list_", "false_", "link_"))]
        value_cols += ["restricted", "falsely_restricted"]
        wide = d.pivot_table(index="day", columns="grade", values="persons", aggfunc="sum",
                             fill_value=0)
        wide.columns = [f"grade_{g}" for g in wide.columns]
        tot = d.groupby("day")[["persons", "score_sum", "acts_true", "acts_recorded", "acts_false",
                                *value_cols]].sum()
        scored = d[d.grade != UNSCORED].groupby("day")["persons"].sum()
        tot["scored"] = scored.reindex(tot.index, fill_value=0)
        tot["mean_score"] = tot["score_sum"] / tot["scored"].where(tot["scored"] > 0)
        return tot.join(wide).reset_index()

    def plot(self, kind: str = "grades", ax=None):
        """A matplotlib figure: ``grades``, ``sanctions``, ``lists``, ``acts``, ``scores``,
        ``regions``, ``groups``."""
        from credsim import plots

        return plots.plot(self, kind, ax=ax)

    # ---------------------------------------------------------------- files
    def save(self, out: str | Path, report: bool = True) -> Path:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.daily.to_parquet(out / "daily.parquet", index=False)
        self.acts.to_parquet(out / "acts.parquet", index=False)
        self.panel.to_parquet(out / "panel.parquet", index=False)
        self.harm.to_parquet(out / "harm.parquet", index=False)
        np.save(out / "score_hist.npy", self.score_hist)
        (out / "meta.json").write_text(json.dumps(self.meta, indent=2))
        (out / "summary.json").write_text(json.dumps(self.summary, indent=2))
        if report:
            from credsim import report as report_mod

            report_mod.write_report(self, out)
        return out

    @classmethod
    def load(cls, run_dir: str | Path) -> Results:
        d = Path(run_dir)
        missing = [f for f in ("meta.json", "daily.parquet") if not (d / f).exists()]
        if missing:
            raise FileNotFoundError(f"{d}: not a credsim run directory (missing {missing})")
        meta = json.loads((d / "meta.json").read_text())
        summary = json.loads((d / "summary.json").read_text()) if (d / "summary.json").exists() else None
        return cls(meta, pd.read_parquet(d / "daily.parquet"), pd.read_parquet(d / "acts.parquet"),
                   pd.read_parquet(d / "panel.parquet"), np.load(d / "score_hist.npy"),
                   pd.read_parquet(d / "harm.parquet"), summary)


# -------------------------------------------------------------------- frames
def _daily_frame(level: np.ndarray, acts_grade: np.ndarray, meta: dict) -> pd.DataFrame:
    P, D, G, K1, M = level.shape
    idx = np.nonzero((level[..., M_PERSONS] > 0) | (acts_grade.sum(axis=-1) > 0))
    p, day, g, k = idx
    cols: dict[str, Any] = {
        "day": day.astype(np.int32),
        "province": pd.Categorical.from_codes(p, meta["provinces"]),
        "region": pd.Categorical(np.array(meta["regions"])[p]),
        "group": pd.Categorical.from_codes(g, GROUPS),
        "grade": pd.Categorical.from_codes(k, meta["grades"]),
        "persons": level[idx + (M_PERSONS,)],
        "score_sum": level[idx + (M_SCORE_SUM,)],
        "acts_true": acts_grade[p, day, g, k, A_TRUE],
        "acts_recorded": acts_grade[p, day, g, k, A_RECORDED],
        "acts_false": acts_grade[p, day, g, k, A_FALSE],
    }
    ms = Measures.of(len(meta["sanctions"]), len(meta["lists"]))
    cols["restricted"] = level[idx + (M_RESTRICTED,)]
    cols["falsely_restricted"] = level[idx + (M_FALSE_RESTRICTED,)]
    for prefix, first, names in (("sanction", ms.sanction, meta["sanctions"]),
                                 ("false_sanction", ms.false_sanction, meta["sanctions"]),
                                 ("link_sanction", ms.link_sanction, meta["sanctions"]),
                                 ("list", ms.listed, meta["lists"]),
                                 ("false_list", ms.false_listed, meta["lists"])):
        for k, name in enumerate(names):
            cols[_col(prefix, name)] = level[idx + (first + k,)]
    return pd.DataFrame(cols)


def _harm_frame(harm: np.ndarray, meta: dict) -> pd.DataFrame:
    P, G, B, C = harm.shape
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


def _acts_frame(acts_day: np.ndarray, meta: dict) -> pd.DataFrame:
    nz = np.nonzero(acts_day[..., A_RECORDED] + acts_day[..., A_TRUE] > 0)
    p, day, g, a = nz
    return pd.DataFrame({
        "day": day.astype(np.int32),
        "province": pd.Categorical.from_codes(p, meta["provinces"]),
        "region": pd.Categorical(np.array(meta["regions"])[p]),
        "group": pd.Categorical.from_codes(g, GROUPS),
        "act": pd.Categorical.from_codes(a, meta["acts"]),
        "true": acts_day[nz + (A_TRUE,)],
        "recorded": acts_day[nz + (A_RECORDED,)],
        "false": acts_day[nz + (A_FALSE,)],
    })


def _source(meta: dict, kind: int, code: int, false: int) -> str:
    """Which data source made a record: the sensor of a false match, the act's sensors else."""
    if kind == KIND_FALSE and false > 0:
        return meta["sensors"][false - 1] + " (false match)"
    if kind == KIND_ACT:
        return " or ".join(meta["act_sensors"].get(meta["acts"][code], [])) or "-"
    return ""


def _panel_frame(chunks: list, meta: dict) -> pd.DataFrame:
    cols = ["agent", "day", "event", "detail", "recorded", "false_record", "source", "score",
            "grade", "lists", "sanctions"]
    if not chunks:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in cols})
    rows = np.concatenate(chunks)
    # by agent, then day; rows of one day keep their order (lexsort is stable): the same order
    # whichever thread or worker wrote them
    rows = rows[np.lexsort((rows[:, P_DAY], rows[:, P_AGENT]))]
    # anonymous panel ids: rank of the synthetic index, never the index itself
    _, pid = np.unique(rows[:, P_AGENT], return_inverse=True)
    lists = meta["lists"]
    sanctions = meta["sanctions"]
    detail = []
    for kind, code in zip(rows[:, P_KIND], rows[:, P_CODE], strict=True):
        if kind in (KIND_ACT, KIND_FALSE):
            detail.append(meta["acts"][code])
        elif kind == KIND_TIMER:
            cause, idx = divmod(int(code), CAUSE_CODE)
            what = CAUSE_NAMES.get(cause, "?")
            if cause == CAUSE_RECOVERY:
                detail.append(f"recovery[{idx}]")
            elif cause == CAUSE_REVERSAL:
                detail.append("appeal upheld: erroneous records removed")
            else:
                detail.append(f"{what}:{lists[idx]}")
        elif kind == KIND_LINK:
            held = [s for k, s in enumerate(sanctions) if (int(code) >> k) & 1]
            detail.append("through a household or firm link: " + (", ".join(held) or "lifted"))
        else:
            detail.append("start")
    grades = np.array(meta["grades"])
    return pd.DataFrame({
        "agent": pid.astype(np.int64),
        "day": rows[:, P_DAY],
        "event": [KIND_NAMES[int(k)] for k in rows[:, P_KIND]],
        "detail": detail,
        "recorded": rows[:, P_RECORDED].astype(bool),
        "false_record": rows[:, P_SENSOR] > 0,
        "source": [_source(meta, int(k), int(code), int(f))
                   for k, code, f in zip(rows[:, P_KIND], rows[:, P_CODE], rows[:, P_SENSOR],
                                         strict=True)],
        "score": rows[:, P_SCORE],
        "grade": grades[rows[:, P_GRADE]],
        "lists": rows[:, P_LISTS],
        "sanctions": rows[:, P_SANCTIONS],
    })


# -------------------------------------------------------------------- summary
def _summarise(res: Results) -> dict[str, Any]:
    m = res.meta
    bd = res.by_day
    last = bd.iloc[-1]
    first = bd.iloc[0]
    nation = 1.0 / m["scale"] if m["scale"] > 0 else None
    grades = {g: int(last.get(f"grade_{g}", 0)) for g in m["grades"]}
    sanctions = {s: int(last[_col("sanction", s)]) for s in m["sanctions"]}
    lists = {x: int(last[_col("list", x)]) for x in m["lists"]}
    person_days = {s: int(bd[_col("sanction", s)].sum()) for s in m["sanctions"]}
    acts = res.acts.groupby("act", observed=True)[["true", "recorded", "false"]].sum()
    hist = res.score_hist
    scores = np.arange(m["score_min"], m["score_min"] + len(hist))
    n = hist.sum()
    if n > 0:
        mean = float((hist * scores).sum() / n)
        sd = float(np.sqrt(max(0.0, (hist * (scores - mean) ** 2).sum() / n)))
        cdf = np.cumsum(hist) / n
        pct = {str(q): int(scores[np.searchsorted(cdf, q / 100)]) for q in (1, 10, 50, 90, 99)}
    else:
        mean, sd, pct = None, None, {}

    def scaled(d: dict[str, int]) -> dict[str, int]:
        return {k: int(round(v * nation)) for k, v in d.items()} if nation else {}

    return {
        "credsim_version": m["credsim_version"],
        "scenario": m["scenario"],
        "regime": m["regime"],
        "seed": m["seed"],
        "days": m["days"],
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
            "mean_end": mean, "sd_end": sd, "percentiles_end": pct,
        },
        "harms": harms.summarise(res),
        "performance": m.get("performance", {}),
    }
