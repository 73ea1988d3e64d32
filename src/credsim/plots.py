"""Plots of a run's results, one small function per kind.

``plot(res, kind, ax=None)`` returns a matplotlib Figure. With ``ax`` it draws into that axes
(and returns its figure); without, it makes a new ``pyplot`` figure, which the caller owns and
should close (``plt.close(fig)``) when done. Nothing here picks a backend or calls ``show``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import reduce
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from credsim.layout import UNSCORED

if TYPE_CHECKING:  # pragma: no cover
    from credsim.view import RunView

FIRM = "firm"
TOP_ACTS = 15
TOP_RESTRICTIONS = 3
KIND_STYLE = {"restriction": "-", "shaming": "--", "privilege": ":"}

_THOUSANDS = FuncFormatter(lambda v, _pos: f"{v:,.0f}")


def _compact(v: float, _pos=None) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:g}{unit}"
    return f"{v:g}"


_COMPACT = FuncFormatter(_compact)


# -------------------------------------------------------------------- helpers
def _axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    return fig, ax


def _title(ax: Axes, res: RunView, what: str, width: int = 80) -> None:
    """The plot's title and, below, the regime and scenario, each wrapped to fit the figure."""
    import textwrap

    m = res.meta
    sub = f"{m.get('regime_title', m.get('regime', ''))} · scenario {m.get('scenario', '')}"
    ax.set_title("\n".join([textwrap.fill(what, width), textwrap.fill(sub, width + 10)]), fontsize=11)


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])


def _agents_word(res: RunView) -> str:
    return "persons and firms" if res.meta.get("firms", 0) else "persons"


def _nation_axis(ax: Axes, res: RunView) -> None:
    """A right-hand axis in nation-equivalent counts (count / scale) when the run is scaled down."""
    scale = res.meta.get("scale", 1.0)
    if not scale or scale >= 1:
        return
    sec = ax.secondary_yaxis("right", functions=(lambda x: x / scale, lambda x: x * scale))
    sec.set_ylabel("nation-equivalent (count / scale)")
    sec.yaxis.set_major_formatter(_THOUSANDS)


def _below_legend(ax: Axes, title: str) -> None:
    """A legend under the axes, so it never hides data."""
    import textwrap

    handles, labels = ax.get_legend_handles_labels()
    n = len(handles)
    # long labels wrap, and fewer columns keep the legend as wide as the figure at most
    ncol = 1 if n <= 3 else 2
    labels = [textwrap.fill(lab, 36 if ncol == 2 else 90) for lab in labels]
    # anchored at the bottom of the axes and padded in font units, clear of the tick labels and
    # x label whatever the axes' height
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0), borderaxespad=3.6,
              ncol=ncol, fontsize=8, title=title or None, title_fontsize=9, frameon=False)


def _sanction_label(res: RunView, name: str) -> str:
    return res.meta.get("sanction_labels", {}).get(name, name)


def _group_label(g: str) -> str:
    return g.replace("_", ", ")


# -------------------------------------------------------------------- kinds
DOMINANT_SHARE = 90.0  # % of scored agents in one grade above which the grades get a log panel
MARKERS = "osD^vP*Xh<>"


def _grade_shares(res: RunView):
    bd = res.by_day
    grades = [g for g in res.meta["grades"] if g != UNSCORED]  # best first
    scored = bd["scored"].where(bd["scored"] > 0)
    shares = [100 * bd.get(f"grade_{g}", 0 * bd["day"]) / scored for g in grades]
    return grades, shares


def _grades(res: RunView, ax: Axes | None) -> Figure:
    grades, shares = _grade_shares(res)
    top = max((float(s.max()) for s in shares if s.notna().any()), default=0.0)
    if ax is None and top >= DOMINANT_SHARE and len(grades) > 1:
        # one grade holds (almost) everyone: the stack is a solid block, so a second panel shows
        # every grade's share on a log scale, where 0.1% and 1% are as far apart as 10% and 100%
        fig, (ax, low) = plt.subplots(2, 1, figsize=(9, 9), sharex=True, layout="constrained",
                                      height_ratios=(1, 1.3))
        _grade_stack(res, ax, grades, shares)
        _grade_log(res, low, grades, shares)
        ax.tick_params(labelbottom=True)
        return fig
    fig, ax = _axes(ax, (9, 5))
    _grade_stack(res, ax, grades, shares)
    return fig


def _grade_colours(grades):
    return plt.get_cmap("RdYlGn")(np.linspace(0.9, 0.1, len(grades))) if grades else []


