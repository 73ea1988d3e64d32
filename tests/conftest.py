"""Shared fixtures: small scenarios built from the test data files."""

from __future__ import annotations

import copy
import os
from pathlib import Path

# at least two Numba threads, so thread-count independence is tested even on one core
os.environ.setdefault("NUMBA_NUM_THREADS", str(max(2, os.cpu_count() or 1)))

import pytest

from credsim.mechanisms import mechanisms_off
from credsim.scenario import Scenario

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


def make_scenario(mechanisms: bool = False, **over) -> Scenario:
    """A scenario on the test catalogue; keyword arguments override top-level tables/keys.
    The mechanisms that act on people are off unless ``mechanisms`` is true."""
    base = {
        "name": "test",
        "seed": 7,
        "days": 200,
        "population": {"persons": 20_000, "community_size": 5_000},
        "regime": {"file": "lists-regime.toml"},
        "behaviour": {"catalogue": "analytic-acts.toml"},
        "output": {"panel_agents": 50, "report": False},
    }
    if not mechanisms:
        base.update(mechanisms_off())
    data = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict) and k != "regime":
            data[k].update(v)
        else:
            data[k] = v
    return Scenario.from_dict(data, base=DATA)


@pytest.fixture
def scenario_factory():
    return make_scenario
