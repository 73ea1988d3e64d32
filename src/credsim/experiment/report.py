"""A self-contained HTML report of an experiment, in the style of the run report (``credsim.report``).

``write_report(view, out)`` writes ``out/plots/*.png`` and ``out/report.html``, which links them by
relative path. No JavaScript, no external assets. Sections without data (no daily series, no
sensitivity tables) are left out rather than drawn empty.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from credsim.experiment import plots
from credsim.experiment.plots import ExperimentView, fmt, label
from credsim.report import CSS, DPI, _p, _table
from credsim.version import __version__

MAX_TABLE_POINTS = 50
MAX_TABLE_OUTPUTS = 6
MAX_PLOT_OUTPUTS = 6
TOP_FACTORS = 3

KIND_WORDS = {
    "replicates": "replicates: the same scenario run with several random seeds, to show how much its "
                  "results vary by chance alone",
    "compare": "a paired comparison: two or more versions (arms) of a scenario run on the same synthetic "
               "population with the same random draws",
    "sweep": "a sweep: the scenario run at many combinations of factor values (design points), each with "
             "the same seeds",
}

DESIGN_WORDS = {
    "grid": "full grid (every combination of the listed values)",
    "list": "list (the points as written in the experiment file)",
    "lhs": "Latin hypercube sample (points spread evenly over the factors' ranges)",
    "sobol": "Sobol/Saltelli sample (for variance-based sensitivity indices)",
    "morris": "Morris trajectories (one factor moved at a time, for screening)",
}

CAPTIONS = {
    "fan": "Each line is the median over seeds of this daily count for one arm; the darker band holds the "
           "middle half of the seeds (25% to 75%) and the lighter band nine seeds in ten (5% to 95%). "
           "Where bands of two arms do not overlap, chance alone is unlikely to explain the gap.",
    "differences": "Each dot is the average, over seeds, of an arm's figure minus the baseline's on the "
                   "same seed; the whisker is its 95% confidence interval. A red dot has an interval that "
                   "does not cross the dashed zero line: the change very likely moves that figure.",
    "heatmap": "Each cell is the average over seeds of this figure at one combination of the two factors; "
               "darker cells are higher. Read along a row or a column to see one factor's effect with the "
               "other held fixed.",
    "sobol": "How much of this figure's variation across the design each factor explains. The blue bar (S1) "
             "is the share due to the factor alone; the orange bar (ST) adds its interactions with the "
             "others. Whiskers show each estimate's confidence interval. A factor with ST near 0 hardly "
             "matters; a large gap between ST and S1 means the factor matters mainly in combination with "
             "others.",
    "morris": "Each point is a factor. Further right (larger μ*) means moving that factor changes the figure "
              "more; higher up (larger σ) means its effect depends on where the other factors are, or is "
              "not a straight line. Factors near the origin can be left at their defaults.",
    "tornado": "Each pair of bars shows the figure with one factor at its low value (blue) and at its high "
               "value (red), measured from the vertical line; the factor with the widest swing is on top.",
}

CRN = ("Every arm runs on the same synthetic people and the same random draws (common random numbers), "
       "so a difference is due to the change, not to chance.")


# -------------------------------------------------------------------- helpers
def _slug(name: str) -> str:
    """A file-name-safe version of a name from the data."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._") or "x"


def _save(fig: Figure, plot_dir: Path, name: str) -> str:
    plot_dir.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(plot_dir / f"{name}.png", dpi=DPI)
    finally:
        plt.close(fig)
    return f"plots/{name}.png"


def _figure(heading: str, rel: str, caption: str, key: str) -> str:
    return (f"<h3>{escape(heading)}</h3>\n<figure id=\"{escape(key)}\">\n"
            f"<img src=\"{escape(rel)}\" alt=\"{escape(heading)}\">\n"
            f"<figcaption>{escape(caption)}</figcaption>\n</figure>")


def _empty(df: pd.DataFrame | None) -> bool:
    return df is None or len(df) == 0


def _metrics(view: ExperimentView) -> list[str]:
    """Numeric metric columns of the run table (every column but point and seed)."""
    r = view.runs
    if _empty(r):
        return []
    return [c for c in r.columns if c not in ("point", "seed") and pd.api.types.is_numeric_dtype(r[c])]


