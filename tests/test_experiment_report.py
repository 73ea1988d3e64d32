"""Experiment plots and HTML report, on synthetic experiment views (the simulator never runs here)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

from credsim.experiment import plots  # noqa: E402
from credsim.experiment.report import write_report  # noqa: E402

METRICS = ["wrongful_restricted_days", "restricted_final_day", "share_wrongful", "false_sanctions_final_day"]
SERIES = ["restricted", "falsely_restricted", "mean_score", "grade_A", "grade_D", "sanction_no_loans"]


@dataclass
class View:
    meta: dict[str, Any]
    points: pd.DataFrame
    runs: pd.DataFrame
    daily: pd.DataFrame | None = None
    differences: pd.DataFrame | None = None
    sobol: pd.DataFrame | None = None
    morris: pd.DataFrame | None = None
    effects: pd.DataFrame | None = None
    seed_share: dict[str, float | None] | None = field(default=None)
    seed_noise_share: dict[str, float | None] | None = field(default=None)


def _meta(kind: str, design: str | None, factors: list[dict], n_points: int, seeds: list[int]) -> dict:
    return {"name": "test-exp", "kind": kind, "design": design, "factors": factors,
            "outputs": ["wrongful_restricted_days", "restricted_final_day"], "seeds": seeds,
            "scenario": "demo", "credsim_version": "0.0-test", "runs": n_points * len(seeds),
            "wall_seconds": 12.345, "metric_labels": {"wrongful_restricted_days": "wrongful restricted days"}}


def _runs(points: list[int], seeds: list[int], rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for p in points:
        for s in seeds:
            rows.append({"point": p, "seed": s,
                         "wrongful_restricted_days": 1000.0 * (p + 1) + rng.normal(0, 50),
                         "restricted_final_day": 500 + 10 * p + s, "share_wrongful": rng.uniform(0, 0.2),
                         "false_sanctions_final_day": 0.0})  # all zero on purpose
    return pd.DataFrame(rows)


def _daily(points: list[int], seeds: list[int], days: int, rng: np.random.Generator) -> pd.DataFrame:
    idx = pd.MultiIndex.from_product([points, seeds, range(days)], names=["point", "seed", "day"]).to_frame(
        index=False)
    n = len(idx)
    idx["restricted"] = idx["day"] * (idx["point"] + 1) + rng.integers(0, 20, n)
    idx["falsely_restricted"] = rng.integers(0, 5, n)
    idx["mean_score"] = 1000 + rng.normal(0, 3, n)
    idx["grade_A"] = rng.integers(100, 200, n)
    idx["grade_D"] = 0  # all zero: not worth a fan chart
    idx["sanction_no_loans"] = rng.integers(0, 3, n)
    return idx


def compare_view(seeds: int = 4, label_b: str = "fpir=0.03") -> View:
    rng = np.random.default_rng(1)
    sd = list(range(1, seeds + 1))
    points = pd.DataFrame({"point": [0, 1, 2], "label": ["baseline", label_b, "court-blacklist"]})
    runs = _runs([0, 1, 2], sd, rng)
    rows = []
    for m in METRICS:
        base = runs[runs.point == 0].set_index("seed")[m]
        for p in (1, 2):
            d = runs[runs.point == p].set_index("seed")[m] - base
            half = 1.96 * d.std() / np.sqrt(len(d)) if len(d) > 1 else np.nan
            rows.append({"metric": m, "arm": points.label[p], "baseline": "baseline", "mean": d.mean(),
                         "low": d.mean() - half, "high": d.mean() + half, "sd": d.std(), "n": len(d),
                         "baseline_mean": base.mean(), "arm_mean": base.mean() + d.mean()})
    return View(meta=_meta("compare", None, [], 3, sd), points=points, runs=runs,
                daily=_daily([0, 1, 2], sd, 30, rng), differences=pd.DataFrame(rows))


def replicates_view() -> View:
    rng = np.random.default_rng(2)
    sd = [1, 2, 3, 4, 5]
    return View(meta=_meta("replicates", None, [], 1, sd),
                points=pd.DataFrame({"point": [0], "label": ["r8"]}),
                runs=_runs([0], sd, rng), daily=_daily([0], sd, 20, rng))


FACTORS = [{"name": "fpir", "path": "detection.errors.cameras.fpir"},
           {"name": "appeal", "path": "appeals.probability"}]


def grid_view() -> View:
    rng = np.random.default_rng(3)
    sd = [1, 2, 3]
    fp, ap = [0.01, 0.03, 0.1], [0.1, 0.5]
    pts = pd.DataFrame([(i, f"fpir={f}, appeal={a}", f, a)
                        for i, (f, a) in enumerate((f, a) for f in fp for a in ap)],
                       columns=["point", "label", "fpir", "appeal"])
    runs = _runs(list(pts.point), sd, rng)
    effects = pd.DataFrame({"output": "wrongful_restricted_days", "factor": ["appeal", "fpir"],
                            "low_value": [0.1, 0.01], "high_value": [0.5, 0.1],
                            "at_low": [3500.0, 1500.0], "at_high": [3000.0, 5500.0],
                            "swing": [-500.0, 4000.0]})
    return View(meta=_meta("sweep", "grid", FACTORS, len(pts), sd), points=pts, runs=runs, effects=effects,
                seed_share={"wrongful_restricted_days": 0.02})


def sobol_view() -> View:
    rng = np.random.default_rng(4)
    sd = [1, 2]
    names = ["fpir", "appeal", "decay"]
    pts = pd.DataFrame({"point": range(12), "label": [f"p{i}" for i in range(12)],
                        **{n: rng.uniform(0, 1, 12) for n in names}})
    factors = [{"name": n, "path": f"x.{n}"} for n in names]
    outs = ["wrongful_restricted_days", "restricted_final_day"]
    sob = pd.DataFrame([{"output": o, "factor": f, "S1": s1, "S1_low": s1 - 0.05, "S1_high": s1 + 0.05,
                         "ST": s1 + 0.1, "ST_low": s1 + 0.05, "ST_high": s1 + 0.15}
                        for o in outs for f, s1 in zip(names, (0.2, 0.6, 0.05), strict=True)])
    mor = pd.DataFrame([{"output": o, "factor": f, "mu": mu, "mu_star": abs(mu), "mu_star_low": abs(mu) * 0.8,
                         "mu_star_high": abs(mu) * 1.2, "sigma": abs(mu) / 2}
                        for o in outs for f, mu in zip(names, (3.0, -10.0, 0.5), strict=True)])
    return View(meta=_meta("sweep", "sobol", factors, 12, sd), points=pts,
                runs=_runs(list(range(12)), sd, rng), sobol=sob, morris=mor,
                seed_share={"wrongful_restricted_days": 0.1, "restricted_final_day": None},
                seed_noise_share={"wrongful_restricted_days": 0.04, "restricted_final_day": None})


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


# -------------------------------------------------------------------- bands
def test_bands_match_numpy():
    rng = np.random.default_rng(0)
    d = _daily([0, 1], list(range(7)), 5, rng)
    d.loc[0, "mean_score"] = np.nan  # point 0, seed 0, day 0  # one missing value is skipped
    b = plots.bands(d)
    assert list(b.columns) == ["point", "day", "series", "q05", "q25", "q50", "q75", "q95", "n"]
    assert len(b) == 2 * 5 * len(SERIES)
    for (p, day, s), row in b.set_index(["point", "day", "series"]).iterrows():
        v = d[(d.point == p) & (d.day == day)][s].dropna().to_numpy(dtype=float)
        assert row["n"] == len(v)
        np.testing.assert_allclose(row[["q05", "q25", "q50", "q75", "q95"]].to_numpy(dtype=float),
                                   np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95]))
    assert b[(b.point == 0) & (b.day == 0) & (b.series == "mean_score")]["n"].item() == 6


# -------------------------------------------------------------------- plots
def test_fan_one_line_and_two_bands_per_arm():
    v = compare_view()
    ax = plots.fan(v, "restricted").axes[0]
    assert [ln.get_label() for ln in ax.get_lines()] == ["baseline", "fpir=0.03", "court-blacklist"]
    assert len(ax.collections) == 6
    med = plots.bands(v.daily[["point", "seed", "day", "restricted"]])
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), med[med.point == 1]["q50"])


def test_fan_caps_points_and_says_so():
    rng = np.random.default_rng(5)
    pts = list(range(11))
    v = View(meta=_meta("sweep", "lhs", [], 11, [1, 2]), points=pd.DataFrame({"point": pts, "label": pts}),
             runs=_runs(pts, [1, 2], rng), daily=_daily(pts, [1, 2], 4, rng))
    ax = plots.fan(v, "restricted").axes[0]
    assert len(ax.get_lines()) == plots.MAX_FAN_POINTS
    assert "first 8 of 11" in ax.get_title()


def test_difference_panel_rows_and_errorbars():
    v = compare_view()
    fig = plots.difference_panel(v)
    assert len(fig.axes) == 2  # meta's two outputs, a panel each
    for ax in fig.axes:
        assert sum(isinstance(c, ErrorbarContainer) for c in ax.containers) == 2
        # labels in the order given, first on top
        assert [t.get_text() for t in ax.get_yticklabels()] == ["fpir=0.03", "court-blacklist"]
        assert any(np.allclose(ln.get_xdata(), 0) for ln in ax.get_lines())  # the zero line
    _, one = plt.subplots()
    plots.difference_panel(v, ax=one)
    assert sum(isinstance(c, ErrorbarContainer) for c in one.containers) == 4


def test_sobol_bars_grouped_with_whiskers():
    v = sobol_view()
    ax = plots.sobol_bars(v).axes[0]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 2 and all(len(b) == 3 for b in bars)
    assert all(b.errorbar is not None for b in bars)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["decay", "fpir", "appeal"]  # ST ascending upwards
    assert [round(p.get_width(), 6) for p in bars[1]] == [0.15, 0.3, 0.7]
    assert "10%" in ax.get_title()


def test_tornado_sorted_by_abs_swing():
    v = grid_view()
    v.effects = pd.concat([v.effects, pd.DataFrame([{"output": "wrongful_restricted_days", "factor": "decay",
                                                      "low_value": 1, "high_value": 2, "at_low": 3300.0,
                                                      "at_high": 2300.0, "swing": -1000.0}])])
    ax = plots.tornado(v).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["appeal", "decay", "fpir"]  # largest on top
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 2 and all(len(b) == 3 for b in bars)
    centre = v.runs["wrongful_restricted_days"].mean()
    tops = [p.get_x() + p.get_width() for p in bars[1]]  # the high-value bars end at at_high
    np.testing.assert_allclose(tops, [3000.0, 2300.0, 5500.0])
    assert all(np.isclose(p.get_x(), centre) for p in bars[0])


def test_morris_points_annotated():
    v = sobol_view()
    ax = plots.morris_plot(v, "restricted_final_day").axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["appeal", "decay", "fpir"]
    assert sum(isinstance(c, ErrorbarContainer) for c in ax.containers) == 1
    off = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    np.testing.assert_allclose(off.lines[0].get_xdata(), [3.0, 10.0, 0.5])


def test_heatmap_annotates_means():
    v = grid_view()
    ax = plots.heatmap(v).axes[0]
    assert len(ax.images) == 1 and isinstance(ax.images[0], AxesImage)
    d = v.runs.merge(v.points, on="point").groupby(["appeal", "fpir"])["wrongful_restricted_days"].mean()
    assert sorted(t.get_text() for t in ax.texts) == sorted(plots.fmt(x) for x in d)
    assert ax.texts[0].get_text() == plots.fmt(d.loc[(0.1, 0.01)])  # first cell: lowest of both factors
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.01", "0.03", "0.1"]
    assert ax.get_xlabel() == "fpir" and ax.get_ylabel() == "appeal"


def test_heatmap_colourbar_label_fits_in_the_figure():
    v = grid_view()
    v.meta["metric_labels"]["wrongful_restricted_days"] = "agent-days restricted because of a false record"
    fig = plots.heatmap(v)
    fig.canvas.draw()
    cbar = fig.axes[1]
    text = cbar.yaxis.label
    box = text.get_window_extent(fig.canvas.get_renderer())
    assert "false record" in text.get_text()
    assert box.y0 >= 0 and box.y1 <= fig.bbox.height and box.x1 <= fig.bbox.width
    _title_fits(fig)


def _title_fits(fig) -> None:
    fig.canvas.draw()
    title = fig.axes[0].title
    box = title.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height, title.get_text()


def test_long_titles_are_wrapped_to_the_figure():
    v = sobol_view()
    v.meta["metric_labels"]["wrongful_restricted_days"] = "agent-days restricted because of a false record"
    v.seed_noise_share = {"wrongful_restricted_days": 0.04}
    fig = plots.sobol_bars(v, "wrongful_restricted_days")
    assert "4% not shared by all points" in fig.axes[0].get_title().replace("\n", " ")
    _title_fits(fig)
    _title_fits(plots.tornado(grid_view()))


def test_heatmap_needs_two_factor_grid():
    ax = plots.heatmap(sobol_view()).axes[0]
    assert not ax.images and "exactly 2 factors" in ax.texts[0].get_text()


def test_plot_dispatch_and_unknown_kind():
    v = compare_view()
    assert len(plots.plot(v, "fan").axes[0].get_lines()) == 3
    assert plots.plot(v, "fan", series="grade_A").axes[0].get_ylabel() == "agents holding grade A"
    with pytest.raises(ValueError, match="fan, differences, sobol, tornado, morris, heatmap"):
        plots.plot(v, "violin")


def test_all_zero_and_missing_do_not_crash():
    v = compare_view()
    assert plots.fan(v, "grade_D").axes[0].get_ylim() == (0, 1)
    g = grid_view()
    g.runs["wrongful_restricted_days"] = 0.0
    g.effects[["at_low", "at_high", "swing"]] = 0.0
    s = sobol_view()
    for col in ("S1", "S1_low", "S1_high", "ST", "ST_low", "ST_high"):
        s.sobol[col] = 0.0
    s.morris[["mu", "mu_star", "mu_star_low", "mu_star_high", "sigma"]] = 0.0
    figs = [plots.difference_panel(v), plots.heatmap(g), plots.tornado(g), plots.sobol_bars(s),
            plots.morris_plot(s), plots.fan(v, "no_such_series"), plots.sobol_bars(g), plots.morris_plot(g),
            plots.tornado(s), plots.difference_panel(g)]
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figs)
    assert set(plots.heatmap(g).axes[0].texts[k].get_text() for k in range(6)) == {"0"}
    for f in figs:
        f.canvas.draw()  # rendering, not only building, must work


def test_fmt():
    assert [plots.fmt(x) for x in (0, 1234567, 1234567.8, 12.345, 0.001234, float("nan"), None, -2.5)] == \
        ["0", "1,234,567", "1,230,000", "12.3", "0.00123", "—", "—", "-2.50"]


# -------------------------------------------------------------------- report
def _pngs(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', html)


def _check_pngs(path, html):
    files = _pngs(html)
    assert files and len(files) == len(set(files))
    for rel in files:
        assert (path.parent / rel).stat().st_size > 1000
    assert "<script" not in html.lower() and "<link" not in html and "url(" not in html
    assert all(not rel.startswith(("http:", "https:", "/")) for rel in files)
    return files


def test_report_compare(tmp_path):
    v = compare_view(label_b="<script>alert(1)</script>")
    path = write_report(v, tmp_path / "cmp")
    html = path.read_text()
    files = _check_pngs(path, html)
    for heading in ("What was run", "Main outputs", "Over time", "Side by side",
                    "Differences from the baseline", "Difference panel"):
        assert f">{heading}</h" in html
    assert "same random draws" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "plots/differences.png" in files and "plots/fan-restricted.png" in files
    assert "plots/fan-grade_D.png" not in files  # an all-zero series gets no fan chart
    assert "plots/fan-mean_score.png" not in files
    assert "wrongful restricted days" in html  # meta's label
    assert not any("sobol" in f or "heatmap" in f for f in files)


def test_report_compare_one_seed(tmp_path):
    html = write_report(compare_view(seeds=1), tmp_path).read_text()
    assert "— (one seed)" in html


def test_report_replicates_without_daily(tmp_path):
    v = replicates_view()
    html = write_report(v, tmp_path / "a").read_text()
    assert ">Over time</h2>" in html and "fan-falsely_restricted.png" in html
    v.daily = None
    path = write_report(v, tmp_path / "b")
    html = path.read_text()
    assert ">Main outputs</h2>" in html and "Over time" not in html and not _pngs(html)
    assert list((tmp_path / "b" / "plots").iterdir()) == []


def test_report_grid_sweep(tmp_path):
    path = write_report(grid_view(), tmp_path)
    html = path.read_text()
    files = _check_pngs(path, html)
    assert set(files) == {"plots/heatmap-wrongful_restricted_days.png",
                          "plots/heatmap-restricted_final_day.png",
                          "plots/tornado-wrongful_restricted_days.png"}
    assert ">Grid</h2>" in html and ">Sensitivity</h2>" in html and ">Top factors</h3>" in html
    assert "detection.errors.cameras.fpir" in html and "fpir=0.01, appeal=0.1" in html


def test_report_sobol_sweep(tmp_path):
    path = write_report(sobol_view(), tmp_path)
    html = path.read_text()
    files = _check_pngs(path, html)
    assert {"plots/sobol-wrongful_restricted_days.png", "plots/morris-restricted_final_day.png"} <= set(files)
    assert not any("heatmap" in f or "tornado" in f for f in files)
    assert "S1 is the share" in html and "10.0%" in html and "not estimated" in html
    # both shares, each explained in a sentence, one row per output
    assert "The seed share is" in html and "The seed noise share is" in html and "4.0%" in html
    top = html.split("Top factors")[1]
    assert top.index("appeal") < top.index("fpir") < top.index("decay")


def test_report_sweep_without_sensitivity(tmp_path):
    v = replace(sobol_view(), sobol=None, morris=None, seed_share=None)
    html = write_report(v, tmp_path).read_text()
    assert "Sensitivity" not in html and "Grid" not in html and not _pngs(html)
    assert ">Main outputs</h2>" in html
