"""Hand-worked histories for every shipped regime, step by step through ``explain``."""

import json

import pytest
from click.testing import CliRunner

from credsim.behaviour import load_catalogue
from credsim.cli import main
from credsim.errors import ConfigError
from credsim.explain import Explainer, HistoryRow, read_history
from credsim.regime import load_regime


def explain(regime: str, history: list[tuple[int, str]], until: int | None = None):
    cat = load_catalogue("default")
    steps = Explainer(load_regime(regime), cat).explain([HistoryRow(d, a) for d, a in history], until)
    return steps


def states(steps):
    return [(s.day, s.event, s.score, s.grade, tuple(s.lists), tuple(s.sanctions)) for s in steps]


def test_permis_deductions_cap_invalidation_and_recovery():
    steps = explain("permis-a-points", [(10, "red_light_running"), (20, "speeding_ge50"),
                                        (20, "phone_use")], until=1200)
    st = states(steps)
    assert st[0][:4] == (0, "start", 12, "12 points")
    assert st[1][:4] == (10, "red_light_running", 8, "7-11 points")
    # 6 + 3 points on one day, capped at 8: 8 - 8 = 0, then the licence is invalidated
    day20 = [s for s in st if s[0] == 20]
    assert all(s[2] == 0 and s[3] == "invalidated" for s in day20)
    assert day20[-1][4] == ("licence_invalidated",) and day20[-1][5] == ("no_driving",)
    assert any("capped at 8" in s.effect for s in steps if s.day == 20)
    # 183 days later the wait ends: a new licence with 6 points
    expiry = [s for s in steps if s.event == "timer" and "expired" in s.effect]
    assert (expiry[0].day, expiry[0].score, expiry[0].lists) == (203, 6, [])
    # last offence class 5: all points back 3 years (1095 days) after it, not after 2
    rec = [s for s in steps if s.event == "timer" and "recovery" in s.effect]
    assert [(s.day, s.score) for s in rec] == [(20 + 1095, 12)]


def test_permis_one_point_back_after_six_months():
    st = states(explain("permis-a-points", [(0, "speeding_lt20")], until=800))
    assert st[1][2] == 11
    assert (183, "timer", 12) == st[2][:3]
    assert len(st) == 3  # nothing more: the score is back at 12


def test_court_blacklist_listing_performance_removal_and_expiry():
    steps = explain("court-blacklist", [(5, "judgment_unperformed"),
                                        (100, "perform:dishonest_debtors"),
                                        (200, "judgment_unperformed")], until=1000)
    st = states(steps)
    listed = st[1]
    assert listed[:2] == (5, "judgment_unperformed") and listed[4] == ("dishonest_debtors",)
    assert "no_flights" in listed[5] and "exit_ban" in listed[5] and len(listed[5]) >= 12
    removal = [s for s in steps if "after performance" in s.effect]
    assert [s.day for s in removal] == [103]  # within 3 days of performing
    assert removal[0].lists == [] and removal[0].sanctions == []
    expiry = [s for s in steps if "expired" in s.effect]
    assert [s.day for s in expiry] == [200 + 730]


def test_ficp_five_years_at_most():
    steps = explain("ficp", [(0, "missed_instalments"), (100, "overdraft_abuse")], until=2500)
    # filed when the lender's 30-day warning runs out (issue 14: the warning before filing)
    assert steps[1].lists == ["ficp_warning"] and steps[1].sanctions == []
    assert (steps[2].day, steps[2].lists) == (30, ["ficp"])
    assert steps[2].sanctions == ["credit_refused_in_practice"]
    expiry = [s for s in steps if "ficp listing expired" in s.effect]
    # a second incident while listed: the listing runs 5 years from its filing (day 130)
    assert [s.day for s in expiry] == [130 + 1826]


def test_ficp_regularisation_removes_early():
    steps = explain("ficp", [(0, "missed_instalments"), (40, "perform:ficp")], until=100)
    removal = [s for s in steps if "after performance" in s.effect]
    assert [s.day for s in removal] == [44]


