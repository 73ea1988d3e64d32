"""The engine on real runs: analytic results, invariants, reproducibility."""

import dataclasses

import numba
import numpy as np
import pytest
from conftest import make_scenario

from credsim.sim import Sim


@pytest.fixture(scope="module")
def lists_run():
    return Sim(make_scenario()).run(workers=1, progress=False)


def test_analytic_mean_and_variance_of_score_match_mixed_poisson():
    """Constant deltas, nothing clips: score(T) = sum_a delta_a N_a with N_a mixed Poisson."""
    T = 120
    sc = make_scenario(
        days=T,
        population={"persons": 1_200_000, "community_size": 400_000, "firms": False},
        regime={"file": "analytic-regime.toml"},
        detection={"perfect": True},
        output={"panel_agents": 0, "report": False},
    )
    sim = Sim(sc)
    res = sim.run(workers=1, progress=False)
    hist = res.score_hist
    scores = np.arange(res.meta["score_min"], res.meta["score_min"] + len(hist))
    n = hist.sum()
    adults = sum(c.persons for c in sim.plan.communities)  # minors are unscored
    assert n < adults and n > 0.7 * adults
    mean = (hist * scores).sum() / n
    var = (hist * (scores - mean) ** 2).sum() / n
    sigma = 0.4
    em, vm = np.exp(sigma**2 / 2), (np.exp(sigma**2) - 1) * np.exp(sigma**2)
    lam = {"bad": 2.0 / 365, "worse": 0.5 / 365, "good": 1.5 / 365}
    d = {"bad": -7, "worse": -20, "good": 5}
    trait_mean = T * (d["bad"] * lam["bad"] + d["worse"] * lam["worse"])
    exp_mean = em * trait_mean + T * d["good"] * lam["good"]
    exp_var = (em * T * (d["bad"] ** 2 * lam["bad"] + d["worse"] ** 2 * lam["worse"])
               + vm * trait_mean**2 + T * d["good"] ** 2 * lam["good"])
    se_mean = np.sqrt(exp_var / n)
    assert abs(mean - exp_mean) < 5 * se_mean, (mean, exp_mean, se_mean)
    # variance of the sample variance needs the 4th moment; 3% is > 5 SE at this n
    assert abs(var / exp_var - 1) < 0.03, (var, exp_var)
    # per-act counts: true acts are Poisson with mean E[m] * rate * T per adult
    acts = res.summary["acts"]
    for a in ("bad", "worse"):
        expect = n * em * lam[a] * T
        assert abs(acts[a]["true"] - expect) < 5 * np.sqrt(expect * (1 + vm / em * lam[a] * T))


def test_grade_counts_sum_to_population_every_day(lists_run):
    res = lists_run
    per_day = res.daily.groupby("day")["persons"].sum()
    assert len(per_day) == res.meta["days"]
    assert (per_day == res.meta["persons"] + res.meta["firms"]).all()


def test_scores_within_bounds_and_sanction_counts_consistent(lists_run):
    res = lists_run
    d = res.daily
    scored = d[(d.grade != "unscored") & (d.persons > 0)]
    mean = scored.score_sum / scored.persons
    assert (mean >= 0).all() and (mean <= 120).all()
    # privilege 'bonus' holds exactly for grade 'high'; 'no_travel' for all of 'low'
    assert (d.sanction_bonus == np.where(d.grade == "high", d.persons, 0)).all()
    low = d[d.grade == "low"]
    assert (low.sanction_no_travel == low.persons).all()
    assert (d.sanction_no_travel >= d.list_black).all()
    assert (d.list_black <= d.persons).all() and (d.list_floor <= d.persons).all()
    hist = res.score_hist
    assert hist.sum() > 0 and len(hist) == 121


def test_daily_keeps_every_act_even_in_cells_emptied_that_day(lists_run):
    d, a = lists_run.daily, lists_run.acts
    assert d.acts_true.sum() == a["true"].sum()
    assert d.acts_recorded.sum() == a.recorded.sum()


def test_recorded_never_exceeds_true_and_matches_detection_probability(lists_run):
    a = lists_run.acts
    assert (a.recorded <= a.true).all()
    urban = a[a.group.isin(["female_urban", "male_urban", "firm"])]
    rural = a[a.group.isin(["female_rural", "male_rural"])]
    for part, p in ((urban, 0.5), (rural, 0.2)):
        t, r = part.true.sum(), part.recorded.sum()
        assert abs(r / t - p) < 5 * np.sqrt(p * (1 - p) / t)


def test_lists_fill_and_empty(lists_run):
    bd = lists_run.by_day
    assert bd.list_black.max() > 0 and bd.list_floor.max() > 0


