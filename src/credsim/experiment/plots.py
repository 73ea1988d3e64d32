"""Plots of an experiment (replicates, paired comparison, sweep, sensitivity), one function per kind.

Every function takes an *experiment view* (see ``ExperimentView``) and returns a matplotlib
Figure. With ``ax`` it draws into that axes (and returns its figure); without, it makes a new
``pyplot`` figure that the caller owns and should close. When there is nothing to draw the figure
says so in a short centred message. Nothing here picks a backend or calls ``show``.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from typing import Any, Protocol

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from credsim.plots import _THOUSANDS, _axes, _below_legend, _note

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
QCOLS = ("q05", "q25", "q50", "q75", "q95")
KEYS = ("point", "seed", "day")
MAX_FAN_POINTS = 8
MAX_DIFF_METRICS = 6

# plain-English fallbacks for daily series and metrics that meta["metric_labels"] does not name
SERIES_LABELS = {
    "restricted": "agents under any restriction",
    "falsely_restricted": "agents restricted on a false record",
    "mean_score": "mean score (score points)",
    "acts_recorded": "acts recorded per day",
}


class ExperimentView(Protocol):
    """What the experiment plots and report read (attributes; any of the optional tables may be None)."""

    meta: dict[str, Any]
    points: pd.DataFrame
    runs: pd.DataFrame
    daily: pd.DataFrame | None
    differences: pd.DataFrame | None
    sobol: pd.DataFrame | None
    morris: pd.DataFrame | None
    effects: pd.DataFrame | None
    seed_share: dict[str, float | None] | None
    seed_noise_share: dict[str, float | None] | None


# -------------------------------------------------------------------- helpers
def fmt(v: Any) -> str:
    """A number for people: integers with thousands separators, others to 3 significant digits."""
    if v is None or isinstance(v, str):
        return "—" if v is None else v
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(x):
        return "—"
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    mag = math.floor(math.log10(abs(x)))
    if mag >= 2:
        return f"{int(round(x, 2 - mag)):,}"
    return f"{x:,.{2 - mag}f}"


def fmt_setting(v: Any) -> str:
    """A factor's value (a setting, exact): like ``fmt`` without trailing zeros (0.0100 -> 0.01)."""
    s = fmt(v)
    return s.rstrip("0").rstrip(".") if "." in s and "e" not in s else s


def label(view: ExperimentView, name: str) -> str:
    """The plain-English label of a metric or daily series (meta's labels first, then fallbacks)."""
    labels = (view.meta or {}).get("metric_labels") or {}
    if name in labels:
        return str(labels[name])
    if name in SERIES_LABELS:
        return SERIES_LABELS[name]
    for prefix, what in (("grade_", "agents holding grade {}"), ("sanction_", "agents under sanction “{}”"),
                         ("list_", "agents on list “{}”")):
        if name.startswith(prefix):
            return what.format(name[len(prefix):])
    return name.replace("_", " ")


def _label_of_point(view: ExperimentView) -> dict[int, str]:
    pts = view.points
    if pts is None or pts.empty or "label" not in pts:
        return {}
    return {int(p): str(lab) for p, lab in zip(pts["point"], pts["label"], strict=True)}


def _empty(df: pd.DataFrame | None) -> bool:
    return df is None or len(df) == 0


def _pick_output(view: ExperimentView, table: pd.DataFrame | None, output: str | None,
                 col: str = "output") -> str | None:
    """``output`` if the table has it, else the first of meta's outputs it has, else its first."""
    if _empty(table):
        return None
    have = list(dict.fromkeys(table[col].astype(str)))
    if output is not None:
        return output if output in have else None
    for o in view.meta.get("outputs") or []:
        if o in have:
            return o
    return have[0] if have else None


def _nothing(ax: Axes | None, title: str, text: str, size: tuple[float, float] = (8, 4)) -> Figure:
    fig, ax = _axes(ax, size)
    ax.set_title(title, fontsize=11)
    _note(ax, text)
    return fig


def _title(view: ExperimentView, what: str) -> str:
    m = view.meta
    return f"{what}\nexperiment {m.get('name', '')} · scenario {m.get('scenario', '')}"


def _set_title(ax: Axes, view: ExperimentView, what: str, fontsize: float = 11) -> None:
    """The plot's title (``_title``), its first part wrapped to the figure's width: a long
    metric name ran off the edges of narrow figures (heat maps) and of the Sobol bars."""
    width_pt = ax.figure.get_figwidth() * 72 * 0.9
    chars = max(20, int(width_pt / (0.56 * fontsize)))  # an average character is ~0.56 em wide
    ax.set_title(_title(view, textwrap.fill(what, chars)), fontsize=fontsize)


