"""Overrides by key path (``--set regime.bands[3].min=900``): parsing, setting by index and by
name, the change reaching the compiled run, and an error naming source, path and expectation
for every kind of bad path or value (also through the command line: exit 2, no traceback)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from credsim.cli import main
from credsim.errors import ConfigError
from credsim.overrides import parse_assignment, parse_path, parse_value, set_path, show
from credsim.scenario import Scenario
from credsim.sim import Sim

ROOT = Path(__file__).parent.parent
DEMO = ROOT / "scenarios" / "demo.toml"  # seed-national-score: bands A+++ .. D, a littering rule
RONGCHENG = ROOT / "scenarios" / "rongcheng.toml"  # population.scale = 0.01
SMALL = {"population.persons": 3000}


@pytest.fixture(scope="module")
def demo() -> Scenario:
    return Scenario.from_file(DEMO).with_overrides(SMALL, source="small")


@pytest.fixture(scope="module")
def demo_spec(demo):
    return Sim(demo).engine_spec()


# ---------------------------------------------------------------------------------- parsing
def test_parse_path():
    assert parse_path("appeals.probability") == ("appeals", "probability")
    assert parse_path("regime.bands[3].min") == ("regime", "bands", 3, "min")
    assert parse_path("regime.bands[-1].min") == ("regime", "bands", -1, "min")
    p = parse_path("regime.rules[littering].points")
    assert p == ("regime", "rules", "littering", "points")
    assert type(p[2]).__name__ == "_Name" and type(p[1]) is str  # a name selector, not a key
    assert parse_path("regime.bands['A+']") == ("regime", "bands", "A+")
    assert parse_path(" detection.errors.cameras.fpir ") == ("detection", "errors", "cameras", "fpir")
    assert parse_path("a-b.c_d") == ("a-b", "c_d")
    assert show(parse_path("regime.rules[littering].points")) == "regime.rules[littering].points"
    assert show(parse_path("regime.bands[3].min")) == "regime.bands[3].min"
    for bad in ("", ".a", "a..b", "a.b.", "a b", "a[]", "a[1", "a]1", "[0].a", "[x].a", "1a", "a.1"):
        with pytest.raises(ValueError, match="is not a key path"):
            parse_path(bad)


def test_parse_path_name_selector_with_quotes():
    assert parse_path('regime.bands["A+"].min')[2] == "A+"
    assert parse_path("regime.bands[ C ].min")[2] == "C"


def test_parse_value():
    assert parse_value("0.03") == 0.03 and isinstance(parse_value("0.03"), float)
    assert parse_value("900") == 900 and isinstance(parse_value("900"), int)
    assert parse_value("1_000") == 1000
    assert parse_value("true") is True and parse_value("false") is False
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value('"x y"') == "x y"
    assert parse_value("rongcheng") == "rongcheng"  # not TOML: a plain string
    assert parse_value("{a = 1}") == {"a": 1}
    assert parse_value("-5") == -5


def test_parse_assignment():
    assert parse_assignment("appeals.probability=0.5") == ("appeals.probability", 0.5)
    assert parse_assignment(" regime.bands[3].min = 900 ") == ("regime.bands[3].min", 900)
    assert parse_assignment("regime.use=rongcheng") == ("regime.use", "rongcheng")
    assert parse_assignment("name=a=b") == ("name", "a=b")
    for bad in ("appeals.probability", "=0.5", " =1", ""):
        with pytest.raises(ValueError, match="expected KEY.PATH=VALUE"):
            parse_assignment(bad)


def test_set_path_by_index_and_name_in_place():
    doc = {"bands": [{"label": "A", "min": 5}, {"label": "B", "min": 0}],
           "rules": [{"act": "x", "points": 1}, {"act": "y", "points": 2}]}
    set_path(doc, parse_path("bands[1].min"), -3)
    set_path(doc, parse_path("bands[A].min"), 7)
    set_path(doc, parse_path("rules[y].points"), 9)
    set_path(doc, parse_path("rules[-2].points"), 4)
    set_path(doc, parse_path("new.table.key"), 1)  # missing tables are created (validation judges)
    assert doc == {"bands": [{"label": "A", "min": 7}, {"label": "B", "min": -3}],
                   "rules": [{"act": "x", "points": 4}, {"act": "y", "points": 9}],
                   "new": {"table": {"key": 1}}}


# ---------------------------------------------------------------------------------- reaching the run
def test_band_by_index_and_by_name_reach_the_compiled_regime(demo, demo_spec):
    # C's lower edge is the demo's calibrated (UNSOURCED) 824, applied by key path on loading
    assert demo_spec.regime.band_min.tolist() == [1200, 1100, 1050, 960, 850, 824, 0]
    by_index = demo.with_overrides({"regime.bands[3].min": 900})
    by_name = demo.with_overrides({"regime.bands[C].min": 700})
    assert Sim(by_index).engine_spec().regime.band_min.tolist() == [1200, 1100, 1050, 900, 850, 824, 0]
    assert Sim(by_name).engine_spec().regime.band_min.tolist() == [1200, 1100, 1050, 960, 850, 700, 0]
    assert by_index.resolved()["regime"]["bands"][3]["min"] == 900
    assert by_name.resolved()["regime"]["bands"][5]["min"] == 700
    # the scenario overridden is left as it was
    assert demo.regime_model.bands[3].min == 960
    fps = {Sim(s).fingerprint() for s in (demo, by_index, by_name)}
    assert len(fps) == 3


def test_rule_by_name_reaches_act_points(demo, demo_spec):
    i = demo.catalogue.act_names.index("littering")
    assert demo_spec.regime.act_points[i] == -5
    sc = demo.with_overrides({"regime.rules[littering].points": -7})
    pts = Sim(sc).engine_spec().regime.act_points
    assert pts[i] == -7
    assert np.array_equal(np.delete(pts, i), np.delete(demo_spec.regime.act_points, i))
    assert Sim(sc).fingerprint() != Sim(demo).fingerprint()


def _group_of(beh, act: int) -> int:
    for g in range(len(beh.grp_rate)):
        if beh.grp_false[g] == -1 and act in beh.grp_acts[beh.grp_start[g]:beh.grp_start[g + 1]]:
            return g
    raise AssertionError(act)


def test_catalogue_rate_reaches_the_behaviour_tables(demo, demo_spec):
    i = demo.catalogue.act_names.index("littering")
    assert demo.catalogue.acts[i].rate_per_year == 0.6
    sc = demo.with_overrides({"catalogue.acts[littering].rate_per_year": 1.2})
    assert sc.catalogue.acts[i].rate_per_year == 1.2
    spec = Sim(sc).engine_spec()
    g = _group_of(demo_spec.behaviour, i)
    assert spec.behaviour.grp_rate[g] - demo_spec.behaviour.grp_rate[g] == pytest.approx(0.6 / 365)
    others = np.delete(np.arange(len(spec.behaviour.grp_rate)), g)
    assert np.array_equal(spec.behaviour.grp_rate[others], demo_spec.behaviour.grp_rate[others])
    assert sc.resolved()["catalogue"]["acts"][i]["rate_per_year"] == 1.2
    assert Sim(sc).fingerprint() != Sim(demo).fingerprint()


def test_sensor_error_rate_reaches_the_false_match_group(demo, demo_spec):
    b0 = demo_spec.behaviour
    cameras = [s.name for s in demo.catalogue.sensors].index("cameras")
    g = int(np.flatnonzero(b0.grp_false == cameras)[0])
    sc = demo.with_overrides({"detection.errors.cameras.fpir": 0.006})  # 0.003 in the catalogue
    b1 = Sim(sc).engine_spec().behaviour
    assert b1.grp_rate[g] == pytest.approx(2 * b0.grp_rate[g], rel=1e-12)
    assert np.array_equal(np.delete(b1.grp_rate, g), np.delete(b0.grp_rate, g))
    assert sc.resolved()["scenario"]["detection"]["errors"]["cameras"]["fpir"] == 0.006
    assert Sim(sc).fingerprint() != Sim(demo).fingerprint()


def test_marginals_value_reaches_the_engine(demo, demo_spec):
    assert demo_spec.household_size == 2.62
    sc = demo.with_overrides({"marginals.household_size.value": 3.1})
    assert Sim(sc).engine_spec().household_size == 3.1
    assert sc.resolved()["marginals_changes"] == {"household_size.value": 3.1}
    assert Sim(sc).fingerprint() != Sim(demo).fingerprint()


def test_mechanism_value_reaches_the_engine(demo, demo_spec):
    assert demo_spec.mechanisms.appeal_p == 0.3
    sc = demo.with_overrides({"appeals.probability": 0.45, "appeals.delay_days": 9})
    m = Sim(sc).engine_spec().mechanisms
    assert (m.appeal_p, m.appeal_delay) == (0.45, 9)
    assert Sim(sc).fingerprint() != Sim(demo).fingerprint()
    # the same value as the file's: the same run
    same = demo.with_overrides({"appeals.probability": 0.3})
    assert Sim(same).fingerprint() == Sim(demo).fingerprint()
    assert demo.with_overrides({}) is demo


def test_persons_drops_scale_and_scale_drops_persons():
    base = Scenario.from_file(RONGCHENG)
    assert base.population.scale == 0.01 and base.population.persons is None
    sc = base.with_overrides({"population.persons": 5000})
    assert (sc.population.persons, sc.population.scale) == (5000, None)
    assert Sim(sc).plan.persons == 5000
    back = sc.with_overrides({"population.scale": 0.001})
    assert (back.population.persons, back.population.scale) == (None, 0.001)
    assert Sim(sc).fingerprint() != Sim(back).fingerprint()


# ---------------------------------------------------------------------------------- errors
BAD = [
    # (path, value, expected fragments of the one-line message after "SRC: ")
    ("regime.bands[9].min", 900, ["regime.bands: index 9 is out of range", "7 items, 0..6"]),
    ("regime.bands[-8].min", 900, ["regime.bands: index -8 is out of range"]),
    ("regime.rules[litering].points", -5,
     ["regime.rules: no item named 'litering'", "'littering'", "'jaywalking'"]),
    ("regime.bands[Z].min", 1,
     ["regime.bands: no item named 'Z'", "['A+++', 'A++', 'A+', 'A', 'B', 'C', 'D']"]),
    ("catalogue.acts[litering].rate_per_year", 1.0, ["catalogue.acts: no item named 'litering'"]),
    ("appeals.probabilty", 0.3, ["appeals.probabilty: unknown key"]),
    ("regime.scoree.max", 1, ["regime.scoree: unknown key"]),
    ("marginals.household_sizes.value", 3, ["marginals.household_sizes: unknown key"]),
    ("catalogue.acts[littering].rate", 3, ["catalogue.acts[4].rate: unknown key"]),
    ("appeals.probability", "high", ["appeals.probability: 'high'", "valid number"]),
    ("population.persons", "many", ["population.persons: 'many'", "valid integer"]),
    ("regime.bands[3].min", 900.5, ["regime.bands[3].min: 900.5", "integer"]),
    ("appeals", 3, ["appeals: 3", "valid dictionary"]),
    ("appeals.probability.x", 1, ["appeals.probability: is a value (0.3), not a table",
                                  "appeals.probability.x cannot be set"]),
    ("regime.bands.min", 900, ["regime.bands: is a list; choose an item with [index] or [name] before .min"]),
    ("population[0]", 1, ["population: is a table, not a list: use .key, not [0]"]),
    ("regime.bands[3]]", 1, ["'regime.bands[3]]' is not a key path", "e.g. regime.bands[3].min"]),
    ("appeals..probability", 1, ["'appeals..probability' is not a key path"]),
    ("appeals.probability", 2.0, ["appeals.probability: 2.0", "less than or equal to 1"]),
    ("detection.errors.cameras.fpir", 1.5, ["detection.errors.cameras.fpir: 1.5", "less than or equal to 1"]),
    ("catalogue.acts[littering].rate_per_year", -1, ["catalogue.acts[4].rate_per_year: -1",
                                                      "greater than or equal to 0"]),
    ("marginals.household_size.value", "big", ["marginals.household_size.value: 'big'", "valid number"]),
    ("regime.bands[3].min", 2000, ["regime.bands[3].min: 2000 is above the regime's score.max 1300"]),
    ("seed", -1, ["seed: -1", "greater than or equal to 0"]),
    ("detection.errors.eyes.fpir", 0.1,
     ["detection.errors.eyes: not a sensor of the catalogue", "'cameras'"]),
    ("regime.use", "nonexist", ["regime.use: 'nonexist'", "no shipped regime", "rongcheng"]),
]


@pytest.mark.parametrize(("path", "value", "expected"), BAD, ids=[f"{p}={v}" for p, v, _ in BAD])
def test_bad_override_names_source_path_and_expectation(demo, path, value, expected):
    with pytest.raises(ConfigError) as info:
        demo.with_overrides({path: value}, source="SRC")
    msg = str(info.value)
    assert msg.startswith("SRC: "), msg
    for frag in expected:
        assert frag in msg, (frag, msg)


def test_several_bad_paths_are_all_reported(demo):
    with pytest.raises(ConfigError) as info:
        demo.with_overrides({"a..b": 1, "c[": 2}, source="SRC")
    assert info.value.problems == [
        "'a..b' is not a key path (expected keys joined by '.', list items as [3] or [name], "
        "e.g. regime.bands[3].min)",
        "'c[' is not a key path (expected keys joined by '.', list items as [3] or [name], "
        "e.g. regime.bands[3].min)",
    ]


# ---------------------------------------------------------------------------------- command line
CLI_BAD = [
    (["--set", "appeals.probabilty=0.3"], "appeals.probabilty: unknown key"),
    (["--set", "appeals.probability=2"], "appeals.probability: 2"),
    (["--set", "appeals.probability"], "--set: 'appeals.probability': expected KEY.PATH=VALUE"),
    (["--set", "regime.bands[9].min=900"], "regime.bands: index 9 is out of range"),
    (["--set", "regime.rules[litering].points=-1"], "regime.rules: no item named 'litering'"),
    (["--set", "regime.bands.min=900"], "regime.bands: is a list"),
    (["--set", "appeals.probability.x=1"], "appeals.probability: is a value (0.3), not a table"),
    (["--set", "population.persons=many"], "population.persons: 'many'"),
    (["--set", "regime.bands[3]]=1"], "is not a key path"),
]


@pytest.mark.parametrize("command", ["run", "compare"])
@pytest.mark.parametrize(("args", "expected"), CLI_BAD, ids=[a[1] for a, _ in CLI_BAD])
def test_cli_bad_set_exits_2_with_the_message(tmp_path, command, args, expected):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, [command, str(DEMO), *args, "-o", str(out), "-q"])
    assert res.exit_code == 2, (res.output, res.exception)
    assert isinstance(res.exception, SystemExit)
    assert expected in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and "Traceback" not in res.output
    if "expected KEY.PATH" not in expected:
        assert "demo.toml" in res.stderr  # the source: the scenario and its --set
    assert not (out / "runs").exists()


def test_setting_regime_file_clears_regime_use(tmp_path):
    """``regime.use`` and ``regime.file`` exclude each other, as persons and scale: an override of
    one clears the other, and the regime loaded is the file's."""
    import shutil

    from credsim.data import data_path
    from credsim.scenario import Scenario

    shutil.copy(data_path("regimes", "ficp.toml"), tmp_path / "mine.toml")
    sc = Scenario.from_file(ROOT / "scenarios" / "rongcheng.toml")
    changed = sc.with_overrides({"regime.file": str(tmp_path / "mine.toml")})
    assert changed.regime.use is None and changed.regime_model.name == "ficp"
    back = changed.with_overrides({"regime.use": "rongcheng"})
    assert back.regime.file is None and back.regime_model.name == "rongcheng"


