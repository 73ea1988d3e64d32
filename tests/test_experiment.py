"""The experiment layer end to end: Sobol and Morris through the machinery (model stubs), common
random numbers with the simulator, kill and resume, executors that agree, bad experiment files,
replicates. Small scenarios: the point is the machinery, not the model."""

from __future__ import annotations

import hashlib
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import stubs
from click.testing import CliRunner

from credsim.cli import main
from credsim.errors import ConfigError
from credsim.experiment import Experiment
from credsim.experiment.results import ExperimentResults
from credsim.experiment.store import RunStore

TESTS = Path(__file__).parent
ROOT = TESTS.parent
RONGCHENG = ROOT / "scenarios" / "rongcheng.toml"
DEMO = ROOT / "scenarios" / "demo.toml"
# a tiny run of a shipped scenario: one community, no report, no chilling rerun
TINY = {"population.persons": 4000, "days": 60, "output.report": False,
        "output.chilling_baseline": False, "output.panel_agents": 0}


@pytest.fixture(autouse=True)
def _worker_path(monkeypatch):
    """Spawned workers (local processes, Dask) import the stubs and this credsim."""
    parts = [str(TESTS), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in parts if p))


def toml_table(d: dict) -> str:
    def v(x):
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, str):
            return f'"{x}"'
        return repr(x)

    return "".join(f'"{k}" = {v(x)}\n' for k, x in d.items())


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def digest(df: pd.DataFrame) -> str:
    """A table's digest, rows in (point, seed[, day]) order, columns by name."""
    keys = [c for c in ("point", "seed", "day") if c in df.columns]
    df = df.sort_values(keys).reset_index(drop=True)[sorted(df.columns)]
    return hashlib.sha256(pd.util.hash_pandas_object(df, index=False).values.tobytes()).hexdigest()


# ====================================================================== 2. Sobol and Morris (stubs)
def sobol_file(tmp_path: Path, n: int, seed: int) -> Path:
    factors = "".join(f'[[factors]]\npath = "x{i}"\nrange = [{-math.pi!r}, {math.pi!r}]\n' for i in (1, 2, 3))
    return write(tmp_path, "ishigami.toml", f'''
name = "ishigami"
scenario = "{RONGCHENG}"
outputs = ["score_mean_end"]
daily = false
[design]
kind = "sobol"
samples = {n}
seed = {seed}
{factors}''')


def test_sobol_on_ishigami_matches_the_analytic_indices(tmp_path):
    # N = 256 base samples: 1,280 runs. The 95% intervals hold all six analytic indices for 9 of
    # 10 design seeds at this N (design seed 0 puts S1(x3)'s interval just below 0): seed 1 is one
    # of the nine; N = 1024 covers all ten but takes four times as long.
    exp = Experiment.from_file(sobol_file(tmp_path, 256, 1))
    assert exp.kind == "sweep" and exp.n_runs == 256 * 5
    out = tmp_path / "sob"
    res = exp.run(out, model=stubs.ishigami, workers=1, progress=False)
    s = res.sobol.set_index("factor")
    assert list(s.index) == ["x1", "x2", "x3"]
    assert (s.output == "score_mean_end").all()
    for f, s1, st in zip(("x1", "x2", "x3"), stubs.ISHIGAMI_S1, stubs.ISHIGAMI_ST, strict=True):
        r = s.loc[f]
        assert r.S1_low <= s1 <= r.S1_high, (f, s1, r.to_dict())
        assert r.ST_low <= st <= r.ST_high, (f, st, r.to_dict())
        assert abs(r.S1 - s1) < 0.1 and abs(r.ST - st) < 0.05, (f, r.to_dict())
    # the stored analysis is the same table
    assert pd.read_parquet(out / "sobol.parquet").equals(res.sobol)
    # the run table is queryable and complete: one row per point
    cli = CliRunner().invoke(main, ["query", str(out), "select count(*) as n from runs", "--csv"])
    assert cli.exit_code == 0, cli.output
    assert cli.output == f"n\n{exp.n_runs}\n"
    assert res.sql("select count(distinct point) as n from runs").n[0] == exp.n_runs
    # the stub received the design's values
    pts = res.points.set_index("point")
    row = res.runs.set_index("point").loc[7]
    x = {k: pts.loc[7, k] for k in ("x1", "x2", "x3")}
    assert row.score_mean_end == stubs.ishigami(x, 0)["score_mean_end"]