def _n_seeds(view: ExperimentView) -> int:
    seeds = view.meta.get("seeds")
    if seeds:
        return len(seeds)
    return int(view.runs["seed"].nunique()) if not _empty(view.runs) and "seed" in view.runs else 0


def _err(centre: pd.Series, low: pd.Series, high: pd.Series) -> np.ndarray:
    """A (2, n) error array for matplotlib: non-negative, 0 where the interval is unknown."""
    c, lo, hi = (np.asarray(s, dtype=float) for s in (centre, low, high))
    return np.nan_to_num(np.vstack([np.clip(c - lo, 0, None), np.clip(hi - c, 0, None)]))


def _finite_max(values: Any) -> float:
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    return float(np.abs(a).max()) if a.size else 0.0


# -------------------------------------------------------------------- bands
def bands(daily: pd.DataFrame) -> pd.DataFrame:
    """Per (point, day) and series column: median and the 50% and 90% bands across seeds.
    Long format: point, day, series, q05, q25, q50, q75, q95, n (seeds with a value). NaN values are
    skipped; quantiles interpolate linearly, as ``numpy.quantile`` does by default."""
    cols = [c for c in daily.columns if c not in KEYS and pd.api.types.is_numeric_dtype(daily[c])]
    out_cols = ["point", "day", "series", *QCOLS, "n"]
    if daily.empty or not cols:
        return pd.DataFrame(columns=out_cols)
    g = daily.groupby(["point", "day"], sort=True)[cols]
    q = (g.quantile(list(QUANTILES)).rename_axis(["point", "day", "q"]).reset_index()
         .melt(id_vars=["point", "day", "q"], var_name="series"))
    wide = q.pivot(index=["point", "day", "series"], columns="q", values="value")
    wide.columns = list(QCOLS)
    n = (g.count().rename_axis(["point", "day"]).reset_index()
         .melt(id_vars=["point", "day"], var_name="series", value_name="n")
         .set_index(["point", "day", "series"]))
    out = wide.join(n).reset_index()
    out["series"] = pd.Categorical(out["series"], categories=cols)
    out = out.sort_values(["point", "series", "day"], kind="stable").reset_index(drop=True)
    out["series"] = out["series"].astype(str)
    return out[out_cols]


# -------------------------------------------------------------------- kinds
def fan(view: ExperimentView, series: str, ax: Axes | None = None) -> Figure:
    """One line per arm or point (its median over seeds) with shaded 50% and 90% bands, days on x.
    At most ``MAX_FAN_POINTS`` points are drawn (the first ones; the title says so)."""
    what = f"{label(view, series)[:1].upper()}{label(view, series)[1:]} over time"
    daily = view.daily
    if _empty(daily) or series not in daily.columns:
        return _nothing(ax, _title(view, what), f"no daily series “{series}” in this experiment")
    points = sorted(int(p) for p in daily["point"].unique())
    shown = points[:MAX_FAN_POINTS]
    d = daily.loc[daily["point"].isin(shown), ["point", "seed", "day", series]]
    b = bands(d)
    if b[["q05", "q95"]].isna().all().all():
        return _nothing(ax, _title(view, what), f"“{series}” has no values in this experiment")
    fig, ax = _axes(ax, (9, 5))
    names = _label_of_point(view)
    colours = plt.get_cmap("tab10")
    for k, p in enumerate(shown):
        bp = b[b["point"] == p]
        c = colours(k % 10)
        ax.fill_between(bp["day"], bp["q05"], bp["q95"], color=c, alpha=0.12, lw=0)
        ax.fill_between(bp["day"], bp["q25"], bp["q75"], color=c, alpha=0.3, lw=0)
        ax.plot(bp["day"], bp["q50"], color=c, lw=1.8, label=names.get(p, f"point {p}"))
    n = _n_seeds(view)
    more = f" (first {len(shown)} of {len(points)} points)" if len(points) > len(shown) else ""
    _set_title(ax, view, f"{what}{more}: median of {n} seeds, 50% and 90% bands")
    ax.set_xlabel("day of simulation")
    ax.set_ylabel(label(view, series))
    top = _finite_max(b["q95"])
    lowest = float(np.nanmin(b["q05"].to_numpy(dtype=float)))
    if lowest >= 0:
        ax.set_ylim(0, top * 1.08 if top > 0 else 1)
    if top >= 1000:
        ax.yaxis.set_major_formatter(_THOUSANDS)
    ax.set_xlim(b["day"].min(), b["day"].max())
    _below_legend(ax, "arm" if view.meta.get("kind") in ("replicates", "compare") else "design point")
    return fig


