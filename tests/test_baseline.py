"""Every shipped scenario gives exactly its committed results (tests/baselines.json).

A change meant to keep results must keep these; one meant to change them runs ``make baseline``
and commits the new digests with it (see tests/baseline.py)."""

import pytest
from baseline import differences, digests, load, scenarios, small

from credsim.sim import Sim

EXPECTED = load()
SCENARIOS = scenarios()


def test_every_shipped_scenario_has_a_baseline():
    assert set(SCENARIOS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_results_identical_to_baseline(name):
    got = digests(Sim(small(SCENARIOS[name])).run(workers=1, progress=False))
    assert not differences({name: EXPECTED[name]}, {name: got})
