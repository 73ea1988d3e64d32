"""The mechanism registry: one module and one data section per mechanism, and nothing else.

Fast: no kernel is compiled (the last test imports a copy of the package, kernels unused).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, make_scenario

from credsim.compile import MechanismTables, compile_regime
from credsim.config import read_toml
from credsim.errors import ConfigError
from credsim.layout import FEAT_ACTS, FEAT_FALSE, FEAT_TIMERS
from credsim.mechanisms import (
    MECHANISMS,
    default,
    features_in_use,
    kernel_features,
    mechanisms_off,
    provenance,
)
from credsim.mechanisms.registry import DEFAULTS_FILE, load_mechanisms, read_defaults
from credsim.scenario import Scenario
from credsim.sim import Sim

PACKAGE = ROOT / "src" / "credsim" / "mechanisms"
NOT_MECHANISMS = {"__init__", "base", "registry", "features"}


def test_each_module_is_a_section_of_the_data_file_in_its_order():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - NOT_MECHANISMS
    sections = list(read_toml(DEFAULTS_FILE))
    assert set(sections) == modules
    assert [m.section for m in MECHANISMS] == sections
    # the scenario has one table per mechanism, after its own, in the same order
    assert list(Scenario.model_fields)[-len(sections):] == sections


def test_tables_are_each_mechanisms_fields_in_registry_order():
    assert MechanismTables._fields == tuple(f for m in MECHANISMS for f in m.field_names)
    assert MechanismTables.__module__ == "credsim.compile"
    from credsim import kernel

    code = kernel.run_epoch.__code__
    params = code.co_varnames[: code.co_argcount]
    # the kernel takes the tables as one record and reads its fields by name: their order is free
    assert "X" in params and not set(MechanismTables._fields) & set(params)


def _kind_ok(value, kind) -> bool:
    if kind is np.ndarray:
        return isinstance(value, np.ndarray)
    if kind is bool:
        return isinstance(value, bool | np.bool_)
    if kind is int:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)
    return isinstance(value, kind)


@pytest.mark.parametrize("regime", ["reach-regime.toml", "lists-regime.toml", "analytic-regime.toml"])
def test_each_mechanism_compiles_the_fields_it_declares(regime):
    sc = make_scenario(mechanisms=True, regime={"file": regime})
    rt = compile_regime(sc.regime_model, sc.catalogue.act_names)
    for m in MECHANISMS:
        got = m.compile(getattr(sc, m.section), sc.regime_model, sc.catalogue, rt) if m.compile else {}
        assert list(got) == list(m.field_names), m.section
        for f in m.tables:
            assert _kind_ok(got[f.name], f.kind), (m.section, f.name, type(got[f.name]))


def test_every_default_is_in_the_data_file_with_its_provenance():
    sc = make_scenario(mechanisms=True)
    for m in MECHANISMS:
        d = default(m.section)
        assert set(d) == set(m.model.model_fields), m.section
        assert getattr(sc, m.section) == m.model(**d)  # what a scenario without the table gets
        for key in d:
            assert provenance(m.section, key), (m.section, key)
    assert provenance("appeals", "delay_days").startswith("PBOC credit reporting regulations Art. 25")
    assert provenance("appeals", "probability").startswith("assumption: share of erroneous records")
    assert provenance("response", "gaming_window") == provenance("response", "gaming")
    assert provenance("response", "chilling").startswith("Penney")


def test_a_table_given_in_part_takes_the_other_keys_from_the_data_file():
    sc = make_scenario(mechanisms=True, appeals={"probability": 0.9})
    assert sc.appeals.probability == 0.9 and sc.appeals.delay_days == default("appeals")["delay_days"]
    with pytest.raises(ConfigError, match=r"appeals\.probability: 2: Input should be less than"):
        make_scenario(appeals={"probability": 2})


def test_mechanisms_off_leaves_each_mechanism_unused():
    """On a points scheme with perfect detection, the tables of mechanisms_off give no mechanism
    a use; each one switched back on (with the errors a sensor can make) is in use."""
    perfect = {"regime": {"file": "analytic-regime.toml"}, "detection": {"perfect": True}}
    spec = Sim(make_scenario(**perfect)).engine_spec()
    assert features_in_use(spec, links=False) == dict.fromkeys(features_in_use(spec, False), 0)
    assert kernel_features(spec, links=False) == 0
    on = {"surveillance": FEAT_ACTS, "appeals": FEAT_TIMERS, "response": FEAT_ACTS}
    for section, bits in on.items():  # (a regime with grades to watch)
        sc = make_scenario(**{section: default(section)})
        assert features_in_use(Sim(sc).engine_spec(), False)[section] == bits, section
    sc = make_scenario(errors={"enabled": True},
                       detection={"errors": {"eye": {"fpir": 0.01, "probes_per_year": 1.0}}})
    assert features_in_use(Sim(sc).engine_spec(), False)["errors"] == FEAT_ACTS | FEAT_FALSE
    assert set(mechanisms_off()) == {m.section for m in MECHANISMS}


@pytest.mark.parametrize("edit, expected", [
    (("delay_days = 20\n", ""), "appeals.delay_days: no default"),
    (("delay_days = 20\n", "delay_days = 20\ndelai = 3\n"), "appeals.delai: not a key of [appeals]"),
    (("delay_days = 20\n", "delay_days = -1\n"), "appeals.delay_days: -1: Input should be greater"),
    (("legal_representatives = true\nsource", "legal_representatives = true\nnote"),
     "coupling.note: not a key of [coupling]"),
    (('chilling_source = "', 'chiling_source = "'), "response.chiling_source: labels no key"),
    (('chilling_source = "', 'note_ = "'), "response.chilling: no provenance"),
    (("[errors]\nenabled = true", "[mistakes]\nenabled = true"), "errors: missing section"),
])
def test_a_bad_defaults_file_names_the_key(tmp_path, edit, expected):
    text = DEFAULTS_FILE.read_text()
    assert edit[0] in text
    bad = tmp_path / "mechanisms.toml"
    bad.write_text(text.replace(*edit, 1))
    with pytest.raises(ConfigError) as exc:
        read_defaults(bad, MECHANISMS)
    assert str(bad) in str(exc.value) and expected in str(exc.value)


def test_a_section_without_its_module_is_refused(tmp_path):
    p = tmp_path / "mechanisms.toml"
    p.write_text(DEFAULTS_FILE.read_text() + '\n[bribery]\nenabled = true\nassumption = "none"\n')
    with pytest.raises(ConfigError, match=r"bribery: no module mechanisms/bribery\.py"):
        load_mechanisms(p)
    assert load_mechanisms(DEFAULTS_FILE) == MECHANISMS


def _blocks(markdown: str, first_line: str) -> str:
    """The fenced code block of ``markdown`` whose first line is ``first_line``."""
    for block in re.findall(r"```[a-z]*\n(.*?)```", markdown, re.S):
        if block.startswith(first_line + "\n"):
            return block
    raise AssertionError(f"no block starting {first_line!r}")


def test_the_mechanism_of_docs_extending_needs_its_module_and_data_only(tmp_path):
    """The example of docs/extending.md, added to a copy of the package as it says (a module and
    a data section, nothing else), is a scenario table, two compiled fields and a feature rule."""
    doc = (ROOT / "docs" / "extending.md").read_text()
    root = tmp_path / "credsim"
    shutil.copytree(ROOT / "src" / "credsim", root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "mechanisms" / "amnesty.py").write_text(_blocks(doc, "# src/credsim/mechanisms/amnesty.py"))
    with (root / "data" / "mechanisms.toml").open("a") as f:
        f.write("\n" + _blocks(doc, "# appended to src/credsim/data/mechanisms.toml"))
    check = f"""
