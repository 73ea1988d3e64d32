"""Observation models: ticket purchases blocked (person-times), list flows by cause, sanction
entries, persons restricted in a run, persons and organisations apart."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from scipy import stats

from credsim import rng
from credsim.sim import Sim
from tests.conftest import make_scenario

FLOWS = ("added", "removed_performed", "removed_expired", "removed_appeal")


@njit(cache=True)
def _gammas(seed, n, shape):
    out = np.empty(n)
    for i in range(n):
        out[i] = rng.gamma_mean1(rng.agent_key(seed, i), rng.S_TICKET, shape)
    return out


@pytest.mark.parametrize("shape", [0.5, 2.0])
def test_ticket_multipliers_are_gamma_with_mean_one(shape):
    m = _gammas(3, 200_000, shape)
    ks = stats.kstest(m, stats.gamma(a=shape, scale=1 / shape).cdf)
    assert ks.pvalue > 1e-4, ks
    assert abs(m.mean() - 1) < 5 * np.sqrt(1 / shape / len(m))


def _tickets_run(persons: int, days: int, **over):
    sc = make_scenario(days=days, population={"persons": persons, "community_size": 100_000},
                       regime={"file": "tickets-regime.toml"},
                       behaviour={"catalogue": "analytic-acts.toml", "unscored_acts": "skip"},
                       tickets={"flight": {"rate_per_year": 36.5, "assumption": "test"},
                                "train": {"rate_per_year": 3.65, "assumption": "test"},
                                "dispersion": {"shape": 0.5, "assumption": "test"}},
                       output={"panel_agents": 0, "report": False}, **over)
    return Sim(sc).run(workers=1, progress=False)


def test_blocked_tickets_match_their_poisson_expectation_at_a_million_agents():
    res = _tickets_run(1_000_000, 20)
    d = res.daily
    person = d.group.astype(str) != "firm"
    # firms are under the sanction and buy no tickets
    assert d.loc[~person, "sanction_no_fly"].sum() > 0
    for k in ("flight", "train"):
        assert d.loc[~person, f"tickets_blocked_{k}"].sum() == 0
        assert d.loc[~person, f"tickets_expected_{k}"].sum() == 0
    dp = d[person]
    rates = {"flight": 36.5 / 365, "train": 3.65 / 365}
    sanction = {"flight": "sanction_no_fly", "train": "sanction_no_rail"}
    n_adults = int(dp[dp.day == 0].sanction_no_fly.sum())
    assert n_adults > 700_000
    for k in ("flight", "train"):
        blocked = dp[f"tickets_blocked_{k}"].to_numpy(float)
        expected = dp[f"tickets_expected_{k}"].to_numpy(float)
        # given the multipliers, the total is Poisson of the summed expectation
        E = expected.sum()
        assert abs(blocked.sum() - E) < 5 * np.sqrt(E), (k, blocked.sum(), E)
        # the expectation against the analytic value: rate x sanctioned person-days x E[m] = 1,
        # up to the sampling of the multipliers (sd of the mean sqrt(1 / (shape n)))
        person_days = dp[sanction[k]].sum()
        analytic = rates[k] * person_days
        n_under = dp[dp.day == 0][sanction[k]].sum()
        assert abs(E / analytic - 1) < 5 / np.sqrt(0.5 * n_under), (k, E, analytic)
        # dispersion: every cell's count is Poisson of its expectation (chi-square per cell-day)
        ok = expected > 0
        chi2 = ((blocked[ok] - expected[ok]) ** 2 / expected[ok]).sum()
        n = ok.sum()
        assert abs(chi2 - n) / np.sqrt(2 * n) < 5, (k, chi2, n)
    # every adult is under the flight ban throughout: persons restricted in the run = adults
    h = res.harm
    hp = h[h.group.astype(str) != "firm"]
    assert hp.travel_restricted_in_run.sum() == hp.agents.sum() == n_adults
    obs = res.summary["observed"]
    assert obs["travel_restricted_persons"] == n_adults
    assert obs["tickets_blocked"]["flight"]["blocked"] == int(dp.tickets_blocked_flight.sum())


def _balance(res):
    """stock(t) = stock(t-1) + added - removed (all causes), every day after the first, every
    list, persons and organisations apart; ever listed >= stock, non-decreasing."""
    bd = res.by_day.sort_values("day")
    checked = 0
    for x in res.meta["lists"]:
        for who in ("_persons", "_orgs"):
            stock = bd[f"list_{x}{who}"].to_numpy()
            added = bd[f"list_added_{x}{who}"].to_numpy()
            removed = sum(bd[f"list_{f}_{x}{who}"].to_numpy() for f in FLOWS[1:])
            assert (np.diff(stock) == added[1:] - removed[1:]).all(), (x, who)
            ever = bd[f"list_ever_{x}{who}"].to_numpy()
            assert (ever >= stock).all() and (np.diff(ever) >= 0).all(), (x, who)
            checked += added.sum()
    assert checked > 0
    return bd


def test_list_flows_balance_exactly_with_every_cause():
    sc = make_scenario(mechanisms=True, days=200, burn_in_days=100)
    res = Sim(sc).run(workers=1, progress=False)
    bd = _balance(res)
    assert bd.list_removed_performed_black.sum() > 0
    assert bd.list_removed_expired_black.sum() > 0
    assert bd.list_removed_expired_floor.sum() > 0
    # with no burn-in the first day balances too (every agent starts unlisted)
    res0 = Sim(make_scenario(days=120)).run(workers=1, progress=False)
    bd0 = _balance(res0)
    for x in res0.meta["lists"]:
        first = bd0.iloc[0]
        assert first[f"list_{x}"] == first[f"list_added_{x}"] - sum(
            first[f"list_{f}_{x}"] for f in FLOWS[1:])


def test_false_records_reversed_on_appeal_are_a_removal_cause():
    sc = make_scenario(mechanisms=True, days=200, burn_in_days=50,
                       detection={"errors": {"eye": {"fpir": 0.05, "probes_per_year": 20.0}}},
                       errors={"enabled": True}, appeals={"probability": 0.8})
    res = Sim(sc).run(workers=1, progress=False)
    bd = _balance(res)
    assert bd.list_removed_appeal_black.sum() > 0


def test_court_list_flows_entries_and_persons_restricted():
    sc = Sim.from_file("scenarios/court-blacklist.toml").scenario.with_overrides(
        {"population.persons": 60_000, "burn_in_days": 365, "output.report": False,
         "output.panel_agents": 0})
    res = Sim(sc).run(workers=1, progress=False)
    bd = _balance(res)
    d = res.daily
    firm = d.group.astype(str) == "firm"
    # no flights is a person-only ban (audit): never on firms, passed to their responsible persons
    assert d.loc[firm, "sanction_no_flights"].sum() == 0
    assert d.loc[~firm, "link_sanction_no_flights"].sum() > 0
    assert d.loc[firm, ["tickets_blocked_flight", "tickets_blocked_train"]].to_numpy().sum() == 0
    assert bd.tickets_blocked_flight.sum() > 0 and bd.tickets_blocked_train.sum() > 0
    # entries: a stock rises by at most its entries
    s = bd.sanction_no_flights_persons.to_numpy()
    e = bd.entered_no_flights_persons.to_numpy()
    assert (np.diff(s) <= e[1:]).all()
    # distinct persons restricted in the run: at least the largest stock, at most the first
    # day's stock plus every later entry
    travel = res.summary["observed"]["travel_restricted_persons"]
    assert s.max() <= travel <= s[0] + e[1:].sum()
    assert travel > s.max()  # the list turns over within a year
    row = res.summary["observed"]["lists"]["dishonest_debtors"]
    assert row["added"]["organisations"] > 0 and row["added"]["persons"] > 0


@pytest.mark.parametrize("which", ["lists", "court"])
def test_observations_do_not_depend_on_threads_or_workers(which):
    base = make_scenario(mechanisms=True, days=150, burn_in_days=60)
    if which == "court":  # links to legal representatives: reruns, the links' part of counts
        base = Sim.from_file("scenarios/court-blacklist.toml").scenario.with_overrides(
            {"population.persons": 30_000, "population.community_size": 10_000,
             "burn_in_days": 200, "output.report": False, "output.panel_agents": 20})
    cols = None
    runs = []
    for threads, workers in ((1, 1), (2, 1), (2, 2)):
        sc = base.with_changes({"threads": threads})
        res = Sim(sc).run(workers=workers, progress=False)
        d = res.daily.sort_values(["province", "day", "group", "grade"]).reset_index(drop=True)
        cols = [c for c in d.columns if c.startswith(("list_", "entered_", "tickets_"))]
        runs.append((d[cols], res.summary["observed"]))
    for d, obs in runs[1:]:
        assert d.equals(runs[0][0])
        assert obs == runs[0][1]
    assert runs[0][0][[c for c in cols if c.startswith("tickets_blocked")]].to_numpy().sum() > 0


def test_blocks_tickets_only_on_restrictions():
    from credsim.errors import ConfigError

    with pytest.raises((ConfigError, ValueError), match="blocks_tickets"):
        make_scenario(regime={"file": "lists-regime.toml"}).with_overrides(
            {"regime.sanctions[bonus].blocks_tickets": ["flight"]})


def test_calibration_quantities_name_the_observations():
    from credsim.calibration import quantities as Q

    for name in ("list_added", "list_added_persons", "list_added_orgs", "list_removed_performed",
                 "list_ever", "list_under_pressure", "tickets_blocked_flight",
                 "tickets_blocked_train", "travel_restricted_persons"):
        assert name in Q.QUANTITIES
    cols = Q.columns_for(make_scenario())
    assert {"list_added_black_persons", "tickets_blocked_flight",
            "travel_restricted_persons"} <= cols.row


# ---------------------------------------------------------------------------- seed calibration
def test_shipped_calibrations_validate_against_their_scenarios():
    from credsim.calibration import Calibration

    for path in sorted(__import__("pathlib").Path("calibrations").glob("*.toml")):
        cal = Calibration.from_file(path)  # every parameter path and target checked
        assert cal.seeds


def test_seed_scenarios_carry_the_unsourced_fit_and_reach_grade_d():
    from credsim.scenario import Scenario

    for name in ("demo", "china-national"):
        sc = Scenario.from_file(f"scenarios/{name}.toml")
        labels = sc.resolved()["scenario"]["calibrated"]
        assert {"regime.bands[C].min", "regime.rules[payment_default].points",
                "regime.rules[judgment_unperformed].points"} <= set(labels)
        for v in labels.values():
            assert v["spec"] == "calibrations/seed-national-score.toml"
            assert "UNSOURCED" in v["note"] and v["targets"] == ["travel_restricted_in_a_year"]
        assert next(b for b in sc.regime_model.bands if b.label == "C").min == labels[
            "regime.bands[C].min"]["value"]
    sc = Scenario.from_file("scenarios/demo.toml").with_overrides(
        {"population.persons": 100_000, "output.chilling_baseline": False, "output.report": False,
         "output.panel_agents": 0})
    res = Sim(sc).run(workers=1, progress=False)
    obs = res.summary["observed"]
    # the headline sanctions now hang on real numbers of agents: about 0.8% of persons a year
    # (11.4 M of 1.41 billion), within the fit's tolerance (cv 0.1) and the noise of 100,000
    nation = obs["travel_restricted_persons"] / res.meta["scale"]
    assert 0.7 * 11.4e6 < nation < 1.3 * 11.4e6, nation
    assert res.summary["final_day"]["sanctions"]["party_exclusion"] > 0
    assert obs["tickets_blocked"]["flight"]["blocked"] > 0