def test_morris_on_a_linear_model_gives_b_times_range(tmp_path):
    ranges = {"a": (0.0, 1.0), "b": (10.0, 20.0), "c": (-1.0, 1.0)}
    factors = "".join(f'[[factors]]\npath = "{k}"\nrange = [{lo!r}, {hi!r}]\n'
                      for k, (lo, hi) in ranges.items())
    path = write(tmp_path, "morris.toml", f'''
name = "linear"
scenario = "{RONGCHENG}"
outputs = ["score_mean_end"]
daily = false
[design]
kind = "morris"
samples = 8
levels = 4
{factors}''')
    exp = Experiment.from_file(path)
    assert exp.n_runs == 8 * 4
    res = exp.run(tmp_path / "morris", model=stubs.linear, workers=1, progress=False)
    m = res.morris.set_index("factor")
    for k, (lo, hi) in ranges.items():
        b = stubs.LINEAR[k]
        assert m.loc[k, "mu_star"] == pytest.approx(abs(b) * (hi - lo), rel=1e-9, abs=1e-12)
        assert m.loc[k, "mu"] == pytest.approx(b * (hi - lo), rel=1e-9, abs=1e-12)
        assert m.loc[k, "sigma"] == pytest.approx(0.0, abs=1e-9)
    assert res.sql("select count(*) as n from runs").n[0] == 32