def test_rongcheng_deductions_rewards_grade_cap_and_recovery():
    st = states(explain("rongcheng", [(1, "judgment_unperformed"), (2, "heroic_act"),
                                      (3, "drunk_driving")], until=2000))
    assert st[1][:4] == (1, "judgment_unperformed", 950, "B")
    assert st[1][5] == ("warning_talk",)
    assert st[2][:4] == (2, "heroic_act", 980, "A")
    # drunk driving: -5 and the grade capped at C (the score is lowered to C's top, 849)
    assert st[3][:4] == (3, "drunk_driving", 849, "C")
    assert "enhanced_supervision" in st[3][5]
    assert st[4][:4] == (3 + 1826, "timer", 1000, "A")


def test_seed_national_score_as_described():
    hist = [(0, "criticising_authorities")] + [(10, "fare_evasion")] * 5 + [(11, "judgment_unperformed")]
    st = states(explain("seed-national-score", hist, until=100))
    assert st[1][2:4] == (980, "A")
    assert st[-1][2:4] == (830, "C")
    assert st[-1][5] == ("no_loans", "more_surveillance")
    day10 = [s for s in st if s[0] == 10]
    assert day10[-1][2:4] == (930, "B")
    st = states(explain("seed-national-score", [(0, "heroic_act")] * 7))
    assert st[-1][2:4] == (1210, "A+++")
    assert "party_membership_eligible" in st[-1][5] and "stand_for_election" in st[-1][5]


def test_sesame_dimension_weights():
    st = states(explain("sesame", [(1, "missed_instalments"), (2, "on_time_repayment"),
                                   (3, "volunteer_work")], until=10))
    assert st[0][2:4] == (630, "good")
    assert st[1][2:4] == (630 - 35, "medium")  # -100 x credit_history weight 0.35
    assert st[2][2] == 596  # +3 x 0.35 rounds to +1
    assert st[3][2] == 598  # +10 x 0.15 = 1.5 rounds to 2


def test_history_files_and_their_errors(tmp_path):
    good = tmp_path / "h.csv"
    good.write_text("day,act\n3,littering\n1,blood_donation\n")
    rows = read_history(good, ["littering", "blood_donation"], [])
    assert [(r.day, r.act) for r in rows] == [(1, "blood_donation"), (3, "littering")]
    bad = tmp_path / "bad.csv"
    bad.write_text("day,act\n-1,littering\nx,littering\n2,litering\n3,perform:nolist\n")
    with pytest.raises(ConfigError) as exc:
        read_history(bad, ["littering"], ["ficp"])
    msg = str(exc.value)
    assert str(bad) in msg
    assert "row 2.day: '-1'" in msg and "row 3.day: 'x'" in msg
    assert "row 4.act: 'litering' is not an act" in msg
    assert "row 5.act: 'perform:nolist' names no list" in msg
    js = tmp_path / "h.json"
    js.write_text(json.dumps([{"day": 4, "act": "littering"}]))
    assert read_history(js, ["littering"], [])[0].day == 4


def test_cli_explain_and_validate(tmp_path):
    h = tmp_path / "h.csv"
    h.write_text("day,act\n10,red_light_running\n")
    r = CliRunner().invoke(main, ["explain", "--regime", "permis-a-points", str(h), "--json",
                                  "--until", "400"])
    assert r.exit_code == 0, r.output
    steps = json.loads(r.output)
    assert steps[1]["score"] == 8 and steps[1]["grade"] == "7-11 points"
    bad = tmp_path / "s.toml"
    bad.write_text("name = 'x'\n[population]\nscale = 2\n[regime]\nuse = 'ficp'\n")
    r = CliRunner().invoke(main, ["validate", str(bad)])
    assert r.exit_code == 2
    assert "population.scale: 2" in r.output
    r = CliRunner().invoke(main, ["regimes"])
    assert r.exit_code == 0
    for name in ("seed-national-score", "rongcheng", "court-blacklist", "permis-a-points", "ficp",
                 "sesame", "nosedive"):
        assert name in r.output
