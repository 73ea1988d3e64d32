"""Errors, appeals, surveillance feedback, behaviour response, joint punishment through links."""

from collections import namedtuple

import numpy as np
import pytest
from conftest import make_scenario

from credsim.compile import grade_table
from credsim.kernel import couple
from credsim.layout import PANEL_COLS, Measures
from credsim.sim import Sim
from credsim.state import Agents, Links, Outputs, Span, State

N = 200_000
BASE = dict(days=180, population={"persons": N, "community_size": 50_000, "firms": False},
            output={"panel_agents": 0, "report": False})


def run(**over):
    kw = {**BASE, **over}
    return Sim(make_scenario(**kw)).run(workers=1, progress=False)


def errors_on(fpir, **extra):
    return {"errors": {"enabled": True},
            "detection": {"errors": {"eye": {"fpir": fpir, "probes_per_year": 1.0}}}, **extra}


def test_no_error_rate_no_false_records_and_no_false_sanctions():
    res = run(**errors_on(0.0), surveillance={"enabled": True}, appeals={"enabled": True})
    assert res.acts["false"].sum() == 0
    d = res.daily
    assert d.falsely_restricted.sum() == 0
    assert all(d[c].sum() == 0 for c in d.columns if c.startswith(("false_sanction_", "false_list_")))
    assert res.summary["harms"]["false_sanctions"]["wrongful_restricted_person_days"] == 0


@pytest.fixture(scope="module")
def false_runs():
    return {f: run(**errors_on(f)) for f in (0.01, 0.02, 0.04)}


def test_false_records_match_the_rate_and_grow_linearly(false_runs):
    res = false_runs[0.01]
    adults = res.harm.agents.sum()
    women = res.harm[res.harm.group.isin(["female_urban", "female_rural"])].agents.sum()
    # rate fpir * probes per person-year, twice as high for women (female_multiplier 2)
    expect = 0.01 * 180 / 365 * (adults - women + 2 * women)
    got = res.acts["false"].sum()
    assert abs(got - expect) < 5 * np.sqrt(expect)
    f1, f2, f4 = (false_runs[f].acts["false"].sum() for f in (0.01, 0.02, 0.04))
    assert abs(f2 / f1 - 2) < 5 * 2 * np.sqrt(1 / f1 + 1 / f2)
    assert abs(f4 / f1 - 4) < 5 * 4 * np.sqrt(1 / f1 + 1 / f4)
    # recorded counts include the false ones; true acts do not
    a = res.acts
    assert (a.recorded >= a["false"]).all()


def test_false_records_put_innocent_agents_under_false_sanctions(false_runs):
    res = false_runs[0.04]
    d = res.daily
    assert d.false_list_black.sum() > 0
    assert d.falsely_restricted.sum() > 0
    assert (d.falsely_restricted <= d.restricted).all()
    harms = res.summary["harms"]
    # agents with no true deducted act can only be restricted through errors
    di = harms["disparate_impact_innocent"]["share_ever_restricted_by_group"]
    assert max(di.values()) > 0


def test_appeals_lift_false_listings():
    no = run(**errors_on(0.04), appeals={"enabled": False})
    yes = run(**errors_on(0.04), appeals={"enabled": True, "probability": 1.0, "delay_days": 5})
    assert yes.daily.false_list_black.sum() < 0.5 * no.daily.false_list_black.sum()


def _recorded_per_true_by_grade(res):
    g = res.daily.groupby("grade", observed=True)[["acts_true", "acts_recorded"]].sum()
    g = g[g.acts_true > 500]
    return g.acts_recorded / g.acts_true, g.acts_true


def _equal_detection():
    return {"detection": {"sensors": {"eye": {"p_urban": 0.4, "p_rural": 0.4}}}}


def test_without_feedback_recorded_per_true_is_the_same_in_every_grade():
    res = run(**_equal_detection(), surveillance={"enabled": False})
    ratio, n = _recorded_per_true_by_grade(res)
    assert len(ratio) >= 2
    se = np.sqrt(0.4 * 0.6 / n)
    assert (np.abs(ratio - 0.4) < 5 * se).all(), ratio