def test_same_seed_identical_other_seed_differs():
    a = Sim(make_scenario(days=60)).run(workers=1, progress=False)
    b = Sim(make_scenario(days=60)).run(workers=1, progress=False)
    c = Sim(make_scenario(days=60, seed=8)).run(workers=1, progress=False)
    assert a.daily.equals(b.daily) and a.acts.equals(b.acts) and a.panel.equals(b.panel)
    assert not a.daily.equals(c.daily)


def test_one_and_two_threads_identical():
    assert numba.config.NUMBA_NUM_THREADS >= 2  # conftest asks for two threads
    sc = make_scenario(days=90)
    numba.set_num_threads(1)
    try:
        one = Sim(sc).run(workers=1, progress=False)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    two = Sim(sc).run(workers=1, progress=False)
    assert one.daily.equals(two.daily) and one.acts.equals(two.acts)
    assert one.panel.equals(two.panel)
    assert np.array_equal(one.score_hist, two.score_hist)


def test_burn_in_starts_recording_later():
    res = Sim(make_scenario(days=30, burn_in_days=200)).run(workers=1, progress=False)
    bd = res.by_day
    assert len(bd) == 30
    # after a burn-in the lists are already populated on day 0
    assert bd.list_black.iloc[0] > 0


def _analytic(**over):
    base = dict(days=120, regime={"file": "analytic-regime.toml"}, detection={"perfect": True},
                population={"persons": 200_000, "community_size": 50_000, "firms": False},
                output={"panel_agents": 400, "report": False})
    base.update(over)
    return make_scenario(**base)


def test_kernel_without_unused_mechanisms_gives_the_same_results(monkeypatch):
    """A scenario with no use for any mechanism (every act recorded and accepted as drawn, no
    lists, recoveries, appeals or links) runs a kernel compiled without their code: its results
    equal, cell for cell, those of the kernel with every mechanism."""
    from credsim import engine
    from credsim.layout import FEAT_ALL

    seen = []
    chosen = engine.mechanism_features

    def spy(spec, links):
        seen.append(chosen(spec, links))
        return seen[-1]

    monkeypatch.setattr(engine, "mechanism_features", spy)
    sc = _analytic()
    lean = Sim(sc).run(workers=1, progress=False)
    assert seen and set(seen) == {0}
    monkeypatch.setattr(engine, "mechanism_features", lambda spec, links: FEAT_ALL)
    full = Sim(sc).run(workers=1, progress=False)
    assert lean.meta["performance"]["events"] == full.meta["performance"]["events"] > 0
    assert len(lean.panel) > 0
    for name in ("daily", "acts", "panel", "harm"):
        a, b = getattr(lean, name), getattr(full, name)
        assert a.shape == b.shape and a.equals(b), name
    np.testing.assert_array_equal(lean.score_hist, full.score_hist)


@pytest.mark.parametrize("over", [
    {"detection": {"perfect": False}},
    {"regime": {"file": "lists-regime.toml"}},
    {"response": {"deterrence": 0.5, "gaming": 0.0, "chilling": 0.0}},
])
def test_every_mechanism_in_use_gets_the_kernel_with_all(over):
    """Leaving a mechanism's code out is safe only when the scenario cannot use it: any one in
    use (in the scenario, or in a compiled table) gives the kernel with all of them."""
    from credsim import engine
    from credsim.layout import FEAT_ALL

    spec = Sim(_analytic()).engine_spec()
    assert engine.mechanism_features(spec, links=False) == 0
    assert engine.mechanism_features(Sim(_analytic(**over)).engine_spec(), links=False) == FEAT_ALL
    assert engine.mechanism_features(spec, links=True) == FEAT_ALL
    B, X = spec.behaviour, spec.mechanisms
    one = {"behaviour": {"grp_false": np.zeros_like(B.grp_false),
                         "p_detect": np.full_like(B.p_detect, 0.9)},
           "mechanisms": {"act_accept": np.full_like(X.act_accept, 0.9),
                          "act_deter": np.full_like(X.act_deter, 0.1),
                          "act_game": np.full_like(X.act_game, 2.0),
                          "act_parent": np.ones_like(X.act_parent),
                          "surv_grades": np.ones_like(X.surv_grades),
                          "surv_lists": 1, "appeal_p": 0.5},
           "regime": {"rec_after": np.array([30], np.int32)}}
    for part, fields in one.items():
        for field, value in fields.items():
            table = getattr(spec, part)._replace(**{field: value})
            changed = dataclasses.replace(spec, **{part: table})
            assert engine.mechanism_features(changed, links=False) == FEAT_ALL, field
    for field, value in (("n_lists", 1), ("peer", (4, 1.0, 30, 0.0, 1.0, 1.0))):
        changed = dataclasses.replace(spec, **{field: value})
        assert engine.mechanism_features(changed, links=False) == FEAT_ALL, field
