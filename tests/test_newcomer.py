"""What a newcomer meets (#16 parts 2 and 8): the resource estimate and the memory stop, the
cold-cache detection, plots that show what they claim, ``credsim regimes`` at 80 columns, the
tutorial's output markers."""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from click.testing import CliRunner

matplotlib.use("Agg")

from conftest import ROOT, make_scenario  # noqa: E402

from credsim import engine  # noqa: E402
from credsim import estimate as est_mod  # noqa: E402
from credsim.cli import main  # noqa: E402
from credsim.errors import ResourceError  # noqa: E402
from credsim.sim import Sim  # noqa: E402


# ---------------------------------------------------------------- the estimate
def _sim(persons: int, **over) -> Sim:
    return Sim(make_scenario(mechanisms=True, population={"persons": persons,
                                                         "community_size": 5_000}, **over))


def test_estimate_structure():
    e = est_mod.estimate(_sim(20_000), workers=1)
    assert isinstance(e, est_mod.Estimate)
    assert e.agents >= 20_000 and e.communities >= 4 and e.workers == 1
    assert e.events > 0 and e.peak_mb > est_mod.PARENT_BASE_MB and e.seconds > 0
    assert e.compile_seconds >= 0
    line = e.line()
    assert "events" in line and "peak memory" in line and " MB" in line


def test_estimate_grows_with_persons():
    """Double the persons (same community size): about double the events and the per-community
    memory times the communities' count stays; the variable part of time and events double."""
    small_sim = _sim(40_000)
    small, big = est_mod.estimate(small_sim, 1), est_mod.estimate(_sim(80_000), 1)
    assert big.events / small.events == pytest.approx(2.0, rel=0.05)
    assert big.agents / small.agents == pytest.approx(2.0, rel=0.05)
    assert big.seconds > small.seconds
    assert big.peak_mb >= small.peak_mb
    # the memory that grows with the population is a community's: peak memory does not grow
    # with the number of communities (they stream through the workers), a community's does
    spec = small_sim.engine_spec()
    base = est_mod.community_bytes(spec, 0, 0, 1)
    one = est_mod.community_bytes(spec, 100_000, 3_000, 1) - base
    two = est_mod.community_bytes(spec, 200_000, 6_000, 1) - base
    assert two / one == pytest.approx(2.0, rel=0.01)


def test_events_match_a_run():
    sim = _sim(20_000)
    e = est_mod.estimate(sim, 1)
    res = sim.run(workers=1, progress=False)
    assert e.events == pytest.approx(res.meta["performance"]["events"], rel=0.25)


def test_memory_stop_and_force(tmp_path, monkeypatch):
    monkeypatch.setattr(est_mod, "available_mb", lambda: 10.0)
    sim = _sim(10_000)
    with pytest.raises(ResourceError, match="--force"):
        sim.run(tmp_path / "r", workers=1, progress=False)
    assert not (tmp_path / "r").exists()  # stopped before anything was made
    res = sim.run(tmp_path / "r", workers=1, progress=False, force=True)
    assert res.meta["persons"] == 10_000


