"""An experiment's run row and daily series from the run's sums (``experiment.sums``) equal,
exactly, the ones built from the run's ``Results`` tables, on every shipped scenario."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from credsim.experiment import metrics, sums
from credsim.experiment.runner import Arm, RunTask, simulate
from credsim.sim import Sim

sys.path.insert(0, str(Path(__file__).parent))
from baseline import scenarios, small  # noqa: E402

SCENARIOS = scenarios()
FLOAT_SUMS = ("tickets_expected_",)  # expected ticket attempts: sums of floats


def _same_row(a: dict, b: dict) -> None:
    assert list(a) == list(b)  # the same columns, in the same order
    for k in a:
        x, y = a[k], b[k]
        assert type(x) is type(y) or (isinstance(x, float) and isinstance(y, float)), (k, x, y)
        if k.startswith(FLOAT_SUMS):  # a float sum, added in another order: to rounding
            assert math.isclose(x, y, rel_tol=1e-12), (k, x, y)
            continue
        assert (isinstance(x, float) and math.isnan(x) and math.isnan(y)) or x == y, (k, x, y)


def _same_daily(a: pd.DataFrame, b: pd.DataFrame) -> None:
    floats = [c for c in a.columns if c.startswith(FLOAT_SUMS)]
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a.drop(columns=floats), b.drop(columns=floats), check_exact=True)
    pd.testing.assert_frame_equal(a[floats], b[floats], check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_row_and_daily_from_sums_equal_the_tables(name):
    sc = small(SCENARIOS[name]).with_changes({"output": {"panel_agents": 0}})
    sim = Sim(sc)
    res = sim.run(workers=1, progress=False, by_province=False)
    red, meta = sim.reduction(workers=1)
    level = red.levels(sc.days)
    _same_row(sums.run_row(red, level, meta), metrics.run_row(res.summary))
    _same_daily(sums.daily_series(red, level, meta), metrics.daily_series(res))
    some = ["restricted", "mean_score", "list_not_in_this_regime", "falsely_restricted"]
    _same_daily(sums.daily_series(red, level, meta, some), metrics.daily_series(res, some))


def test_chilling_ratio_from_sums_equals_the_harm_metric():
    """With a no-chilling baseline the row's chilling ratio is ``harms.chilling_index``'s."""
    sc = small(SCENARIOS["demo"]).with_changes({"output": {"chilling_baseline": True, "panel_agents": 0},
                                                "response": {"chilling": 0.5}})
    ref = metrics.run_row(Sim(sc).run(workers=1, progress=False, by_province=False).summary)
    out = simulate(RunTask(Arm(0, "demo", str(Path(__file__).parents[1] / "scenarios" / "demo.toml"),
                               {"population.persons": 30_000, "population.scale": None,
                                "population.community_size": 10_000, "output.report": False,
                                "output.chilling_baseline": True, "output.panel_agents": 0,
                                "response.chilling": 0.5}), sc.seed, daily=False))
    assert 0 < ref["chilling_ratio"] < 1
    _same_row(out.row, ref)