def _grade_log(res: RunView, ax: Axes, grades, shares) -> None:
    bd = res.by_day
    colours = _grade_colours(grades)
    n = len(bd)
    step = max(1, n // 12)
    drawn = 0
    for k, (g, s) in enumerate(zip(grades, shares, strict=True)):
        s = s.where(s > 0)
        if not s.notna().any():
            continue
        ax.plot(bd["day"], s, color=colours[k], lw=1.8, marker=MARKERS[k % len(MARKERS)], ms=5,
                markevery=(k * step // max(1, len(grades)), step), label=g, mec="0.25", mew=0.6,
                path_effects=[patheffects.Stroke(linewidth=3, foreground="0.35"), patheffects.Normal()])
        drawn += 1
    empty = [g for g, s in zip(grades, shares, strict=True) if not (s > 0).any()]
    ax.set_yscale("log")
    ax.set_ylabel(f"share of scored {_agents_word(res)} (%, log scale)")
    ax.set_xlabel("day of simulation")
    ax.set_xlim(bd["day"].min(), bd["day"].max())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.grid(True, which="major", axis="y", alpha=0.3)
    note = f"never held: {', '.join(empty)}" if empty else ""
    ax.set_title("Each grade's share on a log scale (one grade holds almost everyone)"
                 + (f"\n{note}" if note else ""), fontsize=10)
    if drawn:
        ax.legend(title="grade", loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)


def _grade_stack(res: RunView, ax: Axes, grades, shares) -> None:
    bd = res.by_day
    colours = _grade_colours(grades)
    # stack from the worst grade up, so the best grade is on top
    ax.stackplot(bd["day"], *[s.fillna(0) for s in shares[::-1]], labels=grades[::-1],
                 colors=list(colours[::-1]), alpha=0.9)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], title="grade (best first)", loc="center left",
              bbox_to_anchor=(1.01, 0.5), fontsize=9)
    ax.set_xlim(bd["day"].min(), bd["day"].max())
    ax.set_ylim(0, 100)
    ax.set_xlabel("day of simulation")
    ax.set_ylabel(f"share of scored {_agents_word(res)} (%)")
    _title(ax, res, "Grades over time")


def _same_series(res: RunView, names: list[str]) -> list[list[str]]:
    """The sanctions grouped by identical daily counts (first appearance order): sanctions given
    together (one grade, one list) draw one line, labelled with all of their names, instead of
    lines drawn over each other."""
    bd = res.by_day
    groups: dict[bytes, list[str]] = {}
    for name in names:
        groups.setdefault(np.asarray(bd[f"sanction_{name}"], np.int64).tobytes(), []).append(name)
    return list(groups.values())


def _sanction_lines(res: RunView, ax: Axes, names: list[str], what: str) -> None:
    bd = res.by_day
    kinds = res.meta.get("sanction_kinds", {})
    groups = _same_series(res, names)
    step = max(1, len(bd) // 10)
    for k, group in enumerate(groups):
        kind_set = sorted({kinds.get(n, "restriction") for n in group})
        kind = kind_set[0] if len(kind_set) == 1 else "mixed"
        label = "; ".join(_sanction_label(res, n) for n in group)
        if len(group) > 1:
            label = f"{len(group)} with the same counts: {label}"
        # markers at staggered days tell lines apart where they run close together
        ax.plot(bd["day"], bd[f"sanction_{group[0]}"], KIND_STYLE.get(kind, "-."), lw=1.8,
                label=f"{label} ({', '.join(kind_set)})", marker=MARKERS[k % len(MARKERS)], ms=5,
                markevery=(k * step // max(1, len(groups)), step))
    _below_legend(ax, "sanction (kind)")
    ax.set_xlabel("day of simulation")
    ax.set_ylabel(f"simulated {_agents_word(res)}")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_THOUSANDS)
    _nation_axis(ax, res)
    _title(ax, res, what)


def _legend_height(res: RunView, names: list[str]) -> float:
    """Inches the legend under a sanctions panel needs (wrapped labels, two columns)."""
    import textwrap

    groups = _same_series(res, names)
    width = 36 if len(groups) > 3 else 90
    rows = 0
    for group in groups:
        text = "; ".join(_sanction_label(res, n) for n in group) + " (restriction)"
        rows += len(textwrap.wrap(text, width)) + 0.4
    return 0.8 + 0.16 * rows / (1 if len(groups) <= 3 else 2)


def _sanctions(res: RunView, ax: Axes | None) -> Figure:
    names = res.meta["sanctions"]
    kinds = res.meta.get("sanction_kinds", {})
    privileges = [s for s in names if kinds.get(s) == "privilege"]
    others = [s for s in names if s not in privileges]
    if ax is None and privileges and others:
        # privileges usually cover most people: a panel of their own keeps restrictions readable
        h = (4, 4 + _legend_height(res, others), 4 + _legend_height(res, privileges))
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, h[1] + h[2]), sharex=True,
                                          layout="constrained", height_ratios=h[1:])
        _sanction_lines(res, top, others, "Under each restriction or shaming measure over time")
        _sanction_lines(res, bottom, privileges, "Holding each privilege over time")
        top.tick_params(labelbottom=True)
        return fig
    fig, ax = _axes(ax, (9, 4 + _legend_height(res, names)))
    if not names:
        _note(ax, "this regime has no sanctions")
        _title(ax, res, "Under each sanction over time")
        return fig
    _sanction_lines(res, ax, names, "Under each sanction over time")
    return fig


