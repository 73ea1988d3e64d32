"""What an audit against the sources found (issue 14, part 6): each fix, checked.

Each test fails on the code before its fix: net flows thinned by deterrence, extensions drawn at
every listing, the last offence's class deciding the permis recovery, firms under ticket bans,
Rongcheng's mapping presented as a source, the seed regime without its ringtone or firm links,
ages 15-17 spread evenly over 15-59.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from credsim.behaviour import load_catalogue
from credsim.compile import compile_regime
from credsim.config import read_toml
from credsim.data import data_path
from credsim.errors import ConfigError
from credsim.explain import Explainer, HistoryRow
from credsim.layout import ACC_FIELDS, BIG, NEVER
from credsim.marginals import load_marginals
from credsim.mechanisms import mechanisms_off
from credsim.mechanisms.response import ResponseSpec, net_to_base
from credsim.regime import Regime, load_regime, shipped_regimes
from credsim.rules import Record, add_act, close_day, reset_day
from credsim.scenario import Scenario
from credsim.sim import Sim

CAT = load_catalogue()
ACTS = CAT.act_names
YEAR = 365


def _regime_dict(name: str) -> dict:
    return read_toml(data_path("regimes") / f"{name}.toml")


def _run(regime: str, persons: int, days: int, firms: bool = True, burn_in: int = 0, **over):
    data = {"name": "audit", "seed": 11, "days": days, "burn_in_days": burn_in,
            "population": {"persons": persons, "community_size": 250_000, "firms": firms},
            "regime": {"use": regime}, "behaviour": {"unscored_acts": "skip"},
            "output": {"panel_agents": 0, "report": False}, **mechanisms_off()}
    for k, v in over.items():
        data[k] = {**data.get(k, {}), **v}
    return Sim(Scenario.from_dict(data)).run(workers=1, progress=False)


def _adults(res) -> int:
    d0 = res.daily[(res.daily.day == 0) & (res.daily.group != "firm")]
    return int(d0[d0.grade != "unscored"].persons.sum())


# ---------------------------------------------------------------- deterrence and net flows
def test_flow_rates_say_gross_or_net_and_net_ones_name_their_regime():
    net = {a.name: a for a in CAT.acts if a.rate_basis == "net"}
    assert set(net) == {"judgment_unperformed", "firm_judgment_unperformed"}
    for a in net.values():
        assert a.observed_under == "court-blacklist"
        assert "NET flow" in a.provenance
    assert 'rate_basis = "net"' in CAT.description and "gross" in CAT.description


@pytest.mark.parametrize("deterrence", [0.5, 2.0])
def test_net_rate_gives_its_recorded_flow_with_the_response_on(deterrence):
    """0.0019 listings per adult-year recorded whatever the deterrence (before the fix, 0.5
    removed exp(-0.5) = 39% of them and 2.0 removed 86%)."""
    res = _run("court-blacklist", 1_000_000, YEAR, firms=False,
               response={"deterrence": deterrence, "gaming": 0.0, "gaming_window": 20,
                         "chilling": 0.0})
    got = res.acts[res.acts.act == "judgment_unperformed"].recorded.sum()
    expect = CAT.act("judgment_unperformed").rate_per_year * _adults(res)
    assert abs(got - expect) < 4 * np.sqrt(expect), (got, expect)


def test_net_to_base_is_the_inverse_of_the_observed_regimes_thinning():
    spec = ResponseSpec(deterrence=0.7, gaming=0.5, gaming_window=20, chilling=0.25)
    base = net_to_base(spec, CAT)
    for k, a in enumerate(CAT.acts):
        # the court list lists (severity 1), the court records every act (detection 1)
        want = np.exp(0.7) if a.rate_basis == "net" else 1.0
        assert base[k] == pytest.approx(want)
    off = ResponseSpec(deterrence=0.0, gaming=0.0, gaming_window=0, chilling=0.0)
    assert (net_to_base(off, CAT) == 1.0).all()


def test_a_net_rate_needs_certain_detection_and_a_shipped_regime():
    raw = read_toml(data_path("catalogue") / "default.toml")
    bad = copy.deepcopy(raw)
    act = next(a for a in bad["acts"] if a["name"] == "littering")
    act.update(rate_basis="net", observed_under="atlantis")
    from credsim.behaviour import Catalogue
    from credsim.config import validate

    with pytest.raises(ConfigError) as e:
        validate(Catalogue, bad, "cat.toml")
    k = bad["acts"].index(act)
    msg = str(e.value)
    assert f"acts[{k}].observed_under: 'atlantis'" in msg
    assert f"acts[{k}].rate_basis: a net rate needs a sensor that records every act" in msg


# ---------------------------------------------------------------- court-list extension
def _one_agent(R, L):
    return Record(np.array([0], np.int32), np.zeros(1, np.uint16), np.full((1, L), BIG, np.int32),
                  np.full((1, L), BIG, np.int32), np.array([[NEVER, 0, 0, 0]], np.int32))


def _list_on(R, st, day, act, key):
    acc = np.zeros(ACC_FIELDS, np.int64)
    reset_day(acc)
    add_act(acc, ACTS.index(act), R)
    close_day(0, day, acc, np.uint64(key), True, R, st)
    return int(st.lexp[0, 0])


def test_court_list_extends_only_under_its_conditions_by_1_to_3_years():
    reg = load_regime("court-blacklist")
    R = compile_regime(reg, ACTS)
    first, again, obstruct = [], [], []
    for key in range(1, 3001):
        st = _one_agent(R, 1)
        first.append(_list_on(R, st, 10, "judgment_unperformed", key) - 10)
        again.append(_list_on(R, st, 400, "judgment_unperformed", key) - (400 + 730))
        st = _one_agent(R, 1)
        obstruct.append(_list_on(R, st, 10, "obstructing_enforcement", key) - (10 + 730))
    # a first listing for an unperformed judgment: exactly 2 years, never extended
    assert set(first) == {730}
    # listed again while listed (multiple dishonest acts), or for violent obstruction: at least
    # 1 year more than the full 2-year period from the new listing, at most 3
    for ext in (np.array(again), np.array(obstruct)):
        assert ext.min() >= 365 and ext.max() <= 1095
        assert abs(ext.mean() - 730) < 4 * (730 / np.sqrt(3)) / np.sqrt(len(ext))  # uniform
        assert len(set(ext.tolist())) > 500  # whole days across the range


def test_relisting_never_shortens_a_listing():
    reg = load_regime("court-blacklist")
    R = compile_regime(reg, ACTS)
    for key in range(1, 200):
        st = _one_agent(R, 1)
        end = _list_on(R, st, 0, "obstructing_enforcement", key)
        assert _list_on(R, st, 5, "judgment_unperformed", key) >= end + 365


def test_extends_needs_a_list_with_an_aggravating_extension():
    raw = _regime_dict("court-blacklist")
    raw["lists"][0]["extension"]["when"] = ["listed_again"]
    with pytest.raises(ValueError) as e:
        Regime.model_validate(raw)
    k = next(k for k, r in enumerate(raw["rules"]) if r.get("extends"))
    assert f"rules[{k}].extends: list 'dishonest_debtors' has no extension with when" in str(e.value)


# ---------------------------------------------------------------- who sanctions apply to
PERSON_ONLY = ("flight", "train", "plane", "ticket", "sleeper", "ship", "travel", "exit", "school",
               "party", "election", "ringtone")


@pytest.mark.parametrize("name", shipped_regimes())
def test_person_only_sanctions_never_apply_to_firms(name):
    reg = load_regime(name)
    R = compile_regime(reg, ACTS)
    for k, sn in enumerate(reg.sanctions):
        if any(w in sn.name for w in PERSON_ONLY):
            assert sn.subjects(reg.covers) == ["person"], sn.name
            assert not int(R.held[1]) >> k & 1, sn.name


def test_court_list_groups_as_the_sources_name_them():
    reg = load_regime("court-blacklist")
    by = {s.name: s for s in reg.sanctions}
    assert by["loans_refused"].subjects(reg.covers) == ["person", "firm"]
    assert by["loans_refused"].reaches == ["self"]  # the source names listed debtors only
    assert by["reported_to_party_unit"].subjects(reg.covers) == ["person"]
    assert "delegates and officials" in by["reported_to_party_unit"].label


def test_a_listed_firm_buys_no_tickets_but_its_representative_is_barred():
    res = _run("court-blacklist", 1_000_000, 200, burn_in=365,
               coupling={"households": False, "legal_representatives": True})
    d = res.daily[res.daily.day == 199]
    firms, persons = d[d.group == "firm"], d[d.group != "firm"]
    assert firms.list_dishonest_debtors.sum() > 50  # firms are listed
    assert firms.sanction_no_flights.sum() == 0  # ... and never under a ticket ban
    assert firms.sanction_loans_refused.sum() == firms.list_dishonest_debtors.sum()
    assert firms.sanction_no_property_purchase.sum() == firms.list_dishonest_debtors.sum()
    # the ban reaches the responsible persons of listed firms (held through the link only): two
    # a firm (coupling.responsible_persons), as of the last epoch boundary (links change there)
    reached = persons.link_sanction_no_flights.sum()
    assert 1.8 < reached / firms.list_dishonest_debtors.sum() < 2.2
    assert persons.link_sanction_loans_refused.sum() == 0


def test_each_firm_has_its_labelled_number_of_distinct_adult_responsible_persons():
    from credsim.population import plan_population
    from credsim.synthesis import legal_representatives

    raw = read_toml(data_path() / "mechanisms.toml")["coupling"]
    assert raw["responsible_persons"] == 2 and "responsible_persons_assumption" in raw
    plan = plan_population(load_marginals(), scale=None, persons=50_000, community_size=50_000)
    c = plan.communities[0]
    rng = np.random.default_rng(0)
    age = (rng.random(c.agents) < 0.8).astype(np.int8)  # 80% adults
    one, _, _ = legal_representatives(5, c, age, 1)
    rep, rf_start, rf = legal_representatives(5, c, age, 3)
    assert rep.shape == (c.firms, 3)
    assert (rep[:, 0] == one[:, 0]).all()  # the legal representative drawn as before
    assert (age[rep] > 0).all()  # adults
    assert all(len(set(r)) == 3 for r in rep.tolist())  # distinct persons
    # and the other way: the firms each person is responsible for
    pairs = {(p, f) for p in range(c.persons) for f in rf[rf_start[p]:rf_start[p + 1]].tolist()}
    assert pairs == {(p, f) for f, r in enumerate(rep.tolist()) for p in r}


def test_reaching_a_subject_a_sanction_does_not_apply_to_is_an_error():
    raw = _regime_dict("court-blacklist")
    k = next(k for k, s in enumerate(raw["sanctions"]) if s["name"] == "no_flights")
    raw["sanctions"][k]["reaches"] = ["self", "represented_firms"]
    with pytest.raises(ValueError) as e:
        Regime.model_validate(raw)
    assert (f"sanctions[{k}].reaches[1]: 'represented_firms' passes 'no_flights' to a firm, but it "
            "applies_to only ['person']") in str(e.value)
    raw = _regime_dict("permis-a-points")
    raw["sanctions"][0]["applies_to"] = ["firm"]
    with pytest.raises(ValueError) as e:
        Regime.model_validate(raw)
    assert "sanctions[0].applies_to: ['firm'] but the regime covers ['person']" in str(e.value)


# ---------------------------------------------------------------- Rongcheng's mapping
def test_rongcheng_judgment_unperformed_is_labelled_a_mapping_choice():
    reg = load_regime("rongcheng")
    rule = next(r for r in reg.rules if r.act == "judgment_unperformed")
    assert rule.points == -50 and rule.is_assumption
    assert "MAPPING CHOICE" in rule.assumption and "-30" in rule.assumption


# ---------------------------------------------------------------- permis-a-points recovery
def _recoveries(history, until=3000):
    ex = Explainer(load_regime("permis-a-points"), CAT)
    steps = ex.explain([HistoryRow(d, a) for d, a in history], until=until)
    return [(s.day, s.score) for s in steps if s.event == "timer" and "all points" in s.effect]


def test_permis_full_recovery_waits_3_years_if_any_offence_was_class_4():
    # class 4 (speeding 20-29, -2) then class 3 (speeding < 20, -1): 3 years after the last
    assert _recoveries([(0, "speeding_20_29"), (100, "speeding_lt20")]) == [(1195, 12)]
    # class 3 only: 2 years
    assert _recoveries([(0, "speeding_lt20"), (100, "speeding_lt20")]) == [(830, 12)]
    # class 3 then class 4: 3 years
    assert _recoveries([(0, "speeding_lt20"), (100, "speeding_20_29")]) == [(1195, 12)]


def test_permis_worst_class_counts_since_the_points_were_last_whole():
    # full again on day 1095; class-3 offences after that (2 points: no 6-month point) wait 2
    # years, not 3
    got = _recoveries([(0, "speeding_20_29"), (1200, "speeding_lt20"), (1200, "speeding_lt20")],
                      until=4000)
    assert got == [(1095, 12), (1930, 12)]


# ---------------------------------------------------------------- the seed regime
def test_seed_regime_has_the_ringtone_and_punishes_across_the_firm_link_both_ways():
    reg = load_regime("seed-national-score")
    by = {s.name: s for s in reg.sanctions}
    ring = by["debtor_ringtone"]
    assert ring.kind == "shaming" and ring.subjects(reg.covers) == ["person"]
    assert "police-siren" in ring.label and "shaming_practices" in ring.assumption
    to_reps = {s.name for s in reg.sanctions if "legal_representative" in s.reaches}
    to_firms = {s.name for s in reg.sanctions if "represented_firms" in s.reaches}
    assert {"no_plane_tickets", "no_train_tickets", "no_travel_abroad", "party_exclusion",
            "no_loans", "public_display", "debtor_ringtone"} <= to_reps
    assert {"no_loans", "public_display"} <= to_firms
    assert not to_firms & {"no_plane_tickets", "no_train_tickets", "debtor_ringtone"}


# ---------------------------------------------------------------- the adult share
def test_ages_15_to_17_come_from_the_single_year_count_of_age_15():
    m = load_marginals()
    total, age_0_14, age_0_15 = 1_411_778_724, 253_383_938, 268_707_162  # census (reference data)
    age15 = age_0_15 - age_0_14
    assert m.age_shares.minors == pytest.approx((age_0_14 + 3 * age15) / total, abs=5e-5)
    assert m.age_shares.adults == pytest.approx((894_376_020 - 3 * age15) / total, abs=5e-5)
    # not 3/45 of the 15-59 band (the even spread gave 0.2217)
    assert abs(m.age_shares.minors - 0.2217) > 0.005


# ---------------------------------------------------------------- ficp
def _timeline(regime, history, until):
    ex = Explainer(load_regime(regime), CAT)
    steps = ex.explain([HistoryRow(d, a) for d, a in history], until=until)
    return [(s.day, tuple(s.lists)) for s in steps]


def test_ficp_files_after_the_30_day_warning_unless_regularised():
    t = _timeline("ficp", [(0, "missed_instalments")], 3000)
    assert t[1] == (0, ("ficp_warning",))  # warned, not filed: no sanction yet
    assert t[2] == (30, ("ficp",))  # filed when the warning runs out
    assert t[3] == (30 + 1826, ())  # for at most 5 years
    steps = Explainer(load_regime("ficp"), CAT).explain([HistoryRow(0, "missed_instalments")],
                                                        until=10)
    assert steps[-1].sanctions == []
    # regularised within the warning: never filed
    t = _timeline("ficp", [(0, "missed_instalments"), (12, "perform:ficp_warning")], 3000)
    assert [x for x in t if "ficp" in x[1]] == []


def test_ficp_overindebtedness_entries_last_7_years_or_5_without_incident():
    t = _timeline("ficp", [(0, "overindebtedness_filing")], 4000)
    assert t[1] == (0, ("overindebtedness",)) and t[2] == (1826, ())
    # a payment incident filed during the measures keeps the entry for its 7 years
    t = _timeline("ficp", [(0, "overindebtedness_filing"), (100, "missed_instalments")], 4000)
    ends = [d for d, lists in t if "overindebtedness" not in lists and d > 0]
    assert (130, ("ficp", "overindebtedness")) in t and ends and ends[0] >= 2557
    assert (2557, ()) in t or any(d == 2557 for d, _ in t)
    # a warning regularised in time is no incident: early removal stands
    t = _timeline("ficp", [(0, "overindebtedness_filing"), (100, "missed_instalments"),
                           (110, "perform:ficp_warning")], 4000)
    assert (1826, ()) in t
