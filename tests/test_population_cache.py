"""Synthesized populations reused across the runs of a sweep (``synthesis.POPULATIONS``): the
same rows and daily series as drawing them afresh, reuse only where the population is the
same, and a bounded cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credsim.experiment.runner import Arm, InProcess, RunTask, simulate
from credsim.synthesis import POPULATIONS, Populations

DEMO = str(Path(__file__).parents[1] / "scenarios" / "demo.toml")
SMALL = {"population.persons": 20_000, "population.community_size": 5_000,
         "output.chilling_baseline": False}


@pytest.fixture
def cache():
    POPULATIONS.clear()
    yield POPULATIONS
    POPULATIONS.clear()
    POPULATIONS.max_bytes = 0


def _fresh(task: RunTask):
    """The run with every population drawn afresh (the cache off and empty)."""
    POPULATIONS.clear()
    keep, POPULATIONS.max_bytes = POPULATIONS.max_bytes, 0
    try:
        out = simulate(task)
    finally:
        POPULATIONS.clear()
        POPULATIONS.max_bytes = keep
    return out


def test_reused_populations_give_the_same_runs(cache):
    arms = [Arm(0, "a", DEMO, {**SMALL, "appeals.probability": 0.1}),
            Arm(1, "b", DEMO, {**SMALL, "appeals.probability": 0.6}),  # same population: reused
            Arm(2, "c", DEMO, {**SMALL, "population.persons": 24_000})]  # another population
    tasks = [RunTask(a, s) for s in (3, 4) for a in arms]
    ref = [_fresh(t) for t in tasks]
    InProcess().close()  # as after a sweep: the cache empty
    cache.max_bytes = 0
    got = [simulate(t) for t in tasks]  # simulate turns the cache on
    assert cache.max_bytes > 0
    for r, g in zip(ref, got, strict=True):
        assert list(g.row) == list(r.row) and pd.Series(g.row).equals(pd.Series(r.row))
        pd.testing.assert_frame_equal(g.daily, r.daily, check_exact=True)
    # arm b of each seed finds every community arm a drew; arm c (more persons) and every arm
    # of a new seed draw their own
    assert cache.hits > 0
    assert cache.misses == 2 * cache.hits


def test_cache_is_bounded_and_least_recently_used_goes_first():
    c = Populations(max_bytes=3 * 800)
    arrays = {k: (np.full(100, k, np.int64),) for k in range(4)}  # 800 bytes each
    for k in range(3):
        c.put((1, k), arrays[k])  # one seed, three populations
    assert c.get((1, 0)) is not None  # 0 is now the most recently used
    c.put((1, 3), arrays[3])
    assert c.get((1, 1)) is None  # the least recently used went
    assert [int(c.get((1, k))[0][0]) for k in (0, 2, 3)] == [0, 2, 3]
    arrays[3][0][:] = -1  # the cache keeps copies
    assert int(c.get((1, 3))[0][0]) == 3
    c.put((1, 9), (np.zeros(1000, np.int64),))  # larger than the whole budget: not kept
    assert c.get((1, 9)) is None and c.get((1, 0)) is not None


def test_cache_keeps_the_last_seeds_only():
    c = Populations(max_bytes=10**6)
    a = (np.zeros(10, np.int64),)
    for seed in (1, 2, 3):
        c.put((seed, "x"), a)
        c.put((seed, "y"), a)
    assert c.get((1, "x")) is None and c.get((1, "y")) is None  # a seed the sweep is done with
    assert all(c.get((s, k)) is not None for s in (2, 3) for k in "xy")
    c.put((2, "z"), a)  # a recent seed: nothing goes
    assert c.get((3, "x")) is not None and c._bytes == 5 * a[0].nbytes


def test_cache_off_keeps_nothing():
    c = Populations()
    c.put((1,), (np.zeros(4),))
    assert c.get((1,)) is None and c.hits == c.misses == 0
