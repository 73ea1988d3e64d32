"""National-scale machinery: executors agree bit for bit, runs resume after kill -9, memory is flat."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, make_scenario

from credsim.sim import Sim

SCEN = {"days": 120, "population": {"persons": 60_000, "community_size": 10_000}}


def frames(res):
    return res.daily, res.acts, res.panel


def assert_same(a, b):
    for x, y in zip(frames(a), frames(b), strict=True):
        pd.testing.assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True))
    assert np.array_equal(a.score_hist, b.score_hist)


@pytest.fixture(scope="module")
def reference():
    return Sim(make_scenario(**SCEN)).run(workers=1, progress=False)


def test_two_local_processes_match_one_worker(reference):
    res = Sim(make_scenario(**SCEN)).run(workers=2, progress=False)
    assert res.meta["performance"]["executor"] == "processes"
    assert_same(reference, res)


def test_dask_local_cluster_matches_one_worker(reference):
    pytest.importorskip("distributed")
    res = Sim(make_scenario(**SCEN)).run(dask="local", workers=2, progress=False)
    assert res.meta["performance"]["executor"] == "dask"
    assert_same(reference, res)


SCENARIO_FILE = """
name = "killme"
seed = 3
days = 365
[population]
persons = {persons}
community_size = 20000
[regime]
file = "{regime}"
[behaviour]
catalogue = "{catalogue}"
[output]
panel_agents = 100
report = false
"""


def _write_scenario(tmp_path: Path, persons: int) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(SCENARIO_FILE.format(persons=persons, regime=DATA / "lists-regime.toml",
                                      catalogue=DATA / "analytic-acts.toml"))
    return p


def _cli(*args):
    return [sys.executable, "-m", "credsim.cli", *args]


def test_kill_minus_nine_then_resume_gives_the_uninterrupted_results(tmp_path):
    scen = _write_scenario(tmp_path, 1_600_000)  # 80 communities
    full = tmp_path / "full"
    subprocess.run(_cli("run", str(scen), "-o", str(full), "--workers", "1", "-q"), check=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli("run", str(scen), "-o", str(killed), "--workers", "1", "-q"))
    ck = killed / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline:
        if ck.exists() and len(list(ck.glob("*.npz"))) >= 5:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(ck.glob("*.npz"))
    assert 5 <= len(done) < 80, "the run was not killed part-way"
    # a checkpoint cut short while being written is detected and recomputed
    victim = done[1]
    victim.write_bytes(victim.read_bytes()[:200])
    r = subprocess.run(_cli("run", str(scen), "-o", str(killed), "--workers", "1", "--resume", "-q"),
                       check=True)
    assert r.returncode == 0
    for name in ("daily.parquet", "acts.parquet", "panel.parquet"):
        a = pd.read_parquet(full / name)
        b = pd.read_parquet(killed / name)
        pd.testing.assert_frame_equal(a, b)
    import json

    perf = json.loads((killed / "meta.json").read_text())["performance"]
    assert perf["communities_resumed"] == len(done) - 1


def test_corrupt_checkpoint_is_never_used(tmp_path):
    from credsim.checkpoint import Checkpoints

    sim = Sim(make_scenario(**SCEN))
    spec = sim.engine_spec()
    from credsim.engine import run_community

    res = run_community(spec, sim.plan.communities[0])
    ck = Checkpoints(tmp_path, "fp")
    ck.save(res)
    assert ck.load(0) is not None
    path = ck.path(0)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert ck.load(0) is None
    ck.save(res)
    assert Checkpoints(tmp_path, "another run").load(0) is None


MEASURE = textwrap.dedent("""
    import resource, sys
    sys.path.insert(0, {tests!r})
    from conftest import make_scenario
    from credsim.sim import Sim
    sc = make_scenario(days=365, population={{"persons": {n}, "community_size": 50_000}},
                       output={{"panel_agents": 0, "report": False}})
    Sim(sc).run(workers=1, progress=False)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""")


def test_memory_stays_flat_as_population_grows():
    tests = str(Path(__file__).parent)

    def peak(n):
        out = subprocess.run([sys.executable, "-c", MEASURE.format(tests=tests, n=n)], check=True,
                             capture_output=True, text=True).stdout
        return int(out.strip().splitlines()[-1])

    small, big = peak(200_000), peak(2_000_000)
    assert big < 1.25 * small, (small, big)