def _diff_rows(view: ExperimentView) -> tuple[pd.DataFrame, list[str]]:
    d = view.differences
    metrics = list(dict.fromkeys(d["metric"].astype(str)))
    wanted = [m for m in view.meta.get("outputs") or [] if m in metrics] or metrics[:MAX_DIFF_METRICS]
    return d[d["metric"].astype(str).isin(wanted)], wanted


def _diff_axes(view: ExperimentView, ax: Axes, rows: pd.DataFrame, ylabels: list[str]) -> None:
    y = np.arange(len(rows))[::-1]  # first row on top
    for yi, (_, r) in zip(y, rows.iterrows(), strict=True):
        lo, hi = r["low"], r["high"]
        sure = pd.notna(lo) and pd.notna(hi) and (lo > 0 or hi < 0)
        err = _err(pd.Series([r["mean"]]), pd.Series([lo]), pd.Series([hi]))
        ax.errorbar([r["mean"]], [yi], xerr=err, fmt="o", capsize=4, lw=1.6,
                    color="tab:red" if sure else "0.35")
    ax.axvline(0, color="black", lw=1, ls="--")
    ax.set_yticks(y, ylabels)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    if _finite_max(rows[["mean", "low", "high"]].to_numpy()) >= 1000:
        ax.xaxis.set_major_formatter(_THOUSANDS)


def difference_panel(view: ExperimentView, ax: Axes | None = None) -> Figure:
    """Compare: per metric in meta['outputs'] (else the first few), the paired difference arm − baseline
    with its 95% confidence interval as a horizontal error bar, one row per (metric, arm), and a zero line.
    Without ``ax``, each metric gets a panel of its own (metrics have different units); with ``ax``,
    every row goes into that axes. Red: the interval excludes 0."""
    what = "Paired differences from the baseline"
    if _empty(view.differences):
        return _nothing(ax, _title(view, what), "no paired differences in this experiment")
    rows, metrics = _diff_rows(view)
    base = ", ".join(dict.fromkeys(rows["baseline"].astype(str)))
    n = int(rows["n"].max()) if "n" in rows and rows["n"].notna().any() else _n_seeds(view)
    title = _title(view, f"{what} “{base}”: arm − baseline, mean over {n} seeds with 95% interval")
    if ax is not None:
        _diff_axes(view, ax, rows, [f"{label(view, m)}: {a}" for m, a in zip(rows["metric"], rows["arm"],
                                                                            strict=True)])
        ax.set_xlabel("difference, arm − baseline (units of each metric)")
        ax.set_title(title, fontsize=11)
        return ax.figure
    counts = [int((rows["metric"].astype(str) == m).sum()) for m in metrics]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(9, 1.2 + sum(0.45 * c + 0.9 for c in counts)),
                             layout="constrained", height_ratios=[c + 1 for c in counts], squeeze=False)
    for a, m in zip(axes[:, 0], metrics, strict=True):
        r = rows[rows["metric"].astype(str) == m]
        _diff_axes(view, a, r, [str(x) for x in r["arm"]])
        a.set_title(label(view, m), fontsize=10, loc="left")
        a.set_xlabel(f"difference in {label(view, m)}")
    fig.suptitle(title, fontsize=11)
    return fig


def sobol_bars(view: ExperimentView, output: str | None = None, ax: Axes | None = None) -> Figure:
    """Grouped horizontal bars of first-order (S1) and total (ST) Sobol indices per factor, with their
    confidence intervals as whiskers; the factor with the largest ST on top."""
    out = _pick_output(view, view.sobol, output)
    if out is None:
        return _nothing(ax, _title(view, "Sobol sensitivity indices"),
                        f"no Sobol indices for {output!r}" if output else "no Sobol indices")
    s = view.sobol[view.sobol["output"].astype(str) == out].copy()
    s = s.sort_values("ST", ascending=True, na_position="first", kind="stable")  # largest at the top
    fig, ax = _axes(ax, (9, max(3.0, 1.6 + 0.55 * len(s))))
    y = np.arange(len(s))
    h = 0.38
    ax.barh(y + h / 2, s["S1"].fillna(0), h, xerr=_err(s["S1"], s["S1_low"], s["S1_high"]), capsize=3,
            color="tab:blue", label="S1: this factor alone (first order)")
    ax.barh(y - h / 2, s["ST"].fillna(0), h, xerr=_err(s["ST"], s["ST_low"], s["ST_high"]), capsize=3,
            color="tab:orange", label="ST: this factor including its interactions (total)")
    ax.set_yticks(y, [str(f) for f in s["factor"]])
    ax.axvline(0, color="black", lw=0.8)
    lo = min(0.0, float(np.nanmin(s[["S1_low", "ST_low", "S1", "ST"]].to_numpy(dtype=float), initial=0)))
    hi = max(1.0, float(np.nanmax(s[["S1_high", "ST_high", "S1", "ST"]].to_numpy(dtype=float), initial=0)))
    ax.set_xlim(lo - 0.02, hi + 0.02)
    ax.set_xlabel("share of the output's variance (0 = none, 1 = all)")
    share = (view.seed_share or {}).get(out)
    noise = (getattr(view, "seed_noise_share", None) or {}).get(out)
    extra = f"; seeds account for {100 * share:.0f}% of its variance" if share is not None else ""
    if share is not None and noise is not None:
        extra += f" ({100 * noise:.0f}% not shared by all points)"
    _set_title(ax, view, f"What drives {label(view, out)}: Sobol indices{extra}")
    _below_legend(ax, "")
    return fig


