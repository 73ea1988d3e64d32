"""A finished job's views: the tables behind each chart of the page, as long tables (one row per
arm, day and series, or per arm and metric) with the median and a band across seeds, the paired
differences of each arm against the first (same seeds: common random numbers), and every run's
row. The page draws them; CSV and Parquet downloads are the same tables."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from credsim.web.requests import RunIn


@dataclass
class Finished:
    """What a job's views are built from: its request, controls, (arm, seed) runs and their outputs."""

    req: RunIn
    controls: dict[str, Any]
    tasks: list[tuple[int, int]]
    results: dict[int, dict[str, Any]]

BAND = (0.1, 0.9)  # the band drawn across seeds: 10th to 90th percentile
VIEWS = ("grades", "sanctions", "lists", "acts", "harms", "differences", "differences_daily", "runs")
ACT_KINDS = (("acts_true", "committed"), ("acts_recorded", "recorded"), ("acts_false", "false records"))
DIFF_DAILY = (("restricted", "restricted"), ("falsely_restricted", "falsely restricted"))


@dataclass
class Views:
    tables: dict[str, pd.DataFrame]
    meta: dict[str, Any]

    def json(self) -> dict[str, Any]:
        return {"meta": self.meta,
                "views": {k: _records(v) for k, v in self.tables.items()}}

    def csv(self, name: str) -> bytes:
        return self.tables[name].to_csv(index=False).encode("utf-8")

    def parquet(self, name: str) -> bytes:
        buf = io.BytesIO()
        self.tables[name].to_parquet(buf, index=False)
        return buf.getvalue()


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.to_dict(orient="records")
    for r in out:  # NaN (a ratio of 0/0) is not JSON
        for k, v in r.items():
            if isinstance(v, float) and not math.isfinite(v):
                r[k] = None
    return out


def _bands(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and band over the first axis (seeds)."""
    return (np.median(values, axis=0), np.quantile(values, BAND[0], axis=0),
            np.quantile(values, BAND[1], axis=0))


def _series(job: Finished, columns: list[tuple[str, str]], what: str) -> pd.DataFrame:
    """Daily series of every arm: median and band across seeds, one row per arm, day, series."""
    frames = []
    for a, arm in enumerate(job.req.arms):
        runs = [job.results[i]["daily"] for i, (x, _) in enumerate(job.tasks) if x == a]
        days = runs[0]["day"]
        for col, name in columns:
            stack = np.stack([r.get(col, np.zeros(len(days))) for r in runs]).astype(np.float64)
            med, lo, hi = _bands(stack)
            frames.append(pd.DataFrame({"arm": arm.label, "day": days.astype(np.int64), what: name,
                                        "median": med, "lo": lo, "hi": hi}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["arm", "day", what, "median", "lo", "hi"])


def _paired(job: Finished, a: int, b: int, get) -> np.ndarray:
    """``get(run) of arm a - get(run) of arm b``, seed by seed."""
    by_seed = {(x, s): job.results[i] for i, (x, s) in enumerate(job.tasks)}
    seeds = [s for x, s in job.tasks if x == a]
    return np.stack([np.asarray(get(by_seed[(a, s)]), np.float64) - np.asarray(get(by_seed[(b, s)]),
                                                                                np.float64)
                     for s in seeds])


def build_views(job: Finished) -> Views:
    c = job.controls
    arms = [a.label for a in job.req.arms]
    grades = _series(job, [(f"grade_{g}", g) for g in c["grades"]], "grade")
    sanctions = _series(job, [(f"sanction_{s}", s) for s in c["sanctions"]], "sanction")
    lists = _series(job, [(f"list_{x}", x) for x in c["lists"]], "list")
    acts = _series(job, list(ACT_KINDS), "kind")
    metrics = [h["metric"] for h in c["harms"]]
    labels = {h["metric"]: h["label"] for h in c["harms"]}
    rows, diffs, ddaily = [], [], []
    for a, label in enumerate(arms):
        vals = np.array([[job.results[i]["row"].get(m, math.nan) for m in metrics]
                         for i, (x, _) in enumerate(job.tasks) if x == a], dtype=np.float64)
        med, lo, hi = _nanbands(vals)
        rows += [{"arm": label, "metric": m, "label": labels[m], "median": med[k], "lo": lo[k],
                  "hi": hi[k]} for k, m in enumerate(metrics)]
        if a == 0:
            continue
        d = _paired(job, a, 0, lambda r: [r["row"].get(m, math.nan) for m in metrics])
        med, lo, hi = _nanbands(d)
        diffs += [{"arm": label, "versus": arms[0], "metric": m, "label": labels[m], "median": med[k],
                   "lo": lo[k], "hi": hi[k]} for k, m in enumerate(metrics)]
        for col, name in DIFF_DAILY:
            d = _paired(job, a, 0, lambda r, col=col: r["daily"][col])
            med, lo, hi = _bands(d)
            days = job.results[0]["daily"]["day"].astype(np.int64)
            ddaily.append(pd.DataFrame({"arm": label, "versus": arms[0], "day": days, "series": name,
                                        "median": med, "lo": lo, "hi": hi}))
    runs = pd.DataFrame([{"arm": arms[x], "seed": s, **job.results[i]["row"]}
                         for i, (x, s) in enumerate(job.tasks)])
    tables = {
        "grades": grades, "sanctions": sanctions, "lists": lists, "acts": acts,
        "harms": pd.DataFrame(rows, columns=["arm", "metric", "label", "median", "lo", "hi"]),
        "differences": pd.DataFrame(diffs, columns=["arm", "versus", "metric", "label", "median", "lo",
                                                    "hi"]),
        "differences_daily": (pd.concat(ddaily, ignore_index=True) if ddaily else pd.DataFrame(
            columns=["arm", "versus", "day", "series", "median", "lo", "hi"])),
        "runs": runs,
    }
    walls = [r["wall_seconds"] for r in job.results.values()]
    meta = {"arms": arms, "seeds": [job.req.seed + k for k in range(job.req.seeds)],
            "band": list(BAND), "harms": c["harms"], "grades": c["grades"],
            "sanctions": c["sanctions"], "lists": c["lists"],
            "agents": int(job.results[0]["row"]["persons"] + job.results[0]["row"]["firms"]),
            "engine_seconds": round(float(sum(walls)), 3)}
    return Views(tables, meta)


def _nanbands(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and band over seeds, ignoring missing values (NaN: a ratio of 0/0)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN metric stays NaN
        return (np.nanmedian(values, axis=0), np.nanquantile(values, BAND[0], axis=0),
                np.nanquantile(values, BAND[1], axis=0))