def _lists(res: RunView, ax: Axes | None) -> Figure:
    fig, ax = _axes(ax, (9, 5))
    names = res.meta["lists"]
    _title(ax, res, "List sizes over time")
    if not names:
        _note(ax, "this regime has no lists")
        return fig
    bd = res.by_day
    labels = res.meta.get("list_labels", {})
    for name in names:
        ax.plot(bd["day"], bd[f"list_{name}"], lw=1.8, label=labels.get(name, name))
    _below_legend(ax, "list")
    ax.set_xlabel("day of simulation")
    ax.set_ylabel(f"simulated {_agents_word(res)} on the list")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_THOUSANDS)
    _nation_axis(ax, res)
    return fig


def _flows(res: RunView, ax: Axes | None) -> Figure:
    """Each list's flows over the run, per 30 days: new listings and removals by cause, persons
    (solid) and organisations (dashed) apart."""
    fig, ax = _axes(ax, (9, 5))
    _title(ax, res, "List flows per 30 days (persons solid, organisations dashed)")
    names = res.meta["lists"]
    if not names:
        _note(ax, "this regime has no lists")
        return fig
    bd = res.by_day
    period = bd["day"] // 30
    labels = res.meta.get("list_labels", {})
    causes = (("added", "added"), ("removed_performed", "removed: performed"),
              ("removed_expired", "removed: expired"), ("removed_appeal", "removed: appeal"))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    k = 0
    for name in names:
        for flow, text in causes:
            cols = [f"list_{flow}_{name}_persons", f"list_{flow}_{name}_orgs"]
            per = bd.groupby(period)[cols].sum()
            if not per.to_numpy().any():
                continue
            c = colours[k % len(colours)]
            k += 1
            x = per.index * 30 + 15
            ax.plot(x, per[cols[0]], lw=1.8, color=c,
                    label=f"{labels.get(name, name)}: {text}" if len(names) > 1 else text)
            ax.plot(x, per[cols[1]], lw=1.4, ls="--", color=c)
    _below_legend(ax, "flow")
    ax.set_xlabel("day of simulation")
    ax.set_ylabel(f"simulated {_agents_word(res)} per 30 days")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_THOUSANDS)
    _nation_axis(ax, res)
    return fig


def _tickets(res: RunView, ax: Axes | None) -> Figure:
    """Ticket purchases blocked (person-times), cumulative over the run, per kind, with their
    expectation given the persons the kind was blocked for."""
    fig, ax = _axes(ax, (9, 5))
    _title(ax, res, "Ticket purchases blocked, cumulative (person-times)")
    bd = res.by_day
    for kind in res.meta.get("ticket_kinds", []):
        if not res.meta.get("ticket_blocks", {}).get(kind):
            continue
        line, = ax.plot(bd["day"], bd[f"tickets_blocked_{kind}"].cumsum(), lw=1.8,
                        label=f"{kind} purchases blocked")
        ax.plot(bd["day"], bd[f"tickets_expected_{kind}"].cumsum(), lw=1.0, ls=":",
                color=line.get_color(), label=f"{kind}: expected")
    _below_legend(ax, "ticket kind")
    ax.set_xlabel("day of simulation")
    ax.set_ylabel("simulated purchase attempts blocked")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_THOUSANDS)
    _nation_axis(ax, res)
    return fig


