"""Every kind of bad scenario or regime file gives an error naming file, key path and problem."""

from pathlib import Path

import pytest
from conftest import DATA

from credsim.errors import ConfigError
from credsim.regime import load_regime
from credsim.scenario import Scenario

GOOD_SCENARIO = """
name = "t"
days = 10
[population]
persons = 1000
[regime]
file = "{regime}"
[behaviour]
catalogue = "{catalogue}"
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def scenario_text(**repl) -> str:
    return GOOD_SCENARIO.format(regime=DATA / "lists-regime.toml",
                                catalogue=DATA / "analytic-acts.toml") + repl.get("extra", "")


def errors_of(path: Path, loader=Scenario.from_file) -> str:
    with pytest.raises(ConfigError) as exc:
        loader(path)
    msg = str(exc.value)
    assert str(path) in msg  # the file is always named
    return msg


def test_good_files_load(tmp_path):
    Scenario.from_file(write(tmp_path, "ok.toml", scenario_text()))


@pytest.mark.parametrize(
    "edit, expected",
    [
        (("days = 10", "days = -3"), "days: -3: Input should be greater than 0"),
        (("days = 10", "dayz = 10"), "dayz: unknown key"),
        (("persons = 1000", "persons = 1000\nscale = 0.5"), "give exactly one of 'scale'"),
        (("persons = 1000", "persons = 'many'"), "population.persons: 'many'"),
        (("[regime]", "[regime]\nuse = 'rongcheng'"), "regime: give exactly one of 'use'"),
    ],
)
def test_bad_scenario_values(tmp_path, edit, expected):
    text = scenario_text().replace(*edit)
    msg = errors_of(write(tmp_path, "bad.toml", text))
    assert expected in msg


def test_unknown_names_in_overrides(tmp_path):
    extra = """
[behaviour.acts.bda]
rate_per_year = 1.0
[detection.sensors.eyes]
p_urban = 0.1
"""
    msg = errors_of(write(tmp_path, "bad.toml", scenario_text(extra=extra)))
    assert "behaviour.acts.bda: not an act of the catalogue" in msg
    assert "detection.sensors.eyes: not a sensor" in msg


def test_invalid_toml_and_missing_file(tmp_path):
    assert "not valid TOML" in errors_of(write(tmp_path, "x.toml", "days = = 3"))
    assert "file not found" in errors_of(tmp_path / "nope.toml")


def test_shipped_regime_name_unknown(tmp_path):
    text = scenario_text().replace(f'file = "{DATA / "lists-regime.toml"}"', 'use = "atlantis"')
    with pytest.raises(ConfigError, match="no shipped regime of that name"):
        Scenario.from_file(write(tmp_path, "s.toml", text))


REGIME_EDITS = [
    (("min = 60\n", "min = 130\n"), "bands[1].min: 130 is above the regime's score.max 120"),
    (("min = 60\n", "min = 100\n"), "bands[1].min: 100 must be below bands[0].min 100"),
    (('list = "black"\noffence_class = 4', 'list = "grey"\noffence_class = 4'),
     "rules[1].list: 'grey' is not a list of this regime"),
    (('grades = ["low"]', 'grades = ["lowest"]'), "sanctions[0].grades[0]: 'lowest' is not a band"),
    (("initial = 100", "initial = 500"), "score.initial: 500 is outside"),
    (('[[rules]]\nact = "bad"\npoints = -10', '[[rules]]\nact = "bad"\npoints = -10\nweight = 2'),
     "rules[0].weight: unknown key"),
    (('label = "Blacklist"\nduration_days = 60', 'label = "Blacklist"\nduration_days = 0'),
     "lists[0].duration_days: 0: Input should be greater than 0"),
]


@pytest.mark.parametrize("edit, expected", REGIME_EDITS)
def test_bad_regime_values(tmp_path, edit, expected):
    text = (DATA / "lists-regime.toml").read_text()
    assert edit[0] in text
    msg = errors_of(write(tmp_path, "r.toml", text.replace(*edit, 1)), loader=load_regime)
    assert expected in msg


def test_missing_provenance_is_refused(tmp_path):
    text = (DATA / "lists-regime.toml").read_text()
    text = text.replace('label = "mid"\nmin = 60\nassumption = "test value"', 'label = "mid"\nmin = 60')
    msg = errors_of(write(tmp_path, "r.toml", text), loader=load_regime)
    assert "bands[1]: give exactly one of 'source'" in msg


def test_regime_rule_with_unknown_act_is_caught_by_the_scenario(tmp_path):
    text = (DATA / "lists-regime.toml").read_text().replace('act = "good"', 'act = "goood"')
    reg = write(tmp_path, "r.toml", text)
    sc = GOOD_SCENARIO.format(regime=reg, catalogue=DATA / "analytic-acts.toml")
    with pytest.raises(ConfigError) as exc:
        Scenario.from_file(write(tmp_path, "s.toml", sc))
    assert "rules[2].act: 'goood' is not an act of the behaviour catalogue" in str(exc.value)