def _main_outputs(view: ExperimentView, have: list[str], limit: int) -> list[str]:
    """meta's outputs that ``have`` holds (in meta's order), else the first of ``have``; at most ``limit``."""
    wanted = [o for o in view.meta.get("outputs") or [] if o in have]
    return (wanted or list(have))[:limit]


def _outputs_in(table: pd.DataFrame | None, col: str = "output") -> list[str]:
    return [] if _empty(table) else list(dict.fromkeys(table[col].astype(str)))


def _point_names(view: ExperimentView) -> dict[int, str]:
    return plots._label_of_point(view)


def _seeds_text(seeds: list[Any]) -> str:
    if not seeds:
        return "—"
    if len(seeds) <= 10:
        return f"{len(seeds)}: " + ", ".join(str(s) for s in seeds)
    return f"{len(seeds)}: {seeds[0]}, {seeds[1]}, … {seeds[-1]}"


# -------------------------------------------------------------------- sections
def _what_was_run(view: ExperimentView) -> str:
    m = view.meta
    kind = m.get("kind") or "?"
    text = (f"This page reports an experiment with credsim, a simulator of social credit systems: "
            f"{KIND_WORDS.get(kind, kind)}. Every run applies a regime's rules to a synthetic population "
            "whose agents are numbers drawn from aggregate statistics, not people; nobody real was scored, "
            "and every figure is a model output under the scenario's assumptions.")
    design = m.get("design")
    rows = [
        ("scenario", m.get("scenario") or "—"),
        ("kind", kind),
        ("design", DESIGN_WORDS.get(design, design) if design else "—"),
        ("design points", fmt(len(view.points)) if view.points is not None else "—"),
        ("seeds per point", _seeds_text(list(m.get("seeds") or []))),
        ("runs", fmt(m.get("runs"))),
        ("wall-clock time (seconds)", fmt(m.get("wall_seconds"))),
        ("credsim version", m.get("credsim_version") or "—"),
    ]
    out = ["<h2>What was run</h2>", f'<div class="box">{_p(text)}</div>',
           _table(("", "value"), rows)]
    factors = m.get("factors") or []
    if factors:
        out += ["<h3>Factors</h3>",
                _p("Each factor is a value of the scenario that the experiment changes, named by its "
                   "key path."),
                _table(("factor", "key path"), [(f.get("name", ""), f.get("path", "")) for f in factors])]
    return "\n".join(out)


def _outputs_table(view: ExperimentView) -> str:
    outs = _main_outputs(view, _metrics(view), MAX_TABLE_OUTPUTS)
    if not outs:
        return ""
    r = view.runs
    g = r.groupby("point", sort=True)[outs]
    q = {k: g.quantile(k) for k in (0.05, 0.5, 0.95)}
    n = g.count()
    names = _point_names(view)
    points = list(q[0.5].index)
    rows = []
    for p in points[:MAX_TABLE_POINTS]:
        row = [names.get(int(p), f"point {p}")]
        for o in outs:
            med, lo, hi = q[0.5].at[p, o], q[0.05].at[p, o], q[0.95].at[p, o]
            row.append(fmt(med) if n.at[p, o] <= 1 or lo == hi else f"{fmt(med)} [{fmt(lo)}, {fmt(hi)}]")
        rows.append(row)
    more = (f" The first {MAX_TABLE_POINTS} of {len(points)} points are shown."
            if len(points) > MAX_TABLE_POINTS else "")
    text = ("For each arm or design point, the median over seeds of each main output, and in brackets the "
            "range holding nine seeds in ten (5% to 95%)." + more)
    return ("<h2>Main outputs</h2>\n" + _p(text)
            + _table(["arm or point", *(label(view, o) for o in outs)], rows,
                     numeric=range(1, len(outs) + 1)))


def _fans(view: ExperimentView, plot_dir: Path) -> str:
    series = plots.fan_series(view)
    if not series:
        return ""
    out = ["<h2>Over time</h2>"]
    for s in series:
        rel = _save(plots.fan(view, s), plot_dir, f"fan-{_slug(s)}")
        out.append(_figure(label(view, s)[:1].upper() + label(view, s)[1:], rel, CAPTIONS["fan"], f"fan-{s}"))
    return "\n".join(out)


def _ordered_diff(view: ExperimentView) -> pd.DataFrame:
    d = view.differences
    metrics = _outputs_in(d, "metric")
    first = [o for o in view.meta.get("outputs") or [] if o in metrics]
    order = {m: k for k, m in enumerate([*first, *(m for m in metrics if m not in first)])}
    return d.assign(_o=d["metric"].astype(str).map(order)).sort_values("_o", kind="stable")