def test_memory_stop_cli(tmp_path, monkeypatch):
    monkeypatch.setattr(est_mod, "available_mb", lambda: 10.0)
    path = tmp_path / "s.toml"
    path.write_text('name = "tiny"\nseed = 1\ndays = 20\n[population]\npersons = 2000\n'
                    'community_size = 1000\n[regime]\nuse = "ficp"\n[output]\nreport = false\n')
    r = CliRunner().invoke(main, ["run", str(path), "-q", "-o", str(tmp_path / "out"), "--workers", "1"])
    assert r.exit_code == 2 and "--force" in r.output and "available" in r.output
    r = CliRunner().invoke(main, ["run", str(path), "-q", "-o", str(tmp_path / "out"), "--workers",
                                  "1", "--force"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["validate", str(path)])
    assert r.exit_code == 0 and "estimate:" in r.output and "warning" in r.output


def test_cold_cache_detected_without_compiling(tmp_path):
    from credsim.layout import FEAT_ALL

    assert est_mod.kernel_cached(FEAT_ALL, tmp_path) is False
    assert est_mod.kernel_cached(0, tmp_path) is False
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # nothing compiled or written


def test_compiling_announced_on_a_cold_cache(monkeypatch):
    monkeypatch.setattr(est_mod, "kernel_cached", lambda features, cache_dir=None: False)
    e = est_mod.estimate(_sim(10_000), 1)
    assert e.compile_seconds > 60 and "compiling the kernels first" in e.line()
    monkeypatch.setattr(est_mod, "kernel_cached", lambda features, cache_dir=None: True)
    assert est_mod.estimate(_sim(10_000), 1).compile_seconds == 0


def test_cold_cache_compiles_in_the_parent_first(monkeypatch, capsys):
    """With several workers on a cold cache the parent compiles (a slice of the first
    community) before any worker starts."""
    calls = []
    monkeypatch.setattr(est_mod, "kernel_cached", lambda features, cache_dir=None: False)
    monkeypatch.setattr(est_mod, "warm_spec", lambda spec, c: calls.append(c.index) or 0.0)
    sim = _sim(10_000)
    sim._check_resources(2, None, False, True)
    assert calls == [sim.plan.communities[0].index]
    assert "compiling the kernels once in this process" in capsys.readouterr().err


# ---------------------------------------------------------------- plots
@pytest.fixture(scope="module")
def runs():
    with_lists = Sim(make_scenario(mechanisms=True, days=60)).run(workers=1, progress=False)
    no_lists = Sim(make_scenario(mechanisms=True, days=60, regime={"use": "permis-a-points"},
                                 behaviour={"catalogue": "default"})).run(workers=1, progress=False)
    return with_lists, no_lists


def _axes_with_data(fig):
    return [ax for ax in fig.axes if ax.lines or ax.patches or ax.collections]


def test_report_writes_no_empty_frame(runs, tmp_path):
    from credsim import plots
    from credsim.report import write_plots

    for res in runs:
        files = write_plots(res, tmp_path / res.meta["regime"])
        if not res.meta["lists"]:
            assert "lists" not in files
        for kind in files:
            fig = plots.plot(res, kind)
            try:
                assert _axes_with_data(fig), kind
                for ax in fig.axes:
                    if ax.get_label() == "<colorbar>":
                        continue
                    assert ax.get_title(), kind
            finally:
                matplotlib.pyplot.close(fig)


def test_grades_log_panel_when_one_grade_dominates(runs):
    from credsim import plots

    res = runs[1]  # permis-a-points: almost everyone keeps 12 points
    grades, shares = plots._grade_shares(res)
    fig = plots.plot(res, "grades")
    try:
        top = max(float(s.max()) for s in shares if s.notna().any())
        if top >= plots.DOMINANT_SHARE:
            assert len(fig.axes) >= 2
            log = [ax for ax in fig.axes if ax.get_yscale() == "log"]
            assert log and len(log[0].lines) == sum(1 for s in shares if (s > 0).any())
    finally:
        matplotlib.pyplot.close(fig)


def test_equal_sanction_lines_are_told_apart(runs):
    """Sanctions with the same daily counts are one line naming them all, not lines hidden
    under each other; every line has markers (staggered) and a label."""
    from credsim import plots

    for res in runs:
        names = res.meta["sanctions"]
        fig = plots.plot(res, "sanctions")
        try:
            lines = [ln for ax in fig.axes for ln in ax.lines]
            groups = plots._same_series(res, names)
            assert sum(len(g) for g in groups) == len(names)
            assert len(lines) == len(plots._same_series(res, [n for n in names if res.meta.get(
                "sanction_kinds", {}).get(n) == "privilege"])) + len(plots._same_series(res, [
                    n for n in names if res.meta.get("sanction_kinds", {}).get(n) != "privilege"]))
            ys = [np.asarray(ln.get_ydata()).tobytes() for ln in lines]
            assert len(set(ys)) == len(ys)  # no line drawn over another
            assert all(ln.get_marker() not in (None, "None", "") for ln in lines)
            for g in groups:
                if len(g) > 1:
                    assert any(f"{len(g)} with the same counts" in ln.get_label() for ln in lines)
        finally:
            matplotlib.pyplot.close(fig)


def test_acts_plot_log_scale_and_every_bar(runs):
    from credsim import plots

    res = runs[0]
    fig = plots.plot(res, "acts")
    try:
        ax = fig.axes[0]
        assert ax.get_xscale() == "log"
        n_acts = len(ax.get_yticks())
        cols = [c for c in ("true", "recorded", "false") if c in plots._act_totals(res)]
        assert len(ax.patches) == n_acts * len(cols)
        fig.canvas.draw()
        title = ax.title.get_window_extent()
        assert title.x0 >= 0 and title.x1 <= fig.bbox.width + 1  # the title is not cut
    finally:
        matplotlib.pyplot.close(fig)


def test_share_labels_tell_small_values_apart():
    from credsim.plots import _pct

    assert _pct(0.086, sign=False) == "0.086" and _pct(0.097, sign=False) == "0.097"
    assert _pct(0.12) == "0.12%" and _pct(0) == "0%" and _pct(37.4) == "37%"
    assert _pct(float("nan")) == ""


# ---------------------------------------------------------------- credsim regimes
def test_regimes_fit_80_columns():
    r = CliRunner().invoke(main, ["regimes"])
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert max(len(x) for x in lines) <= 80
    rows = CliRunner().invoke(main, ["regimes", "--json"]).output
    import json

    for row in json.loads(rows):
        head = next(x for x in lines if x.startswith(row["name"] + ":"))
        assert f"{row['values']} values, {row['assumptions']} labelled assumptions" in head
        assert f"{len(row['sources'])} with a source" in head
        assert row["values"] == row["assumptions"] + len(row["sources"]) or row["sources"]
    # a shortened source ends at a word, with " ..."
    for x in lines:
        if x.startswith("  - ") and x.endswith("..."):
            assert x.endswith(" ...")


# ---------------------------------------------------------------- the tutorial's outputs
def _tutorial_module():
    spec = importlib.util.spec_from_file_location("tutorial_outputs", ROOT / "docs" / "tutorial_outputs.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["tutorial_outputs"] = mod  # its dataclass looks its module up
    spec.loader.exec_module(mod)
    return mod


def test_tutorial_markers_are_well_formed_and_real_commands():
    mod = _tutorial_module()
    text = mod.TUTORIAL.read_text(encoding="utf-8")
    found = mod.markers(text)
    lines = text.splitlines()
    outputs = [m for m in found if m.what == "output"]
    assert len(outputs) >= 30
    # every chapter from 1 to 10 shows at least one regenerated output
    chapters = [i for i, x in enumerate(lines) if x.startswith("## ")]
    for lo, hi in zip(chapters, chapters[1:], strict=False):
        if lines[lo].startswith("## Where next"):
            continue
        assert any(lo < m.line < hi for m in outputs), f"{lines[lo]}: no marked output"
    commands = set(main.commands)
    made: set[str] = {m.cmd for m in found if m.what == "file"}  # the files the tutorial writes
    for m in outputs:
        assert lines[m.start + 1] == f"$ {m.commands[0]}", f"line {m.start + 2}: starts with $ COMMAND"
        for cmd in m.commands:
            made.update(w for w in shlex.split(cmd) if w.startswith("/tmp/cdoc/"))  # sed ... > FILE
            for words in mod.programs(cmd):
                assert words and words[0] in mod.PROGRAMS, cmd
                if words[0] != "credsim":
                    continue
                assert words[1] in commands, f"{cmd}: no credsim command {words[1]!r}"
                for w in words[2:]:
                    if w.endswith((".toml", ".csv")) and "*" not in w:
                        here = str(Path(m.cwd) / w) if m.cwd else w
                        assert (ROOT / w).is_file() or here in made, f"{cmd}: {w} is not there"
    assert [m.what for m in found].count("transcript") == 1  # the Ctrl-C of a sweep alone


def test_every_block_showing_a_command_is_marked():
    mod = _tutorial_module()
    assert mod.unmarked(mod.TUTORIAL.read_text(encoding="utf-8")) == []
    assert mod.unmarked("text\n```\n$ credsim regimes\nfoo\n```\n") == [2]
    assert mod.unmarked("<!-- output: credsim regimes -->\n```\n$ credsim regimes\n```\n") == []


CHEAP = ("credsim validate", "credsim regimes", "credsim explain --regime", "mkdir", "sed", "diff",
         "cat")  # commands that simulate nothing: run by the test below


def test_tutorial_outputs_that_need_no_run_are_up_to_date(tmp_path):
    """The blocks of validate, regimes, explain --regime and the file edits, regenerated in a
    folder of the test's own: a change to their output makes the tutorial stale and fails here
    (``python docs/tutorial_outputs.py`` rewrites them; the blocks of runs are regenerated by
    the same script, not in the tests)."""
    mod = _tutorial_module()
    text = mod.TUTORIAL.read_text(encoding="utf-8")

    def cheap(m) -> bool:
        return all(c.startswith(CHEAP) for c in m.commands)

    assert sum(cheap(m) for m in mod.markers(text) if m.what == "output") >= 8
    new, stale = mod.regenerate(text, cheap, work=str(tmp_path / "cdoc"))
    assert stale == [], f"stale blocks (run python docs/tutorial_outputs.py): {stale}"
    assert new == text
    # and the comparison catches a change
    edited = text.replace("valid regime (checked against the catalogue default)",
                          "valid regime (checked against nothing)", 1)
    _, stale = mod.regenerate(edited, cheap, work=str(tmp_path / "cdoc2"))
    assert any(c.startswith("credsim validate scenarios/") for c in stale)


def test_tutorial_marker_errors():
    mod = _tutorial_module()
    with pytest.raises(ValueError, match="followed by"):
        mod.markers("<!-- output: credsim regimes -->\ntext\n")
    with pytest.raises(ValueError, match="never closed"):
        mod.markers("<!-- output: credsim regimes -->\n```\n$ credsim regimes\n")
    with pytest.raises(ValueError, match="COMMAND"):
        mod.markers("<!-- output credsim regimes -->\n```\n```\n")
    with pytest.raises(ValueError, match="bare"):
        mod.markers("<!-- output: credsim regimes -->\n```toml\n```\n")
    m = mod.markers("<!-- output in /tmp/x, varies: ls ;; cat a -->\n```\n```\n")[0]
    assert (m.cwd, m.varies, m.commands) == ("/tmp/x", True, ["ls", "cat a"])
    assert mod.programs("credsim regimes | head -n 16") == [["credsim", "regimes"], ["head", "-n", "16"]]
    assert shlex.split(mod.shell_line("credsim regimes"))[1:3] == ["-m", "credsim.cli"]


def test_warm_restores_the_kernel_choice():
    """``credsim compile --jobs 1`` warms every kind in one process: the lean kind must not
    leave the lean kernel forced for the links kind (it failed the end-of-run check)."""
    from credsim import engine
    from credsim.warmup import warm

    chosen = engine.mechanism_features
    warm("lean")
    assert engine.mechanism_features is chosen


# ---------------------------------------------------------------- the estimate's constants
def _bench_estimate():
    spec = importlib.util.spec_from_file_location("bench_estimate", ROOT / "benchmarks" / "estimate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_estimate_is_checked_on_runs_it_was_not_fitted_on():
    mod = _bench_estimate()
    fitted = {tuple(a) for _, a in mod.FIT}
    held = {tuple(a) for _, a in mod.HELD_OUT}
    assert len(held) >= 3 and not fitted & held
    # at least two held-out runs are of scenarios the fit never saw at all
    assert len({a[0] for a in held} - {a[0] for a in fitted}) >= 2
    # and the shipped court-blacklist (its own weekly epochs over 4,475 days) is checked: the fit
    # sees it only at another size, for the epochs' and the long tables' costs
    cb = [a for a in held if a[0] == "scenarios/court-blacklist.toml"]
    assert cb and not any("epoch_days" in x for x in cb[0])
    size = [x for x in cb[0] if x.startswith("population.")]
    assert size and all(a[0] != "scenarios/court-blacklist.toml" or not set(size) & set(a)
                        for a in fitted)


def test_fit_recovers_the_constants_of_the_model(monkeypatch):
    """Rows made by the estimate's own formulas with known constants: the fit finds them."""
    mod = _bench_estimate()
    # start-up's processor time is held at the benchmark's START_CPU / WORKER_CPU, the rest fitted
    truth = {"CPU_START_SECONDS": mod.START_CPU, "WORKER_START_CPU_SECONDS": mod.WORKER_CPU,
             "PARENT_BASE_MB": 300.0, "WORKER_BASE_MB": 120.0, "TABLES_FACTOR": 2.0,
             "NS_PER_AGENT_EPOCH": 80.0, "EPOCH_SECONDS": 0.01, "NS_PER_PEER_AGENT": 250.0,
             "NS_PER_TABLE_VALUE": 150.0}
    rows = []
    for i, (agents, events, red, workers, epochs, peer) in enumerate(
            [(1e6, 9e6, 40.0, 2, 0, 0), (1.5e6, 7e7, 90.0, 2, 51, 1), (3e5, 3e6, 15.0, 1, 0, 0),
             (3e6, 3e7, 60.0, 2, 0, 0), (1e6, 5e7, 120.0, 2, 639, 0), (2e6, 2e7, 30.0, 1, 0, 0),
             (3e5, 1e6, 1500.0, 2, 319, 0), (3e5, 3e6, 100.0, 2, 182, 1)]):
        comms = 10 + i
        t = est_mod.Terms(agents=int(agents), agent_days=int(agents * 365), events=events,
                          communities=comms, workers=workers, parallel=2, runs=1 + (i == 3),
                          cells=10_000_000 * (i + 1) ** 2, community_mb=50.0 + 10 * i, reduction_mb=red,
                          tables_mb=red * (1.1 + 0.3 * (i % 3)), epoch_passes=int(agents) * epochs,
                          community_epochs=comms * epochs,
                          peer_passes=int(agents) * epochs * peer)
        with monkeypatch.context() as m:
            for k, v in truth.items():
                m.setattr(est_mod, k, v)
            rows.append((t, est_mod.peak_mb(t), est_mod.cpu_seconds(t)))
    got = mod.fit(rows)
    for k, v in truth.items():
        assert got[k] == pytest.approx(v, rel=1e-6), k


# ---------------------------------------------------------------- the estimate's terms
def _shipped(name: str, **sets) -> Sim:
    from credsim.scenario import Scenario

    sc = Scenario.from_file(ROOT / "scenarios" / f"{name}.toml")
    return Sim(sc.with_overrides(sets, source="test") if sets else sc)


def test_epochs_counted_where_links_stop_agents():
    """court-blacklist's links (legal representatives' sanctions reaching household children)
    cannot be replayed: every agent stops at each weekly boundary of its 4,475 days, 640 kernel
    calls; demo's are replayed (one pass) and sesame has no links (one pass)."""
    cb = _shipped("court-blacklist", **{"population.scale": 0.0001})
    spec = cb.engine_spec()
    assert engine.link_mode(spec)[0] and not engine.link_mode(spec)[3]
    assert spec.days == 4475 and spec.epoch_days == 7
    assert est_mod.epoch_calls(spec) == 640  # ceil(4475 / 7)
    t = est_mod.terms(cb, workers=2)
    assert t.epoch_passes == t.agents * 639 and t.community_epochs == t.communities * 639
    assert est_mod.epoch_calls(_shipped("court-blacklist", epoch_days=14).engine_spec()) == 320
    for name in ("demo", "sesame"):
        t = est_mod.terms(_shipped(name), workers=2)
        assert t.epoch_passes == 0 and t.community_epochs == 0, name
    # the epochs are what makes court-blacklist's time: more than its agent-days
    t = est_mod.terms(cb, workers=2)
    assert t.epoch_passes * est_mod.NS_PER_AGENT_EPOCH > t.agent_days * est_mod.NS_PER_AGENT_DAY


def test_reduction_bytes_are_the_reductions_arrays():
    """The estimate's reduction is exactly the arrays ``collect.Reduction.empty`` allocates."""
    from credsim.collect import Reduction

    sim = _sim(10_000)
    spec = sim.engine_spec()
    scores = sim.regime.score.max - sim.regime.score.min + 1
    for provinces in (1, 3):
        red = Reduction.empty(provinces, spec.days, spec.n_grades + 1, spec.measures.count,
                              len(sim.catalogue.acts), scores)
        have = sum(a.nbytes for a in (red.level, red.acts_day, red.acts_grade, red.score_hist,
                                      red.tickets))
        assert est_mod.reduction_bytes(spec, provinces, len(sim.catalogue.acts), scores) == have


def test_tables_scale_with_days_measures_and_provinces():
    """collect's daily levels and table: days x groups x grades x provinces rows, a column per
    measure plus the keys, acts and tickets: linear in days and provinces."""
    from credsim.layout import GROUPS

    spec = _sim(10_000).engine_spec()
    one = est_mod.tables_bytes(spec, 1)
    assert est_mod.tables_bytes(spec, 31) == 31 * one
    rows = spec.days * len(GROUPS) * (spec.n_grades + 1)
    assert one == 8 * rows * (spec.measures.count + est_mod.daily_columns(spec))
    longer = _sim(10_000, days=400).engine_spec()
    assert est_mod.tables_bytes(longer, 1) == pytest.approx(one * 400 / spec.days)
    # court-blacklist over 4,475 days: its reduction and tables, not its agents, make its peak
    cb = est_mod.terms(_shipped("court-blacklist", **{"population.scale": 0.0001}), workers=2)
    assert cb.reduction_mb + est_mod.TABLES_FACTOR * cb.tables_mb > 2 * cb.workers * cb.community_mb
