"""The end-of-run check passes on real runs and catches broken outputs."""

from __future__ import annotations

import pytest
from conftest import make_scenario

from credsim import sanity
from credsim.sim import Sim


def test_end_of_run_check_passes_and_catches_broken_outputs():
    sim = Sim(make_scenario(days=30))
    res = sim.run(progress=False)  # (Sim.run checks every run)
    agents = sim.plan.persons + sim.plan.firms
    assert sanity.problems(res, agents) == []
    assert "daily.persons: the grades hold" in " ".join(sanity.problems(res, agents + 1))
    res.daily.loc[res.daily.index[0], "acts_true"] = -1
    res.summary["mean_score"] = float("nan")
    got = " ".join(sanity.problems(res, agents))
    assert "daily.acts_true: negative counts" in got and "summary.mean_score: nan" in got


def test_a_failed_check_stops_the_run(monkeypatch):
    monkeypatch.setattr(sanity, "problems", lambda res, agents: ["daily.persons: broken"])
    with pytest.raises(sanity.SanityError, match="daily.persons: broken"):
        Sim(make_scenario(days=10)).run(progress=False)
