"""The fit report of a calibration: observed vs simulated per target (bands across posterior draws
and seeds), held-out targets with PASS/FAIL of their 90% band, the parameters' posterior and the
optimisation history. ``report.html`` with ``plots/*.png`` beside it, no JavaScript."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from credsim.experiment.report import _figure, _save  # noqa: E402
from credsim.report import CSS, _p, _table  # noqa: E402
from credsim.version import __version__  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

EXTRA_CSS = ".pass { color: #1a7f37; font-weight: bold; } .fail { color: #b00020; font-weight: bold; }"


def _g(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "—"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def fit_figure(res) -> Figure:
    """One row per target, on the scale of its observed figure (observed = 1): the observation's
    90% interval (black), the simulated 90% band across posterior draws and seeds (blue bar), the
    predictive band (light), the best trial's seeds (dots)."""
    from credsim.calibration import likelihoods

    fit = res.fit()
    n = len(fit)
    fig, ax = plt.subplots(figsize=(8, 1.0 + 0.55 * n))
    best = int(res.meta["best_trial"])
    for i, (t, r) in enumerate(zip(res.spec.targets, fit.itertuples(), strict=True)):
        y = n - 1 - i
        obs = t.observed or 1.0
        olo, ohi = likelihoods.interval(t.likelihood, t.observed, **t.family_kw())
        ax.plot([olo / obs, ohi / obs], [y + 0.18] * 2, color="black", lw=2)
        ax.plot([1.0], [y + 0.18], "k|", ms=12)
        ax.barh(y - 0.1, (r.pred_hi - r.pred_lo) / obs, left=r.pred_lo / obs, height=0.28, color="#c6dbef")
        ax.barh(y - 0.1, (r.sim_hi - r.sim_lo) / obs, left=r.sim_lo / obs, height=0.16, color="#2171b5")
        seeds = res.simulated[(res.simulated.target == t.name) & (res.simulated.trial == best)]["value"]
        ax.plot(seeds / obs, [y - 0.1] * len(seeds), "o", color="#ff7f0e", ms=4)
    ax.set_yticks(range(n))
    ax.set_yticklabels([f"{t.name}{' (held out)' if t.holdout else ''}" for t in reversed(res.spec.targets)])
    ax.axvline(1.0, color="#999", lw=0.8, ls="--")
    ax.set_xlabel("simulated / observed (observed = 1)")
    ax.set_title("black: observed, its 90% interval; blue: simulated, 90% over posterior draws x seeds;\n"
                 "light blue: with observation noise; orange: the best trial's seeds", fontsize=8)
    fig.tight_layout()
    return fig


def history_figure(res) -> Figure:
    h = res.history
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ok = h[h.loss < 1e299]
    ax.plot(ok.trial, ok.loss, "o", color="#9ecae1", ms=4, label="trial")
    ax.plot(h.trial, h.best_so_far, "-", color="#08519c", lw=2, label="best so far")
    if len(ok) and ok.loss.min() > 0 and ok.loss.max() / max(ok.loss.min(), 1e-300) > 10:
        ax.set_yscale("log")
    ax.set_xlabel("trial")
    ax.set_ylabel("loss (- weighted log-likelihood)")
    ax.legend()
    fig.tight_layout()
    return fig


def posterior_figure(res) -> Figure:
    params = res.spec.parameters
    fig, axes = plt.subplots(1, len(params), figsize=(3.6 * len(params), 3.0), squeeze=False)
    for ax, p in zip(axes[0], params, strict=True):
        x = res.trials[p.label]
        ax.scatter(x, res.trials["weight"], s=10, color="#9ecae1", label="trials (weight)")
        ax2 = ax.twinx()
        d = res.posterior.draws[p.label]
        bins = np.geomspace(*p.range, 30) if p.log else np.linspace(*p.range, 30)
        ax2.hist(d, bins=bins, color="#08519c", alpha=0.5)
        ax2.set_yticks([])
        if p.log:
            ax.set_xscale("log")
        ax.axvline(res.best[p.label], color="#ff7f0e", lw=1.5)
        ax.set_title(p.label, fontsize=9)
        ax.set_ylabel("importance weight")
    fig.tight_layout()
    return fig