def _compare(view: ExperimentView, plot_dir: Path) -> str:
    out = ["<h2>Side by side</h2>", _p(CRN)]
    names = _point_names(view)
    metrics = _main_outputs(view, _metrics(view), 10**6)
    have_diff = not _empty(view.differences)
    if have_diff:  # the metrics the differences cover, main outputs first
        dm = list(dict.fromkeys(_ordered_diff(view)["metric"].astype(str)))
        metrics = [m for m in dm if m in _metrics(view)] or metrics
    else:
        metrics = [*metrics, *(m for m in _metrics(view) if m not in metrics)]
    if metrics:
        means = view.runs.groupby("point", sort=True)[metrics].mean()
        arms = list(means.index)
        rows = [[label(view, m), *(fmt(means.at[p, m]) for p in arms)] for m in metrics]
        out += [_p("The mean over seeds of each figure, one column per arm."),
                _table(["figure", *(names.get(int(p), f"point {p}") for p in arms)], rows,
                       numeric=range(1, len(arms) + 1))]
    if not have_diff:
        return "\n".join(out)
    rows = []
    for _, r in _ordered_diff(view).iterrows():
        known = pd.notna(r["low"]) and pd.notna(r["high"])
        ci = f"[{fmt(r['low'])}, {fmt(r['high'])}]" if known else "— (one seed)"
        excl = ("yes" if (r["low"] > 0 or r["high"] < 0) else "no") if known else "—"
        rows.append((label(view, str(r["metric"])), r["arm"], r["baseline"], fmt(r.get("baseline_mean")),
                     fmt(r.get("arm_mean")), fmt(r["mean"]), ci, excl, fmt(r.get("n"))))
    out += ["<h2>Differences from the baseline</h2>",
            _p("Each row is an arm's figure minus the baseline's on the same seed, averaged over seeds, with "
               "its 95% confidence interval. “Excludes 0: yes” means the interval lies wholly above or below "
               "zero, so the change very likely moves that figure."),
            _table(("figure", "arm", "baseline", "baseline mean", "arm mean", "mean difference",
                    "95% interval", "excludes 0", "seeds"), rows, numeric=(3, 4, 5, 6, 8))]
    rel = _save(plots.difference_panel(view), plot_dir, "differences")
    out.append(_figure("Difference panel", rel, CAPTIONS["differences"], "differences"))
    return "\n".join(out)


def _seed_share_text(view: ExperimentView, outs: list[str]) -> str:
    share = view.seed_share or {}
    noise = getattr(view, "seed_noise_share", None) or {}

    def pct(d: dict, o: str) -> str:
        return "not estimated" if d.get(o) is None else f"{100 * d[o]:.1f}%"

    rows = [(label(view, o), pct(share, o), pct(noise, o)) for o in outs if o in share]
    if not rows:
        return ""
    return (_p("The seed share is the part of an output's variance across all runs that is due to the "
               "seeds (chance alone) rather than the factors: a large share means the factors explain "
               "little beyond run-to-run noise. The seed noise share is the part of it that differs from "
               "point to point (with common random numbers a seed that moves every point alike changes "
               "no difference and no index): it is what blurs comparisons between points.")
            + _table(("output", "seed share", "seed noise share"), rows, numeric=(1, 2)))


def _top_factors(view: ExperimentView) -> str:
    rows = []
    sources = [(view.sobol, "ST", "total Sobol index ST", False),
               (view.morris, "mu_star", "Morris μ*", False),
               (view.effects, "swing", "swing (high − low)", True)]
    done: set[str] = set()
    for table, col, measure, absolute in sources:
        if _empty(table) or col not in table:
            continue
        for o in _main_outputs(view, _outputs_in(table), MAX_PLOT_OUTPUTS):
            if o in done:
                continue
            done.add(o)
            t = table[table["output"].astype(str) == o]
            key = t[col].abs() if absolute else t[col]
            t = t.assign(_k=key).sort_values("_k", ascending=False, na_position="last").head(TOP_FACTORS)
            for rank, (_, r) in enumerate(t.iterrows(), 1):
                rows.append((label(view, o), rank, r["factor"], measure, fmt(r[col])))
    if not rows:
        return ""
    return ("<h3>Top factors</h3>\n"
            + _p(f"For each output, the {TOP_FACTORS} factors that matter most by the strongest measure "
                 "this experiment has.")
            + _table(("output", "rank", "factor", "measure", "value"), rows, numeric=(1, 4)))