def test_with_feedback_watched_grades_are_recorded_more():
    res = run(**_equal_detection(), surveillance={"enabled": True, "multiplier": 3.0,
                                                  "lowest_grades": 1, "listed": False})
    ratio, n = _recorded_per_true_by_grade(res)
    # the lowest grade is watched: 1 - 0.6^3 = 0.784 of its acts are recorded
    assert abs(ratio["low"] - 0.784) < 5 * np.sqrt(0.784 * 0.216 / n["low"])
    assert abs(ratio["high"] - 0.4) < 5 * np.sqrt(0.24 / n["high"])


def _true_acts(res):
    return res.acts.groupby("act", observed=True)["true"].sum()


def test_with_elasticities_at_zero_behaviour_does_not_depend_on_the_regime():
    zero = {"deterrence": 0.0, "gaming": 0.0, "chilling": 0.0}
    a = run(response=zero)
    b = run(response=zero, regime={"file": "analytic-regime.toml"})
    pd_a, pd_b = _true_acts(a), _true_acts(b)
    assert pd_a.equals(pd_b)  # same seed, same acts, whatever the regime scores
    deterred = run(response={"deterrence": 2.0, "gaming": 0.0, "chilling": 0.0})
    assert _true_acts(deterred)["worse"] < 0.95 * pd_a["worse"]
    # gaming: good deeds rise (only near thresholds) when the elasticity is positive
    gamed = run(response={"deterrence": 0.0, "gaming": 1.0, "gaming_window": 30, "chilling": 0.0})
    assert _true_acts(gamed)["good"] > pd_a["good"]


def test_firm_listing_bans_its_legal_representative_until_lifted():
    # three persons (one household) and one firm represented by person 1
    n_p = 3
    band_min = np.array([50, 0], np.int32)
    grade_sanc = np.zeros(3, np.uint64)
    list_sanc = np.array([1], np.uint64)  # list 0 -> sanction 0
    group = np.array([0, 2, 0, 4], np.int8)
    age = np.array([1, 1, 0, 1], np.int8)  # person 2 is a child
    hh_start = np.array([0, 3], np.int64)
    hh_of = np.zeros(3, np.int32)
    rep = np.array([[1]], np.int64)  # its responsible persons: one
    rf_start = np.array([0, 0, 1, 1], np.int64)
    rf = np.array([0], np.int64)
    panel = np.full(4, -1, np.int32)
    score = np.full(4, 100, np.int32)
    strue = score.copy()
    lists = np.array([0, 0, 0, 1], np.uint16)  # the firm is listed
    lfalse = np.zeros(4, np.uint16)
    flags = np.zeros(4, np.uint8)
    spill = np.zeros(4, np.uint64)
    due = np.full(4, 10**6, np.int32)
    ms = Measures.of(1, 1)  # one sanction, one list
    diff = np.zeros((1, 30, 5, 3, ms.count), np.int64)
    pbuf = np.zeros((1, 1, PANEL_COLS), np.int64)
    pn = np.zeros(1, np.int64)

    # the fields couple reads, by name (Numba types a named tuple by its fields)
    Reg = namedtuple("Reg", "band_min grade_sanc list_sanc covers_person covers_firm score_min grade_lut "
                     "ticket_block ticket_any ticket_shape held")
    Mech = namedtuple("Mech", "households reach_children reach_rep reach_firms restrict_mask")
    R = Reg(band_min, grade_sanc, list_sanc, True, True, 0, grade_table(band_min, 0, 100),
            np.zeros(2, np.uint64), np.uint64(0), 0.0,
            np.full(2, 2**64 - 1, np.uint64))  # persons and firms can be under every sanction
    X = Mech(True, np.uint64(1), np.uint64(1), np.uint64(0), np.uint64(1))
    e8 = np.zeros(0, np.uint8)
    agents = Agents(group, age, np.zeros(0, np.bool_), np.ones((4, 1), np.float32), panel, e8)
    links = Links(hh_start, hh_of, rep, rf_start, rf)
    st = State(score, strue, lists, lfalse, np.zeros(4, np.uint16), np.zeros((4, 1), np.int32),
               np.zeros((4, 1), np.int32),
               np.zeros((4, 0), np.int32), np.zeros(0), np.zeros(4, np.int32), flags,
               np.zeros(4, np.int16), spill, np.zeros(4, np.uint8), due)
    out = Outputs(diff, np.zeros((1, 1, 5, 1, 3), np.int32), np.zeros((1, 1, 5, 3, 3), np.int32),
                  pbuf, pn)

    def step(day, todo):
        span = Span(0, n_p, 0, 0, day, day, 0, 30, 1, False, False)
        couple(span, np.array(todo, np.int64), np.zeros(0, np.uint64), R, X, ms, agents, links, st,
               out, True)

    step(7, [3])
    assert spill.tolist() == [0, 1, 0, 0]  # the representative, not the others
    assert due[1] == 7  # and it is visited in the next epoch
    # the representative's own ban does not reach its household's child: only own sanctions reach
    assert diff[0, 7, 2, 0, ms.link_sanction] == 1  # person 1 (male urban, grade ok) banned through a link
    lists[3] = 0
    step(14, [3])
    assert spill.tolist() == [0, 0, 0, 0]
    assert diff[0, 14, 2, 0, ms.link_sanction] == -1
    # a listed parent bars the household's child
    lists[0] = 1
    step(21, [0])
    assert spill[2] == 1