def _act_totals(res: RunView):
    """Whole-run totals per act (true, recorded, and false records if the run has them), largest first."""
    cols = [c for c in ("true", "recorded", "false") if c in res.acts.columns]
    tot = res.acts.groupby("act", observed=True)[cols].sum()
    if "false" in tot and not tot["false"].any():
        tot = tot.drop(columns="false")
    return tot[(tot["true"] > 0) | (tot["recorded"] > 0)].sort_values("true", ascending=False)


def _acts(res: RunView, ax: Axes | None) -> Figure:
    tot = _act_totals(res)
    shown = tot.head(TOP_ACTS).iloc[::-1]  # largest at the top
    fig, ax = _axes(ax, (11, max(3.5, 1.8 + 0.45 * len(shown))))
    what = "Acts over the run: committed vs recorded"
    _title(ax, res, what + (f" (top {TOP_ACTS} of {len(tot)})" if len(tot) > TOP_ACTS else ""),
           width=60)
    if shown.empty:
        _note(ax, "no acts in this run")
        return fig
    labels = res.meta.get("act_labels", {})
    series = [("true", "committed (true)", "0.6"), ("recorded", "recorded", "tab:red"),
              ("false", "false records (not committed)", "tab:purple")]
    series = [s for s in series if s[0] in shown]
    y = np.arange(len(shown))
    h = 0.8 / len(series)
    # a log scale: recorded acts and false records are often 1% of the committed ones or less,
    # invisible as bars beside them on a linear scale
    ax.set_xscale("log")
    for k, (col, label, colour) in enumerate(series):
        vals = shown[col].astype(float)
        bars = ax.barh(y + ((len(series) - 1) / 2 - k) * h, vals.where(vals > 0), h, left=0.5,
                       label=label, color=colour)
        if col == "recorded":
            share = 100 * shown["recorded"] / shown["true"].where(shown["true"] > 0)
            ax.bar_label(bars, labels=["" if np.isnan(s) else f" {_pct(s)} recorded" for s in share],
                         fontsize=8)
    import textwrap

    ax.set_yticks(y, [textwrap.fill(labels.get(str(a), str(a)), 42) for a in shown.index], fontsize=9)
    ax.set_xlabel(f"acts by simulated {_agents_word(res)}, whole run (count, log scale)")
    ax.xaxis.set_major_formatter(_COMPACT)
    ax.set_xlim(0.5, shown[[c for c, _, _ in series]].to_numpy().max() * 8)
    _below_legend(ax, "")
    return fig


def _bin_width(offsets: np.ndarray, span: int, target_bins: int = 80) -> tuple[int, int]:
    """(step, width): the scores' common step, and a bin width that is a multiple of it, so that
    scores moving in steps of 10 do not draw an empty comb."""
    step = int(reduce(math.gcd, offsets.tolist(), 0)) or 1
    return step, step * max(1, math.ceil(span / step / target_bins))


def _scores(res: RunView, ax: Axes | None) -> Figure:
    fig, ax = _axes(ax, (9, 5))
    _title(ax, res, "Final scores (last day)")
    hist = np.asarray(res.score_hist, dtype=np.int64)
    n = int(hist.sum())
    if n == 0:
        _note(ax, "no scored agents at the end of the run")
        return fig
    smin = int(res.meta["score_min"])
    nz = np.flatnonzero(hist)
    lo, hi = int(nz[0]), int(nz[-1])
    step, w = _bin_width(nz - lo, hi - lo)
    counts = np.add.reduceat(hist[lo:hi + 1], np.arange(0, hi - lo + 1, w))
    edges = smin + lo - step / 2 + w * np.arange(len(counts) + 1)
    ax.stairs(counts, edges, fill=True, color="tab:blue", alpha=0.75,
              label=f"{n:,} scored {_agents_word(res)}")
    mean = float((hist * np.arange(smin, smin + len(hist))).sum() / n)
    ax.axvline(mean, color="black", ls="--", lw=1.5, label=f"mean {mean:,.1f}")
    ax.set_xlabel(f"score (regime range {smin:,} to {int(res.meta['score_max']):,}; bins of {w})")
    ax.set_ylabel(f"simulated {_agents_word(res)} per bin")
    ax.yaxis.set_major_formatter(_THOUSANDS)
    ax.legend(fontsize=9)
    return fig


def _restriction_shares(res: RunView, by: str, persons_only: bool):
    """Last day, per value of ``by``: % of scored agents under each of the top restrictions."""
    m = res.meta
    restr = [s for s in m["sanctions"] if m.get("sanction_kinds", {}).get(s) == "restriction"]
    d = res.daily
    d = d[(d["day"] == d["day"].max()) & (d["grade"] != UNSCORED)]
    if persons_only:
        d = d[d["group"] != FIRM]
    cols = [f"sanction_{s}" for s in restr]
    g = d.groupby(by, observed=True)[["persons", *cols]].sum()
    g = g[g["persons"] > 0]
    top = g[cols].sum().sort_values(ascending=False).head(TOP_RESTRICTIONS).index.tolist()
    return 100 * g[top].div(g["persons"], axis=0), restr