def test_overridden_values_carry_their_own_provenance():
    """A value set by key path no longer rests on its file's source: the resolved scenario (what
    a run directory records) lists each override with its label, and the item it changed says
    so, keeping the old text after "was:"."""
    sc = Scenario.from_file(DEMO)
    old = sc.resolved()
    # the demo's own file carries only its calibrated values (``[calibrated]``), labelled so
    assert all(e["assumption"] == "calibrated" for e in old.get("overrides", []))
    s2 = sc.with_overrides({"detection.errors.cameras.fpir": 0.03, "regime.rules[0].points": -7,
                            "appeals.probability": 0.5}, source="demo --set")
    r = s2.resolved()
    labels = {e["path"]: e["assumption"] for e in r["overrides"]}
    assert labels["appeals.probability"] == "override by key path appeals.probability = 0.5 (demo --set)"
    rule = r["regime"]["rules"][0]
    assert rule["points"] == -7 and rule["source"] is None
    assert rule["assumption"].startswith("override by key path regime.rules[0].points = -7 (demo --set)")
    was = old["regime"]["rules"][0]
    assert rule["assumption"].endswith("; was: " + (was["source"] or "assumption: " + was["assumption"]))
    cams = next(s for s in r["catalogue"]["sensors"] if s["name"] == "cameras")
    assert cams["errors_source"].startswith("override by key path detection.errors.cameras.fpir = 0.03")
    # untouched items keep theirs; a later override of the same path replaces the earlier label
    assert r["regime"]["rules"][1] == old["regime"]["rules"][1]
    r3 = s2.with_overrides({"appeals.probability": 0.7}, origin="experiment x").resolved()
    assert [e["assumption"] for e in r3["overrides"] if e["path"] == "appeals.probability"] == [
        "override by key path appeals.probability = 0.7 (experiment x)"]
    assert len(r3["overrides"]) == 3 + len(old.get("overrides", []))
    # a derived scenario (the chilling baseline) keeps them
    assert s2.with_changes({"response": {"chilling": 0.0}}).resolved()["overrides"] == r["overrides"]