def test_links_apply_from_the_next_epoch_in_a_run():
    sc = make_scenario(days=120, epoch_days=10, regime={"file": "reach-regime.toml"},
                       coupling={"households": True, "legal_representatives": True},
                       population={"persons": 100_000, "community_size": 50_000})
    res = Sim(sc).run(workers=1, progress=False)
    bd = res.by_day
    d = res.daily
    # children hold no sanction of their own: theirs come through the household, and change
    # only at epoch boundaries (days 10, 20, ...)
    kids = d[d.grade == "unscored"].groupby("day").link_sanction_consumption_ban.sum()
    kids = kids.reindex(range(120), fill_value=0).to_numpy()
    assert kids.max() > 0
    changes = np.flatnonzero(np.diff(kids)) + 1
    assert len(changes) and all(day % 10 == 0 for day in changes), changes
    sp = res.summary["harms"]["spillover"]
    assert sp["unscored_persons_through_link_final_day"]["consumption_ban"] > 0  # children
    assert bd.link_sanction_firm_drag.max() > 0  # firms of persons in the bad grade


@pytest.mark.parametrize("links,regime", [
    ({"households": True, "legal_representatives": False}, "reach-regime.toml"),
    ({"households": True, "legal_representatives": True}, "reach-regime.toml"),
    ({"households": True, "legal_representatives": True}, "reach-split-regime.toml"),
    ({"households": False, "legal_representatives": True}, "reach-split-regime.toml"),
    ({"households": False, "legal_representatives": True}, "reach-both-regime.toml"),
])
def test_one_pass_and_free_agents_give_the_epochs_results(monkeypatch, links, regime):
    """Optimised runs equal the plain epoch loop, cell for cell. With links to children only:
    one pass and a replay of the parents' logged changes. With links between adults: when a
    sanction reaches both children and across firm links, agents no link touches run through
    the epochs and the others stop at each boundary; otherwise one pass too, then the firms
    and representatives a link reached run again, adding what the links add (panel agents
    among them: run quiet first, then in full). The reference stops every agent at every
    boundary. With a sanction that reaches both ways across the firm link, an agent's own
    reaching sanctions can change while a link already gives it the same ones: the epoch loop
    must still couple its links (it once did not, and this case failed)."""
    from credsim import engine, executors

    sc = make_scenario(days=120, epoch_days=10, regime={"file": regime},
                       coupling=links, output={"panel_agents": 3000, "report": False},
                       population={"persons": 60_000, "community_size": 30_000})
    orig, run_epoch = engine._bound, engine.run_epoch
    free = []
    epochs = []
    reruns = []  # (agents that add what links add, quiet agents rerun in full, link changes)

    def counted(spec, c, *args, **kw):
        b = orig(spec, c, *args, **kw)
        free.append(int((b == 0).sum()))
        epochs.append(kw.get("children", True))
        return b

    code = run_epoch.__code__
    names = code.co_varnames[: code.co_argcount]

    def spied(*a):
        k = dict(zip(names, a, strict=True))
        visit, quiet, sp_ptr = k["visit"].agents, k["visit"].quiet, k["visit"].sp_ptr
        if k["span"].relink:
            q = quiet[visit] if len(quiet) else np.zeros(len(visit), np.uint8)
            reruns.append(((q == 0).sum(), (q == 1).sum(), sp_ptr[-1]))
        run_epoch(*a)

    monkeypatch.setattr(engine, "_bound", counted)
    monkeypatch.setattr(engine, "run_epoch", spied)
    fast = Sim(sc).run(workers=1, progress=False)
    split = regime != "reach-regime.toml"  # no sanction reaches children and across firms
    if links["legal_representatives"]:
        comms = Sim(sc).plan.communities
        assert free and min(free) > 0  # free agents in every community
        # stopping at boundaries only when one sanction reaches children and across firm links
        assert not any(epochs) if split else all(epochs)
        if split:  # only firms and representatives rerun: some add, some (panel) in full
            per = 1 + sc.coupling.responsible_persons  # each firm and its responsible persons
            assert all(fr >= c.agents - per * c.firms for fr, c in zip(free, comms, strict=True))
            corr, full, changes = np.sum(reruns, axis=0)
            assert len(reruns) == len(comms) and corr > 0 and full > 0 and changes > 0
            seen = fast.panel[fast.panel.event == "link"]
            assert len(seen) and (seen.sanctions > 0).any()
    else:
        assert not free  # one pass and a replay: no epochs at all
    monkeypatch.setattr(engine, "run_epoch", run_epoch)

    def epochs_only(spec, c):
        return engine.run_community(spec, c, replay=False)

    monkeypatch.setattr(engine, "_bound", lambda spec, c, *a, **kw: engine.scratch(
        "bound", (c.agents,), np.uint8, fill=1))
    monkeypatch.setattr(executors, "run_community", epochs_only)
    slow = Sim(sc).run(workers=1, progress=False)
    for name in ("daily", "acts", "panel", "harm"):
        assert getattr(fast, name).equals(getattr(slow, name)), name
    assert np.array_equal(fast.score_hist, slow.score_hist)
    # each panel agent's rows run in day order, whichever thread wrote them
    assert (fast.panel.groupby("agent").day.diff().fillna(0) >= 0).all()


def test_explain_a_panel_agent_shows_its_records_true_and_false(tmp_path):
    from click.testing import CliRunner

    from credsim.cli import main

    sc = make_scenario(**{**BASE, **errors_on(0.2), "output": {"panel_agents": 400, "report": False}})
    res = Sim(sc).run(tmp_path / "run", workers=1, progress=False)
    p = res.panel
    falsely = p[(p.event == "false_record") & (p.sanctions > 0)]
    assert len(falsely), "some panel agent should be sanctioned after a false record"
    # a sanction at a false record may rest on it or on something else (a privilege held since
    # day 0): every such agent's chain shows the false record, and some sanction rests on one
    resting_on_false = 0
    for k in falsely.agent.unique()[:20]:
        r = CliRunner().invoke(main, ["explain", "--run", str(tmp_path / "run"), "--agent", str(k)])
        assert r.exit_code == 0, r.output
        assert "FALSE RECORD" in r.output and "resting on:" in r.output
        resting_on_false += "[FALSE, eye (false match)]" in r.output
    assert resting_on_false > 0
    r = CliRunner().invoke(main, ["explain", "--run", str(tmp_path / "run"), "--agent", "999999"])
    assert r.exit_code == 2 and "no panel agent 999999" in r.output