import sys; sys.path.insert(0, {str(ROOT / "tests")!r})
import credsim, numpy as np
assert credsim.__file__.startswith({str(tmp_path)!r}), credsim.__file__
from conftest import make_scenario
from credsim.compile import MechanismTables, compile_mechanisms, compile_regime
from credsim.layout import BIG
from credsim.mechanisms import default, features_in_use, mechanisms_off, provenance
assert MechanismTables._fields[-2:] == ("amnesty_day", "amnesty_lists")
assert mechanisms_off()["amnesty"] == {{"enabled": False}} and default("amnesty")["enabled"] is False
assert provenance("amnesty", "day").startswith("assumption: ")
def tables(**amnesty):
    sc = make_scenario(regime={{"file": "lists-regime.toml"}}, amnesty=amnesty)
    rt = compile_regime(sc.regime_model, sc.catalogue.act_names)
    return compile_mechanisms(sc, sc.regime_model, sc.catalogue, rt)
assert tables().amnesty_day == BIG and tables().amnesty_lists == 0
on = tables(enabled=True, day=90)
assert on.amnesty_day == 90 and on.amnesty_lists == 0b11, on
try:
    make_scenario(amnesty={{"day": -1}})
except credsim.ConfigError as e:
    assert "amnesty.day: -1: Input should be greater than or equal to 0" in str(e), e
else:
    raise AssertionError("amnesty.day = -1 accepted")
print("ok")
"""
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


def test_nothing_but_the_registry_lists_the_mechanisms():
    """Adding a mechanism touches its module, its kernel helper and its test: no other module
    of the package names a mechanism's section."""
    sections = [m.section for m in MECHANISMS]
    for p in (ROOT / "src" / "credsim").glob("*.py"):
        text = p.read_text()
        listed = [s for s in sections if re.search(rf"""["']{s}["']""", text)]
        assert len(listed) < 2, (p.name, listed)  # a list of sections would name several


def test_scenario_files_name_mechanism_tables_as_before(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[population]\npersons = 1000\n[regime]\nuse = "ficp"\n[surveillance]\nmultiplier = 3.0\n'
                 '[coupling]\nhouseholds = false\n')
    sc = Scenario.from_file(p)
    assert sc.surveillance.multiplier == 3.0 and sc.surveillance.lowest_grades == 2
    assert sc.coupling.households is False and sc.coupling.legal_representatives is True
    assert Path(DEFAULTS_FILE).name == "mechanisms.toml"