def write_report(res, out: str | Path) -> Path:
    out = Path(out)
    plot_dir = out / "plots"
    m = res.meta
    spec = res.spec
    fit = res.fit()
    title = f"Calibration {m['name']}"
    parts = [f"<h1>{escape(title)}</h1>",
             _p(f"credsim calibrate: {len(res.trials)} trials x {len(m['seeds'])} seeds (common seeds "
                f"{', '.join(map(str, m['seeds']))}), sampler {spec.sampler}, scenario {m['scenario']}.",
                "sub")]
    if spec.description:
        parts.append(_p(spec.description))
    parts.append("<h2>Fitted parameters</h2>")
    summ = res.posterior.summary()
    parts.append(_table(["parameter", "key path", "range", "prior", "best", "posterior mean", "90% interval"],
                        [[p.label, p.path, f"[{p.range[0]:g}, {p.range[1]:g}]{' log' if p.log else ''}",
                          p.prior_family, _g(res.best[p.label]), _g(summ.loc[p.label, "mean"]),
                          f"[{_g(summ.loc[p.label].iloc[2])}, {_g(summ.loc[p.label].iloc[3])}]"]
                         for p in spec.parameters], numeric=(4, 5)))
    parts.append(_p(f"Posterior: {res.posterior.method}; effective sample size {res.posterior.ess:.1f} of "
                    f"{len(res.trials)} trials. It reweighs the trials already run by likelihood x prior / "
                    f"proposal: an approximation that is only as good as the trials' coverage (few effective "
                    f"points mean a rough interval), not an MCMC sample.", "box"))
    parts.append("<h2>Targets</h2>")
    rows = []
    for r in fit.itertuples():
        rows.append([r.target, "held out" if r.holdout else f"fitted (weight {r.weight:g})", _g(r.observed),
                     _g(r.best), f"{r.best_ratio:.3f}" if np.isfinite(r.best_ratio) else "—",
                     f"[{_g(r.sim_lo)}, {_g(r.sim_hi)}]", f"[{_g(r.pred_lo)}, {_g(r.pred_hi)}]", r.check,
                     r.likelihood, r.provenance])
    table = _table(["target", "role", "observed", "best trial (mean over seeds)", "ratio",
                    "simulated 90% (posterior x seeds)", "predictive 90%", "check", "likelihood", "source"],
                   rows, numeric=(2, 3, 4))
    table = table.replace("<td>PASS</td>", '<td class="pass">PASS</td>').replace(
        "<td>FAIL</td>", '<td class="fail">FAIL</td>')
    parts.append(table)
    held = fit[fit.holdout]
    if len(held):
        parts.append(_p(f"Held-out targets: {int(held.inside.sum())} of {len(held)} inside their "
                        f"predictive 90% band (PASS). The predictive band is the simulated values across "
                        f"posterior draws and seeds with each observation's own uncertainty added."))
    parts.append(_figure("Fit", _save(fit_figure(res), plot_dir, "fit"),
                         "Each row is a target on the scale of its observed figure.", "fit"))
    parts.append(_figure("Posterior", _save(posterior_figure(res), plot_dir, "posterior"),
                         "Light dots: each trial's importance weight; bars: the posterior draws; orange: "
                         "the best trial.", "posterior"))
    parts.append(_figure("Optimisation history", _save(history_figure(res), plot_dir, "history"),
                         "The loss of each trial and the best so far.", "history"))
    foot = (f"Made with credsim {__version__}. Agents are numbers drawn from aggregate statistics: credsim "
            f"never scores real people. Calibrated scenario: calibrated.toml.")
    parts.append(f"<footer>{_p(foot)}</footer>")
    body = "\n".join(parts)
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{escape(title)}</title>\n"
            f"<style>{CSS}{EXTRA_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
