"""The FCC regime (France's central cheque file, issue 14 part 7): durations, removal on
regularisation, whom it reaches, and its place among the shipped regimes."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from credsim.behaviour import load_catalogue
from credsim.cli import main
from credsim.explain import Explainer, HistoryRow
from credsim.mechanisms import mechanisms_off
from credsim.regime import load_regime
from credsim.scenario import Scenario
from credsim.sim import Sim

CAT = load_catalogue()


def _timeline(history, until=4000):
    ex = Explainer(load_regime("fcc"), CAT)
    steps = ex.explain([HistoryRow(d, a) for d, a in history], until=until)
    return [(s.day, tuple(s.lists), tuple(s.sanctions)) for s in steps]


def test_a_bounced_cheque_bars_cheques_for_5_years():
    t = _timeline([(10, "bounced_cheque")])
    assert t[1] == (10, ("cheque_ban",), ("no_cheques",))
    assert t[2] == (10 + 1826, (), ())


def test_a_card_withdrawn_for_abuse_is_filed_for_2_years():
    t = _timeline([(10, "card_abuse")])
    assert t[1] == (10, ("card_withdrawn",), ("card_blocked",))
    assert t[2] == (10 + 730, (), ())


def test_regularisation_removes_the_entry_after_the_banks_delay():
    t = _timeline([(10, "bounced_cheque"), (100, "perform:cheque_ban")])
    assert (100 + 14, (), ()) in t and all(d <= 114 for d, _, _ in t)
    t = _timeline([(10, "card_abuse"), (50, "perform:card_withdrawn")])
    assert (52, (), ()) in t
    # the two files are apart: regularising the card leaves the cheque ban
    t = _timeline([(10, "bounced_cheque"), (10, "card_abuse"), (50, "perform:card_withdrawn")])
    assert (52, ("cheque_ban",), ("no_cheques",)) in t


def test_fcc_reaches_the_account_holder_alone():
    reg = load_regime("fcc")
    assert reg.covers == ["person"]
    assert all(s.reaches == ["self"] and s.applies_to == ["person"] for s in reg.sanctions)
    sc = Scenario.from_dict({
        "name": "fcc-test", "seed": 3, "days": 365,
        "population": {"persons": 200_000, "community_size": 100_000},
        "regime": {"use": "fcc"}, "output": {"panel_agents": 0, "report": False},
        **mechanisms_off()})
    res = Sim(sc).run(workers=1, progress=False)
    d = res.daily
    end = d[d.day == 364]
    assert end.list_cheque_ban.sum() > 100 and end.list_card_withdrawn.sum() > 50
    # nobody but a listed account holder: no firm, no child, nothing through a link
    assert (d[d.group == "firm"].sanction_no_cheques == 0).all()
    assert (d[d.grade == "unscored"].sanction_no_cheques == 0).all()
    assert d.link_sanction_no_cheques.sum() == 0 and d.link_sanction_card_blocked.sum() == 0
    assert (d.sanction_no_cheques == d.list_cheque_ban).all()
    # listings follow the acts recorded: every bounced cheque recorded lists or relists
    a = res.acts
    rec = a[a.act == "bounced_cheque"].recorded.sum()
    assert rec > 0 and np.isclose(a[a.act == "bounced_cheque"].true.sum(), rec, rtol=0.2)


def test_fcc_is_listed_by_credsim_regimes_and_its_scenario_loads():
    r = CliRunner().invoke(main, ["regimes"])
    assert r.exit_code == 0 and "fcc" in r.output and "cheque" in r.output.lower()
    sc = Scenario.from_file("scenarios/fcc.toml")
    assert sc.regime_model.name == "fcc"