def _sweep(view: ExperimentView, plot_dir: Path) -> str:
    out: list[str] = []
    m = view.meta
    if m.get("design") == "grid" and len(m.get("factors") or []) == 2:
        figs = []
        for o in _main_outputs(view, _metrics(view), MAX_PLOT_OUTPUTS):
            if plots._grid_means(view, o) is None or not view.runs[o].notna().any():
                continue
            rel = _save(plots.heatmap(view, o), plot_dir, f"heatmap-{_slug(o)}")
            figs.append(_figure(f"Heat map: {label(view, o)}", rel, CAPTIONS["heatmap"], f"heatmap-{o}"))
        if figs:
            out += ["<h2>Grid</h2>", *figs]
    sens: list[str] = []
    sobol_outs = _main_outputs(view, _outputs_in(view.sobol), MAX_PLOT_OUTPUTS)
    if sobol_outs:
        sens.append(_p("S1 is the share of an output's variance that a factor explains alone; ST adds the "
                       "share it explains through interactions with other factors, so ST is at least S1 "
                       "(estimates from a finite sample can break this slightly).")
                    + _seed_share_text(view, sobol_outs))
        for o in sobol_outs:
            rel = _save(plots.sobol_bars(view, o), plot_dir, f"sobol-{_slug(o)}")
            sens.append(_figure(f"Sobol indices: {label(view, o)}", rel, CAPTIONS["sobol"], f"sobol-{o}"))
    elif view.seed_share:
        sens.append(_seed_share_text(view, _main_outputs(view, list(view.seed_share), MAX_PLOT_OUTPUTS)))
    for o in _main_outputs(view, _outputs_in(view.morris), MAX_PLOT_OUTPUTS):
        rel = _save(plots.morris_plot(view, o), plot_dir, f"morris-{_slug(o)}")
        sens.append(_figure(f"Morris screening: {label(view, o)}", rel, CAPTIONS["morris"], f"morris-{o}"))
    for o in _main_outputs(view, _outputs_in(view.effects), MAX_PLOT_OUTPUTS):
        rel = _save(plots.tornado(view, o), plot_dir, f"tornado-{_slug(o)}")
        sens.append(_figure(f"Tornado chart: {label(view, o)}", rel, CAPTIONS["tornado"], f"tornado-{o}"))
    top = _top_factors(view)
    if top:
        sens.append(top)
    if any(s.strip() for s in sens):
        out += ["<h2>Sensitivity</h2>", *sens]
    return "\n".join(out)


def _footer(view: ExperimentView) -> str:
    m = view.meta
    text = (f"Made with credsim {m.get('credsim_version') or __version__} (report code {__version__}), "
            f"experiment {m.get('name', '')}, scenario {m.get('scenario', '')}. Agents are numbers drawn "
            "from aggregate statistics: credsim never scores real people.")
    return f"<footer>{_p(text)}</footer>"


# -------------------------------------------------------------------- entry point
def write_report(view: ExperimentView, out: str | Path) -> Path:
    """Write ``out/plots/*.png`` and ``out/report.html`` (no JavaScript, no external assets beyond the
    PNGs beside it); returns the path of ``report.html``."""
    out = Path(out)
    plot_dir = out / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    m = view.meta
    kind = m.get("kind")
    title = f"Experiment {m.get('name', '')} — {kind or 'experiment'} of scenario {m.get('scenario', '')}"
    runs = m.get("runs")
    sub = (f"credsim experiment: {fmt(runs) if runs is not None else '?'} runs over "
           f"{fmt(len(view.points)) if view.points is not None else '?'} points on a synthetic population.")
    parts = [f"<h1>{escape(title)}</h1>", _p(sub, "sub"), _what_was_run(view), _outputs_table(view)]
    if kind in ("replicates", "compare"):
        parts.append(_fans(view, plot_dir))
    if kind == "compare":
        parts.append(_compare(view, plot_dir))
    if kind == "sweep":
        parts.append(_sweep(view, plot_dir))
    parts.append(_footer(view))
    body = "\n".join(p for p in parts if p)
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