def tornado(view: ExperimentView, output: str | None = None, ax: Axes | None = None) -> Figure:
    """Horizontal bars from the mean over all runs to the output with each factor at its low and at its
    high value; factors sorted by |swing|, the largest on top."""
    out = _pick_output(view, view.effects, output)
    if out is None:
        return _nothing(ax, _title(view, "Tornado chart"),
                        f"no one-factor effects for {output!r}" if output else "no one-factor effects")
    e = view.effects[view.effects["output"].astype(str) == out].copy()
    e["_abs"] = e["swing"].abs()
    e = e.sort_values("_abs", ascending=True, na_position="first", kind="stable")  # largest at the top
    runs = view.runs
    if not _empty(runs) and out in runs and runs[out].notna().any():
        centre, what = float(runs[out].mean()), "mean over all runs"
    else:
        centre, what = float(np.nanmean(e[["at_low", "at_high"]].to_numpy(dtype=float))), "midpoint"
    if not math.isfinite(centre):
        centre = 0.0
    fig, ax = _axes(ax, (9, max(3.0, 1.6 + 0.6 * len(e))))
    y = np.arange(len(e))
    h = 0.38
    sides = (("at_low", "low_value", h / 2, "tab:blue", "factor at its low value"),
             ("at_high", "high_value", -h / 2, "tab:red", "factor at its high value"))
    for col, val, off, colour, name in sides:
        width = e[col].astype(float).fillna(centre) - centre
        bars = ax.barh(y + off, width, h, left=centre, color=colour, alpha=0.85, label=name)
        ax.bar_label(bars, labels=[f" {fmt_setting(v)} " for v in e[val]], fontsize=8)
    ax.axvline(centre, color="black", lw=1)
    ax.set_yticks(y, [str(f) for f in e["factor"]])
    span = _finite_max(e[["at_low", "at_high"]].to_numpy(dtype=float) - centre)
    pad = span * 0.3 if span > 0 else max(abs(centre) * 0.1, 1.0)
    ax.set_xlim(centre - span - pad, centre + span + pad)
    ax.set_xlabel(f"{label(view, out)} (vertical line: {what}, {fmt(centre)})")
    _set_title(ax, view, f"Effect of each factor alone on {label(view, out)}")
    _below_legend(ax, "bar ends labelled with the factor's value")
    return fig


def morris_plot(view: ExperimentView, output: str | None = None, ax: Axes | None = None) -> Figure:
    """Morris screening: mu* (mean absolute elementary effect, with its interval) on x against sigma
    (spread of the effects) on y, one annotated point per factor, and the line sigma = mu*."""
    out = _pick_output(view, view.morris, output)
    if out is None:
        return _nothing(ax, _title(view, "Morris screening"),
                        f"no Morris results for {output!r}" if output else "no Morris results")
    m = view.morris[view.morris["output"].astype(str) == out]
    fig, ax = _axes(ax, (8, 6))
    x, s = m["mu_star"].astype(float), m["sigma"].astype(float)
    xs, ss = np.nan_to_num(x.to_numpy()), np.nan_to_num(s.to_numpy())
    ax.errorbar(xs, ss, xerr=_err(x, m["mu_star_low"], m["mu_star_high"]), fmt="o",
                capsize=3, color="tab:purple", label="factor (whisker: interval of μ*)")
    for f, xi, si in zip(m["factor"], xs, ss, strict=True):
        ax.annotate(str(f), (xi, si), xytext=(5, 4), textcoords="offset points", fontsize=9)
    top = max(_finite_max(m[["mu_star", "mu_star_high"]].to_numpy(dtype=float)), _finite_max(s)) * 1.15 or 1.0
    ax.plot([0, top], [0, top], ls="--", color="0.5", lw=1,
            label="σ = μ*: interactions as large as the effect")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(f"μ*: mean absolute effect on {label(view, out)} of moving the factor one step")
    ax.set_ylabel("σ: spread of those effects (non-linearity, interactions)")
    _set_title(ax, view, f"Morris screening of {label(view, out)}")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def _grid_means(view: ExperimentView, output: str) -> tuple[pd.DataFrame, list[str]] | None:
    m = view.meta
    names = [f["name"] for f in m.get("factors") or []]
    if m.get("design") != "grid" or len(names) != 2 or _empty(view.runs) or output not in view.runs:
        return None
    if any(n not in view.points for n in names):
        return None
    d = view.runs[["point", output]].merge(view.points[["point", *names]], on="point")
    g = d.groupby(names, sort=True)[output].mean()
    return g.unstack(names[0]), names  # rows: second factor, columns: first factor