def _ishigami_morris_analytic(levels: int = 4) -> dict[str, tuple[float, float, float]]:
    """Morris mu*, mu and sigma of Ishigami on the ``levels`` grid of the unit cube, exactly: the
    elementary effect (f(x + D e_i) - f(x)) / D, D = p / (2 (p - 1)), over every grid point a
    trajectory can step from (x_i in the lower half, the other inputs on any level)."""
    import itertools

    def f(u):
        x = {f"x{j + 1}": -math.pi + 2 * math.pi * v for j, v in enumerate(u)}
        return stubs.ishigami(x, 0)["score_mean_end"]

    grid = [k / (levels - 1) for k in range(levels)]
    step = levels / (2 * (levels - 1))
    out = {}
    for i in range(3):
        ee = []
        for base in grid[: levels // 2]:
            for rest in itertools.product(grid, repeat=2):
                u = list(rest)
                u.insert(i, base)
                v = list(u)
                v[i] += step
                ee.append((f(v) - f(u)) / step)
        e = np.array(ee)
        out[f"x{i + 1}"] = (float(np.abs(e).mean()), float(e.mean()), float(e.std()))
    return out


def test_morris_on_ishigami_matches_the_analytic_screening(tmp_path):
    # r = 100 trajectories (400 runs): the analytic mu* of each factor lies in its bootstrap
    # interval (design seeds 1 to 5 all do; x2's elementary effects all have the same size, so
    # its mu* is exact and its interval has no width)
    factors = "".join(f'[[factors]]\npath = "x{i}"\nrange = [{-math.pi!r}, {math.pi!r}]\n' for i in (1, 2, 3))
    path = write(tmp_path, "morris.toml", f'''
name = "ishigami-morris"
scenario = "{RONGCHENG}"
outputs = ["score_mean_end"]
daily = false
[design]
kind = "morris"
samples = 100
levels = 4
seed = 2
{factors}''')
    exp = Experiment.from_file(path)
    assert exp.n_runs == 100 * 4
    m = exp.run(tmp_path / "m", model=stubs.ishigami, workers=1, progress=False).morris.set_index("factor")
    for f, (mu_star, mu, sigma) in _ishigami_morris_analytic().items():
        r = m.loc[f]
        assert r.mu_star_low - 1e-9 <= mu_star <= r.mu_star_high + 1e-9, (f, mu_star, r.to_dict())
        assert abs(r.mu - mu) <= 3 * sigma / math.sqrt(100), (f, mu, r.to_dict())  # 3 standard errors
        assert r.sigma == pytest.approx(sigma, rel=0.15), (f, sigma, r.to_dict())
    # x1 moves the output one way only (mu = mu*); x2 and x3 both ways (mu near 0, mu* large)
    assert m.loc["x1", "mu"] == pytest.approx(m.loc["x1", "mu_star"])
    assert abs(m.loc["x2", "mu"]) < 0.2 * m.loc["x2", "mu_star"]


def test_an_output_undefined_in_every_run_does_not_break_the_analysis(tmp_path):
    # it did: the (point x seed) matrix of an all-NaN metric came out empty, passed the "no NaN"
    # check of the analyses and main_effects raised after every run had finished
    path = write(tmp_path, "nan.toml", f'''
name = "nan"
scenario = "{RONGCHENG}"
seeds = 2
outputs = ["score_mean_end", "share_wrongful"]
daily = false
[[factors]]
path = "a"
values = [1.0, 2.0, 3.0]
''')
    res = Experiment.from_file(path).run(tmp_path / "out", model=stubs.undefined_share, workers=1,
                                         progress=False)
    assert res.runs.share_wrongful.isna().all() and len(res.runs) == 6
    e = res.effects
    assert e.output.tolist() == ["score_mean_end"]
    assert (e.at_low.iloc[0], e.at_high.iloc[0]) == (1.0 + 1.5, 3.0 + 1.5)  # mean over seeds 1, 2
    assert np.isnan(res._matrix("share_wrongful")).all() and res._matrix("share_wrongful").shape == (3, 2)


# ====================================================================== 6. bad experiment files
HEAD = f'name = "t"\nscenario = "{RONGCHENG}"\nseeds = 2\n'
FAC = '[[factors]]\npath = "appeals.probability"\nvalues = [0.1, 0.2]\n'
TWO_RANGES = ('[[factors]]\npath = "appeals.probability"\nrange = [0.1, 0.5]\n'
              '[[factors]]\npath = "appeals.delay_days"\nrange = [5, 30]\n')
ARMS_AB = '[[arms]]\nlabel = "a"\n[[arms]]\nlabel = "b"\n'
BAD_FILES = {
    "unknown key": (HEAD + "colour = 1\n" + FAC, "colour: unknown key"),
    "missing scenario": ('name = "t"\n' + FAC, "scenario: required key is missing"),
    "scenario not found": ('name = "t"\nscenario = "nope.toml"\n' + FAC, "nope.toml: file not found"),
    "arm scenario not found": (HEAD + '[[arms]]\nlabel = "a"\n[[arms]]\nlabel = "b"\nscenario = "x.toml"\n',
                               "arms[1].scenario: "),
    "bad design kind": (HEAD + '[design]\nkind = "grd"\n' + FAC,
                        "design.kind: 'grd': Input should be 'grid', 'list', 'lhs', 'sobol' or 'morris'"),
    "sobol not a power of 2": (HEAD + '[design]\nkind = "sobol"\nsamples = 12\n' + TWO_RANGES,
                               "design.samples: 12 is not a power of 2"),
    "list of unequal lengths": (HEAD + '[design]\nkind = "list"\n' + FAC
                                + '[[factors]]\npath = "appeals.delay_days"\nvalues = [1, 2, 3]\n',
                                "factors[1].values: list has 3 values but factors[0] has 2"),
    "values and range": (HEAD + '[[factors]]\npath = "appeals.probability"\nvalues = [0.1]\nrange = [0, 1]\n',
                         "factors[0]: give exactly one of 'values', 'range' or 'distribution' "
                         "(got values and range)"),
    "bad distribution": (HEAD + '[design]\nkind = "lhs"\nsamples = 4\n'
                         '[[factors]]\npath = "appeals.probability"\ndistribution = "nrm"\n',
                         "factors[0].distribution: 'nrm' is not a continuous distribution of scipy.stats"),
    "bad distribution params": (HEAD + '[design]\nkind = "lhs"\nsamples = 4\n[[factors]]\n'
                                'path = "appeals.probability"\ndistribution = "norm"\n'
                                'params = {scale = -1}\n',
                                "factors[0].params: {'scale': -1.0} are not valid for norm"),
    "unknown output": (HEAD + 'outputs = ["wrongful_days"]\n' + FAC,
                       "outputs[0]: 'wrongful_days' is not a metric of the run table"),
    "seeds 0": (HEAD.replace("seeds = 2", "seeds = 0") + FAC, "seeds: 0 should be between 1 and 10000"),
    "duplicate seeds": (HEAD.replace("seeds = 2", "seeds = [3, 3]") + FAC, "seeds: a seed is listed twice"),
    "arms and factors": (HEAD + FAC + ARMS_AB,
                         "arms: give factors (a sweep) or arms (a comparison), not both"),
    "duplicate arm labels": (HEAD + '[[arms]]\nlabel = "a"\n[[arms]]\nlabel = "a"\n',
                             "arms: two arms have the same label"),
    "not TOML": (HEAD + "x = \n", "not valid TOML"),
}
# these are only found when the points are checked against the scenario: before any run
BAD_POINTS = {
    "factor path not in the scenario": (HEAD + '[[factors]]\npath = "appeals.probabilty"\n'
                                        'values = [0.1, 0.2]\n',
                                        "appeals.probabilty: unknown key"),
    "factor value out of bounds": (HEAD + '[[factors]]\npath = "appeals.probability"\nrange = [0, 2]\n',
                                   "appeals.probability: 1.3333333333333333: Input should be less than or "
                                   "equal to 1"),
    "bad common set": (HEAD + '[set]\n"detection.errors.cameras.fpri" = 0.1\n' + FAC,
                       "detection.errors.cameras.fpri: unknown key"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_experiment_file(tmp_path, case):
    text, expected = BAD_FILES[case]
    path = write(tmp_path, "exp.toml", text)
    with pytest.raises(ConfigError) as info:
        Experiment.from_file(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: "), msg
    assert expected in msg, msg
    _cli_fails(tmp_path, path, expected)


@pytest.mark.parametrize("case", BAD_POINTS)
def test_bad_point_fails_before_any_run(tmp_path, case):
    text, expected = BAD_POINTS[case]
    path = write(tmp_path, "exp.toml", text)
    exp = Experiment.from_file(path)  # the file itself is well formed
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as info:
        exp.run(out, workers=1, progress=False)
    msg = str(info.value)
    assert msg.startswith(f"{path}: "), msg
    assert expected in msg, msg
    assert not list(out.rglob("*.parquet")) if out.exists() else True
    _cli_fails(tmp_path, path, expected)
    cli = CliRunner().invoke(main, ["sweep", str(path), "--dry-run"])
    assert cli.exit_code == 2 and expected in cli.stderr, cli.output


def _cli_fails(tmp_path: Path, path: Path, expected: str) -> None:
    out = tmp_path / "cli-out"
    cli = CliRunner().invoke(main, ["sweep", str(path), "-o", str(out), "-q", "--workers", "1"])
    assert cli.exit_code == 2, (cli.output, cli.exception)
    assert isinstance(cli.exception, SystemExit)
    assert expected in cli.stderr and str(path) in cli.stderr, cli.stderr
    assert "Traceback" not in cli.stderr + cli.output
    assert not (out.exists() and list(out.rglob("*.parquet")))


def test_bad_sweep_set_fails_before_any_run(tmp_path):
    path = write(tmp_path, "exp.toml", HEAD + FAC)
    out = tmp_path / "out"
    cli = CliRunner().invoke(main, ["sweep", str(path), "-o", str(out), "-q", "--set", "appeals.delay=3"])
    assert cli.exit_code == 2, cli.output
    assert "appeals.delay: unknown key" in cli.stderr and "Traceback" not in cli.stderr
    assert not (out.exists() and list(out.rglob("*.parquet")))


# ====================================================================== 4. kill and resume
KILL_SCRIPT = """
import sys
import stubs
from credsim.experiment import Experiment
Experiment.from_file(sys.argv[1]).run(sys.argv[2], model=stubs.slow_row, workers=2, progress=False,
                                      resume=len(sys.argv) > 3)
"""


def _stub_sweep(tmp_path: Path) -> Path:
    return write(tmp_path, "stub-sweep.toml", f'''
name = "stub-sweep"
scenario = "{RONGCHENG}"
seeds = 8
outputs = ["score_mean_end", "score_gini"]
daily = false
[[factors]]
path = "a"
values = [0.0, 1.0]
[[factors]]
path = "b"
values = [1.0, 2.0]
[[factors]]
path = "c"
values = [5.0]
''')


def _group_alive(pgid: int) -> list[int]:
    """Processes (not zombies) of process group ``pgid``."""
    alive = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(d.name))
    return alive


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                kids.append(int(d.name))
    return kids


def _start_killable(exp: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(exp), str(out), *extra],
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_runs(proc: subprocess.Popen, out: Path, at_least: int, timeout: float = 60) -> int:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        n = len(RunStore(out).done()) if (out / "experiment.json").exists() else 0
        if n >= at_least:
            return n
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"no {at_least} runs after {timeout} s")


def test_killed_sweep_resumes_to_the_uninterrupted_table(tmp_path):
    exp_path = _stub_sweep(tmp_path)
    exp = Experiment.from_file(exp_path)
    assert exp.n_runs == 32  # 6-7 s on two workers: longer than a store's buffering of rows (5 s)
    ref = exp.run(tmp_path / "ref", model=stubs.stub_row, workers=1, progress=False).runs

    out = tmp_path / "killed"
    proc = _start_killable(exp_path, out)
    _wait_for_runs(proc, out, 3)
    workers = _children(proc.pid)
    assert len(workers) >= 2  # the two workers (and multiprocessing's resource tracker)
    # first the sweep's own process alone, as an OOM killer or `kill -9 PID` does: its workers
    # should notice and exit
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    t0 = time.monotonic()
    while _group_alive(proc.pid) and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    orphans = _group_alive(proc.pid)
    # then the whole process group, as Ctrl-C's harsher cousins do: nothing may survive
    os.killpg(proc.pid, signal.SIGKILL) if orphans else None
    t0 = time.monotonic()
    while _group_alive(proc.pid) and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    assert _group_alive(proc.pid) == [], "processes of the killed sweep survive a SIGKILL of its group"
    assert not any(Path(f"/proc/{w}/stat").exists() and Path(f"/proc/{w}/stat").read_text().split()[2] != "Z"
                   for w in workers)

    done = RunStore(out).done()
    assert 3 <= len(done) < exp.n_runs, len(done)
    partial = RunStore(out).table("runs")
    # resume (here in this process): only the missing runs are run, the table is the whole one
    calls = []

    def counted(overrides, seed):
        calls.append(seed)
        return stubs.stub_row(overrides, seed)

    res = exp.run(out, model=counted, workers=1, progress=False, resume=True)
    assert len(calls) == exp.n_runs - len(done)
    assert res.meta["runs_resumed"] == len(done)
    assert not list(out.rglob("*.tmp"))
    final = res.runs
    assert len(final) == exp.n_runs
    assert digest(final) == digest(ref)
    pd.testing.assert_frame_equal(final, ref)
    pd.testing.assert_frame_equal(partial, ref.merge(partial[["point", "seed"]]))
    if orphans:
        pytest.xfail(f"known issue: after a SIGKILL of the sweep's process alone, {len(orphans)} of its "
                     f"processes (local workers, resource tracker) were still alive 5 s later")


# ====================================================================== 5. executors agree
@pytest.fixture(scope="module")
def sim_sweep(tmp_path_factory):
    """A small sweep with the simulator, run in this process: (file, results)."""
    tmp = tmp_path_factory.mktemp("sweep")
    path = write(tmp, "sweep.toml", f'''
name = "sim-sweep"
scenario = "{RONGCHENG}"
seeds = 2
[set]
{toml_table(TINY)}
[[factors]]
path = "detection.errors.cameras.fpir"
values = [0.003, 0.3]
''')
    exp = Experiment.from_file(path)
    assert exp.n_runs == 4
    return path, exp.run(tmp / "in-process", workers=1, progress=False)


@pytest.mark.parametrize(("workers", "dask"), [(2, None), (2, "local")], ids=["processes", "dask"])
def test_executors_give_identical_tables(tmp_path, sim_sweep, workers, dask):
    path, ref = sim_sweep
    res = Experiment.from_file(path).run(tmp_path / "out", workers=workers, dask=dask, progress=False)
    assert res.meta["executor"] == ("dask" if dask else "processes")
    assert len(ref.runs) == 4 and ref.daily is not None and len(ref.daily) == 4 * 60
    # the sweep is not degenerate: its factors move the figures
    assert ref.runs.acts_false.nunique() > 1 and ref.runs.restricted_person_days.nunique() > 1
    assert digest(res.runs) == digest(ref.runs)
    assert digest(res.daily) == digest(ref.daily)
    pd.testing.assert_frame_equal(res.runs, ref.runs)
    pd.testing.assert_frame_equal(res.daily, ref.daily)
    pd.testing.assert_frame_equal(res.points, ref.points)


# ====================================================================== 3. common random numbers
# the demo's national score, made to restrict on one camera record: a false match matters
CRN_BASE = {**TINY, "population.persons": 20_000, "days": 90, "detection.errors.cameras.fpir": 0.03,
            "regime.rules[littering].points": -200, "regime.rules[jaywalking].points": -200}
CRN_SEEDS = 8


def test_common_random_numbers(tmp_path):
    change = {"appeals.probability": 0.33}  # from 0.30: 10% more false records appealed
    arms = [("base", DEMO, CRN_BASE), ("same", DEMO, dict(CRN_BASE)),
            ("appeals", DEMO, {**CRN_BASE, **change})]
    paired = Experiment.compare(arms, seeds=CRN_SEEDS).run(tmp_path / "paired", workers=1, progress=False)
    seeds = paired.meta["seeds"]
    other = [s + 1000 for s in seeds]
    indep = Experiment.replicates(DEMO, other, {**CRN_BASE, **change}).run(
        tmp_path / "indep", workers=1, progress=False)

    runs = paired.runs
    base = runs[runs.point == 0].set_index("seed")
    same = runs[runs.point == 1].set_index("seed")
    arm = runs[runs.point == 2].set_index("seed")
    metrics = [c for c in base.columns if c != "point"]
    # an arm identical to the baseline: every figure of every seed the same, differences exactly 0
    pd.testing.assert_frame_equal(same[metrics], base[metrics])
    d = paired.differences
    d_same = d[d.arm == "same"]
    assert len(d_same) == len(metrics)
    assert (d_same["mean"].fillna(0) == 0).all() and (d_same["sd"].fillna(0) == 0).all()
    finite = {m: int(np.isfinite(base[m].to_numpy(float)).sum()) for m in metrics}
    assert d_same.set_index("metric").n.to_dict() == finite
    assert finite["wrongful_restricted_days"] == CRN_SEEDS

    factors = {}
    for m in ("wrongful_restricted_days", "falsely_restricted_final_day"):
        dp = (arm[m] - base[m]).to_numpy(float)
        di = indep.runs.set_index("seed")[m].to_numpy(float) - base[m].to_numpy(float)
        assert np.count_nonzero(dp) >= CRN_SEEDS // 2, (m, dp)  # the change moves the metric
        assert base[m].min() > 0
        factors[m] = np.var(di, ddof=1) / np.var(dp, ddof=1)
        print(f"\nCRN {m}: appeals.probability 0.30 -> 0.33, {CRN_SEEDS} seeds: var(paired diff) = "
              f"{np.var(dp, ddof=1):.1f}, var(independent diff) = {np.var(di, ddof=1):.1f}, "
              f"factor {factors[m]:.1f}")
        # the stored differences are these paired ones
        row = d[(d.arm == "appeals") & (d.metric == m)].iloc[0]
        assert row["mean"] == pytest.approx(dp.mean()) and row["sd"] == pytest.approx(dp.std(ddof=1))
    assert factors["wrongful_restricted_days"] >= 10, factors
    assert factors["falsely_restricted_final_day"] >= 10, factors


# ====================================================================== 7. replicates
def _missing(v) -> bool:
    """An undefined figure: NaN in a row, None (null) once read back from a table."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def test_replicates_rows_equal_single_runs(tmp_path):
    from credsim.experiment.metrics import run_row
    from credsim.results import Results

    sets = [x for k, v in TINY.items()
            for x in ("--set", f"{k}={str(v).lower() if isinstance(v, bool) else v}")]
    out = tmp_path / "reps"
    s = 11  # --seed: the first of the seeds (it was ignored: the runs took the file's seeds 1, 2, 3)
    cli = CliRunner().invoke(main, ["run", str(RONGCHENG), "--seeds", "3", "--seed", str(s), *sets,
                                    "-o", str(out), "-q", "--workers", "1"])
    assert cli.exit_code == 0, (cli.output, cli.exception)
    assert (out / "report.html").is_file()
    runs = RunStore(out).table("runs")
    assert RunStore(out).meta()["seeds"] == [s, s + 1, s + 2]
    assert runs.seed.tolist() == [s, s + 1, s + 2] and runs.point.tolist() == [0, 0, 0]
    for seed in (s, s + 1, s + 2):
        single = tmp_path / f"single-{seed}"
        one = CliRunner().invoke(main, ["run", str(RONGCHENG), "--seed", str(seed), *sets, "-o", str(single),
                                        "-q", "--workers", "1"])
        assert one.exit_code == 0, (one.output, one.exception)
        want = run_row(Results.load(single).summary)
        got = runs[runs.seed == seed].iloc[0]
        assert set(want) <= set(got.index)
        for k, v in want.items():
            assert got[k] == v or (_missing(v) and _missing(got[k])), (seed, k, got[k], v)
    assert runs.restricted_person_days.nunique() > 1 or runs.acts_true.nunique() > 1  # seeds differ


def test_experiment_values_carry_the_experiment_as_provenance(tmp_path):
    """Each point's values set by the experiment file name it, in experiment.json and in the
    scenario its runs use."""
    from credsim.experiment.runner import scenario_for

    path = write(tmp_path, "exp.toml", f"""
name = "prov"
scenario = "{DEMO}"
seeds = 1
[set]
{toml_table(TINY)}
[design]
kind = "grid"
[[factors]]
path = "appeals.probability"
values = [0.1, 0.4]
""")
    exp = Experiment.from_file(path)
    prov = exp.meta()["provenance"]
    assert set(prov) == {"0", "1"}
    entry = next(e for e in prov["1"] if e["path"] == "appeals.probability")
    assert entry["value"] == 0.4
    assert entry["assumption"] == f"override by key path appeals.probability = 0.4 (experiment prov, {path})"
    resolved = scenario_for(exp.arms[1]).resolved()
    assert entry in resolved["overrides"]


def test_sweep_prints_runs_and_estimate_before_starting(tmp_path):
    path = write(tmp_path, "small.toml", f"""
name = "small"
scenario = "{DEMO}"
seeds = 2
daily = false
[set]
{toml_table(TINY)}
[design]
kind = "grid"
[[factors]]
path = "appeals.probability"
values = [0.1, 0.4, 0.7]
""")
    dry = CliRunner().invoke(main, ["sweep", str(path), "--dry-run", "--workers", "2"])
    assert dry.exit_code == 0, dry.output
    assert "3 points x 2 seeds = 6 runs; all points valid; about" in dry.output
    assert "on 2 workers" in dry.output
    out = tmp_path / "out"
    cli = CliRunner().invoke(main, ["sweep", str(path), "-o", str(out), "--workers", "1"])
    assert cli.exit_code == 0, cli.output
    text = " ".join(cli.stderr.split())  # the console wraps long lines
    assert text.startswith("6 runs (3 points x 2 seeds), 0 already done; about "), text
    assert "in this process (rough estimate)" in text, text
    assert RunStore(out).meta()["runs_resumed"] == 0


def test_compare_cli_two_scenarios_and_a_change(tmp_path):
    """``credsim compare A.toml B.toml --seeds K`` and ``credsim compare A.toml --set ...``: one
    arm per scenario (or change) on the same seeds, differences against the first arm."""
    tiny = [a for k, v in TINY.items() for a in ("--all", f"{k}={str(v).lower()}")]
    # ficp, not the court list: the court list is dated with a schedule to 2025, which a 60-day
    # run cannot hold (its steps would be outside the run: an error)
    ficp = ROOT / "scenarios" / "ficp.toml"
    out = tmp_path / "two"
    cli = CliRunner().invoke(main, ["compare", str(ficp), str(RONGCHENG), "--seeds", "2", *tiny,
                                    "-o", str(out), "-q", "--workers", "1"])
    assert cli.exit_code == 0, (cli.output, cli.exception)
    res = ExperimentResults(out)
    assert list(res.points.label) == ["ficp", "rongcheng"]
    assert res.runs.groupby("point").seed.apply(list).tolist() == [res.meta["seeds"]] * 2
    d = res.differences
    assert set(d.arm) == {"rongcheng"} and set(d.baseline) == {"ficp"}
    out = tmp_path / "one"
    cli = CliRunner().invoke(main, ["compare", str(DEMO), "--set", "appeals.probability=0.6", "--seeds", "2",
                                    *tiny, "-o", str(out), "-q", "--workers", "1"])
    assert cli.exit_code == 0, (cli.output, cli.exception)
    res = ExperimentResults(out)
    assert list(res.points.label) == ["baseline", "probability=0.6"]
    row = res.differences.set_index("metric").loc["wrongful_restricted_days"]
    runs = res.runs.pivot(index="seed", columns="point", values="wrongful_restricted_days")
    assert row["mean"] == pytest.approx((runs[1] - runs[0]).mean())
    # the change is labelled as an override of this comparison in experiment.json
    prov = RunStore(out).meta()["provenance"]["1"]
    assert any(e["path"] == "appeals.probability" and "override by key path" in e["assumption"] for e in prov)
