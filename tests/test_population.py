"""Synthetic population: scaled counts, communities, attributes from marginals."""

import numpy as np
import pytest

from credsim.marginals import load_marginals
from credsim.population import plan_population
from credsim.synthesis import synthesize


@pytest.fixture(scope="module")
def china():
    return load_marginals("china-2020")


def test_provinces_and_regions_match_census_totals(china):
    table = china.province_table
    assert len(table) == 31
    assert sum(p for _, p, _ in table) == 1_409_778_724
    by_region = {}
    for _, p, r in table:
        by_region[r] = by_region.get(r, 0) + p
    assert by_region == {"east": 563717119, "central": 364694362, "west": 382852295,
                         "northeast": 98514948}


def test_plan_scale_keeps_structure(china):
    plan = plan_population(china, scale=0.001, persons=None, community_size=100_000)
    assert abs(plan.persons - 1_409_779) <= 1
    assert all(c.persons <= 100_000 for c in plan.communities)
    # each province keeps its share
    for k, (_, pop, _) in enumerate(china.province_table):
        got = sum(c.persons for c in plan.communities if c.province == k)
        assert abs(got - pop * 0.001) <= 1
    # firms in proportion to persons, ids disjoint and contiguous
    assert abs(plan.firms - plan.persons * china.firms_per_person.value) < len(plan.communities)
    offs = [c.person_offset for c in plan.communities]
    assert offs == sorted(offs) and offs[0] == 0


def test_exact_person_count_and_province_subset(china):
    plan = plan_population(china, scale=None, persons=123_457, community_size=10_000,
                           provinces=["Beijing", "Tibet"])
    assert plan.persons == 123_457
    assert {c.province for c in plan.communities} == {0, 25}


def test_attributes_follow_marginals_and_do_not_depend_on_community_size(china):
    shares = plan_population(china, scale=None, persons=10, community_size=100).shares
    n = 1_000_000
    sig = np.array([0.5])

    def synth(off, count):
        g = np.empty(count, np.int8)
        a = np.empty(count, np.int8)
        t = np.empty((count, 1), np.float32)
        synthesize(11, off, count, 1 << 40, 0, shares, sig, np.array([0]), g, a, t)
        return g, a, t

    def synth2(off, count):
        # two traits, each on its own stream: both standard normal and uncorrelated
        g = np.empty(count, np.int8)
        a = np.empty(count, np.int8)
        t = np.empty((count, 2), np.float32)
        synthesize(11, off, count, 1 << 40, 0, shares, np.array([1.0, 1.0]), np.array([0, 1]),
                   g, a, t)
        return g, a, t

    g, a, t = synth(0, n)
    se = 5 * np.sqrt(0.25 / n)
    assert abs((g >= 2).mean() - shares[0]) < se  # male
    assert abs((a == 0).mean() - shares[1]) < se  # minors
    assert abs((a == 1).mean() - shares[2]) < se  # 18-59
    assert abs((g % 2 == 0).mean() - shares[3]) < se  # urban
    # lognormal(0, 0.5): E[log m] = 0, sd 0.5
    lm = np.log(t[a > 0, 0].astype(np.float64))
    assert abs(lm.mean()) < 5 * 0.5 / np.sqrt(len(lm))
    assert abs(lm.std() - 0.5) < 0.005
    _, a2_, t2_ = synth2(0, 400_000)
    z = np.log(t2_[a2_ > 0].astype(np.float64))
    assert abs(z[:, 0].std() - 1) < 0.01 and abs(z[:, 1].std() - 1) < 0.01
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.01
    # the same agents regenerated as a sub-range are identical
    g2, a2, t2 = synth(500_000, 1000)
    assert np.array_equal(g2, g[500_000:501_000]) and np.array_equal(t2, t[500_000:501_000])