def heatmap(view: ExperimentView, output: str | None = None, ax: Axes | None = None) -> Figure:
    """For a grid over exactly two factors: the mean over seeds of ``output`` (default the main output)
    in each cell, annotated with its value."""
    outs = view.meta.get("outputs") or []
    out = output or (outs[0] if outs else None)
    grid = _grid_means(view, out) if out else None
    what = f"Mean {label(view, out)} per grid cell" if out else "Heat map"
    if grid is None or grid[0].isna().all().all():
        return _nothing(ax, _title(view, what), "a heat map needs a grid over exactly 2 factors with values")
    tab, (fx, fy) = grid
    fig, ax = _axes(ax, (max(5.0, 2.5 + 0.9 * tab.shape[1]), max(4.0, 1.8 + 0.6 * tab.shape[0])))
    vals = tab.to_numpy(dtype=float)
    im = ax.imshow(np.ma.masked_invalid(vals), origin="lower", aspect="auto", cmap="YlOrRd")
    norm = im.norm
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            v = vals[i, j]
            dark = math.isfinite(v) and float(norm(v)) > 0.6
            ax.text(j, i, fmt(v), ha="center", va="center", fontsize=9, color="white" if dark else "black")
    ax.set_xticks(range(tab.shape[1]), [fmt_setting(v) for v in tab.columns])
    ax.set_yticks(range(tab.shape[0]), [fmt_setting(v) for v in tab.index])
    ax.set_xlabel(fx)
    ax.set_ylabel(fy)
    # the colourbar's label wrapped to the figure's height (a long metric name was cut off)
    lines = max(14, int(fig.get_figheight() * 7))
    fig.colorbar(im, ax=ax).set_label(
        textwrap.fill(f"{label(view, out)} (mean over {_n_seeds(view)} seeds)", lines), fontsize=9)
    _set_title(ax, view, what)
    return fig


def _fan_default(view: ExperimentView, ax: Axes | None = None, series: str | None = None) -> Figure:
    if series is None:
        series = next(iter(fan_series(view)), "restricted")
    return fan(view, series, ax=ax)


def fan_series(view: ExperimentView, limit: int = 6) -> list[str]:
    """The daily series worth a fan chart: restricted and falsely_restricted, then grade_ and sanction_
    series that are not all zero (or missing), at most ``limit``."""
    d = view.daily
    if _empty(d):
        return []
    def has(c: str) -> bool:
        v = d[c]
        return pd.api.types.is_numeric_dtype(v) and bool(v.notna().any())
    picked = [c for c in ("restricted", "falsely_restricted") if c in d and has(c)]
    for prefix in ("sanction_", "grade_"):
        picked += [c for c in d.columns
                   if c.startswith(prefix) and has(c) and bool((d[c].fillna(0) != 0).any())]
    return picked[:limit]


KINDS: dict[str, Callable[..., Figure]] = {
    "fan": _fan_default,
    "differences": difference_panel,
    "sobol": sobol_bars,
    "tornado": tornado,
    "morris": morris_plot,
    "heatmap": heatmap,
}


def plot(view: ExperimentView, kind: str, **kw: Any) -> Figure:
    """Draw one kind of plot: ``fan`` (``series=``, default the first of ``fan_series``), ``differences``,
    ``sobol``, ``tornado``, ``morris`` or ``heatmap`` (these four take ``output=``). ``ax=`` draws into
    an existing axes."""
    try:
        fn = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown plot kind {kind!r}; valid kinds: {', '.join(KINDS)}") from None
    return fn(view, **kw)
