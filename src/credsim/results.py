"""Results of a run: daily aggregates, acts, an anonymous panel, headline figures, plots.

In memory they are pandas DataFrames; on disk a run directory of Parquet files, a summary,
PNG plots and an HTML report. ``Results.load(dir)`` reads a run directory back.
``Results`` is a container: ``collect.py`` builds it from a run's sums, and the readers it calls
(``summary``, ``plots``, ``report``) see it through ``view.RunView``, never import it.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from credsim.layout import FIRM_GROUP, GROUPS, UNSCORED

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


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

    # ---------------------------------------------------------------- headline figures
    @property
    def summary(self) -> dict[str, Any]:
        """Headline figures (``summary.py``), computed on first use unless read from a run directory."""
        if self._summary is None:
            from credsim.summary import summarise

            self._summary = summarise(self)
        return self._summary

    @cached_property
    def by_day(self) -> pd.DataFrame:
        """National daily totals: persons per grade, under each sanction, on each list."""
        d = self.daily
        value_cols = [c for c in d.columns if c.startswith(("sanction_", "list_", "false_", "link_",
                                                            "entered_", "tickets_"))]
        value_cols += ["restricted", "falsely_restricted"]
        wide = d.groupby(["day", "grade"], observed=True)["persons"].sum().unstack("grade", fill_value=0)
        wide.columns = [f"grade_{g}" for g in wide.columns]
        tot = d.groupby("day")[["persons", "score_sum", "acts_true", "acts_recorded", "acts_false",
                                *value_cols]].sum()
        # persons and organisations apart: lists (stocks and flows), sanctions, entries
        split = [c for c in value_cols if c.startswith(("sanction_", "list_", "entered_"))]
        firm = (d.group == GROUPS[FIRM_GROUP]).to_numpy()
        orgs = d[firm].groupby("day")[split].sum().reindex(tot.index, fill_value=0)
        tot = tot.join(orgs.add_suffix("_orgs")).join((tot[split] - orgs).add_suffix("_persons"))
        scored = d[d.grade != UNSCORED].groupby("day")["persons"].sum()
        tot["scored"] = scored.reindex(tot.index, fill_value=0)
        tot["mean_score"] = tot["score_sum"] / tot["scored"].where(tot["scored"] > 0)
        out = tot.join(wide).reset_index()
        if self.meta.get("start"):  # a run with a calendar: each day's date
            import datetime as dt

            from credsim.calendar import dates

            out.insert(1, "date", dates(dt.date.fromisoformat(self.meta["start"]), out["day"].to_numpy()))
        return out

    def plot(self, kind: str = "grades", ax: Axes | None = None) -> Figure:
        """A matplotlib figure: ``grades``, ``sanctions``, ``lists``, ``flows`` (list flows by
        cause, persons and organisations), ``tickets`` (purchases blocked), ``acts``,
        ``scores``, ``regions``, ``groups``."""
        from credsim import plots

        return plots.plot(self, kind, ax=ax)

    # ---------------------------------------------------------------- files
    def save(self, out: str | Path, report: bool = True) -> Path:
        """Write the run directory ``out``: Parquet tables, score histogram, meta and summary
        (JSON) and, with ``report``, the plots and the HTML report. Returns ``out``."""
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
        """Read back a run directory written by ``save``."""
        d = Path(run_dir)
        missing = [f for f in ("meta.json", "daily.parquet") if not (d / f).exists()]
        if missing:
            raise FileNotFoundError(f"{d}: not a credsim run directory (missing {missing})")
        meta = json.loads((d / "meta.json").read_text())
        summary = json.loads((d / "summary.json").read_text()) if (d / "summary.json").exists() else None
        return cls(meta, pd.read_parquet(d / "daily.parquet"), pd.read_parquet(d / "acts.parquet"),
                   pd.read_parquet(d / "panel.parquet"), np.load(d / "score_hist.npy"),
                   pd.read_parquet(d / "harm.parquet"), summary)