def _share_bars(res: RunView, ax: Axes | None, by: str, persons_only: bool) -> Figure:
    fig, ax = _axes(ax, (9, 5))
    who = "scored adults (firms excluded)" if persons_only else f"scored {_agents_word(res)}"
    what = f"Share of {who} under each restriction on the last day, by {by}"
    shares, restr = _restriction_shares(res, by, persons_only)
    if not restr or shares.empty:
        _title(ax, res, what)
        _note(ax, "this regime has no restrictions" if not restr else "no scored agents")
        return fig
    top = "" if len(restr) <= TOP_RESTRICTIONS else f" (top {TOP_RESTRICTIONS} of {len(restr)})"
    _title(ax, res, what + top)
    x = np.arange(len(shares))
    w = 0.8 / shares.shape[1]
    for k, col in enumerate(shares.columns):
        bars = ax.bar(x + (k - (shares.shape[1] - 1) / 2) * w, shares[col], w,
                      label=_sanction_label(res, col.removeprefix("sanction_")))
        ax.bar_label(bars, labels=[_pct(v, sign=False) for v in shares[col]], fontsize=8)
    names = [str(i) for i in shares.index]
    ax.set_xticks(x, [_group_label(n) for n in names] if by == "group" else names)
    ax.set_xlabel(by)
    ax.set_ylabel(f"% of {who.split(' (')[0]} in the {by}")
    top = float(np.nanmax(shares.to_numpy())) if shares.size else 0.0
    ax.set_ylim(0, (top if top > 0 else 1.0) * 1.2)
    _below_legend(ax, "restriction")
    return fig


def _pct(v: float, sign: bool = True) -> str:
    """A percentage with the digits that tell small values apart (0.12, 0.0034, 12)."""
    if v is None or not np.isfinite(v):
        return ""
    if v == 0:
        text = "0"
    elif abs(v) >= 10:
        text = f"{v:.0f}"
    else:
        text = f"{v:.2g}" if abs(v) >= 0.001 else f"{v:.1e}"
    return text + ("%" if sign else "")


def _regions(res: RunView, ax: Axes | None) -> Figure:
    return _share_bars(res, ax, "region", persons_only=True)


def _groups(res: RunView, ax: Axes | None) -> Figure:
    return _share_bars(res, ax, "group", persons_only=False)


KINDS: dict[str, Callable[[RunView, Axes | None], Figure]] = {
    "grades": _grades,
    "sanctions": _sanctions,
    "lists": _lists,
    "flows": _flows,
    "tickets": _tickets,
    "acts": _acts,
    "scores": _scores,
    "regions": _regions,
    "groups": _groups,
}


def applicable(res: RunView, kind: str) -> bool:
    """Whether ``kind`` has anything to show for this run (the report leaves the others out
    rather than show an empty frame: lists when the regime has none, flows and tickets when
    the run has none, restrictions by region or group when it has no restrictions)."""
    m = res.meta
    if kind == "lists":
        return bool(m.get("lists"))
    if kind in ("flows", "tickets"):  # only when the run has a flow or a blocked purchase
        has = bool(m.get("lists")) if kind == "flows" else any(m.get("ticket_blocks", {}).values())
        bd = res.by_day
        prefixes = ("list_added_", "list_removed_") if kind == "flows" else ("tickets_",)
        cols = [c for c in bd.columns if c.startswith(prefixes)]
        return has and bool(cols) and bool(bd[cols].to_numpy().any())
    if kind == "sanctions":
        return bool(m.get("sanctions"))
    if kind in ("regions", "groups"):
        return any(m.get("sanction_kinds", {}).get(s) == "restriction" for s in m.get("sanctions", []))
    return True


def plot(res: RunView, kind: str, ax: Axes | None = None) -> Figure:
    """Draw one kind of plot of ``res``: ``grades``, ``sanctions``, ``lists``, ``flows``,
    ``tickets``, ``acts``, ``scores``, ``regions`` or ``groups``. Returns the figure (new,
    unless ``ax`` is given)."""
    try:
        fn = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown plot kind {kind!r}; valid kinds: {', '.join(KINDS)}") from None
    return fn(res, ax)
