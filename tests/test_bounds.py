"""Every row of issue 16's tables: each value that used to crash, hang or be accepted in silence
is refused by ``validate`` with an error naming the file and the key path."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from credsim.cli import main
from credsim.data import data_path
from credsim.errors import ConfigError
from credsim.tomlw import dumps
from credsim.validation import check_file

ROOT = Path(__file__).parent.parent


def shipped(*parts: str) -> dict:
    return tomllib.loads(data_path(*parts).read_text(encoding="utf-8"))


def put(data: dict, path: str, value) -> dict:
    """Set ``a.b[2].c`` in ``data`` (in place) and return it."""
    parts = path.replace("[", ".[").split(".")
    node = data
    for p in parts[:-1]:
        node = node[int(p[1:-1])] if p.startswith("[") else node.setdefault(p, {})
    last = parts[-1]
    if last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value
    return data


def refused(path: Path, key: str, kind: str | None = None, named: Path | None = None) -> str:
    """The error of validating ``path``: it names ``named`` (default ``path``) and ``key``."""
    with pytest.raises(ConfigError) as exc:
        check_file(path, kind)
    msg = str(exc.value)
    assert str(named or path) in msg, msg
    assert key in msg, msg
    return msg


def small_scenario(**tables) -> dict:
    data = {"name": "t", "days": 30, "population": {"persons": 3000, "community_size": 1000},
            "regime": {"use": "seed-national-score"}}
    data.update(tables)
    return data


# ---------------------------------------------------------------- values that crashed or hung
REGIME_ROWS = [
    ("seed-national-score", "score.max", 10**10),
    ("seed-national-score", "score.max", 2**31),
    ("seed-national-score", "score.min", -(2**31)),
    ("seed-national-score", "rules[0].points", 2**31),
    ("court-blacklist", "lists[0].duration_days", 2**31),
    ("court-blacklist", "lists[0].extension.max_days", 2**31),
    ("permis-a-points", "recovery[0].after_days", 2**31),
    ("sesame", "dimensions[0].weight", math.inf),
    ("sesame", "dimensions[0].weight", 1e300),
    ("sesame", "score.initial_sd", math.inf),
    ("nosedive", "peer_rating.memory", math.inf),
]


@pytest.mark.parametrize("regime, key, value", REGIME_ROWS)
def test_regime_values_that_crashed_are_refused(tmp_path, regime, key, value):
    data = put(shipped("regimes", f"{regime}.toml"), key, value)
    p = tmp_path / "r.toml"
    p.write_text(dumps(data), encoding="utf-8")
    refused(p, key)
    # and through a scenario that uses the file
    s = tmp_path / "s.toml"
    s.write_text(dumps(small_scenario(regime={"file": "r.toml"})), encoding="utf-8")
    refused(s, key, named=p)


CATALOGUE_ROWS = [
    ("sensors[0].probes_per_year", math.inf),
    ("sensors[0].probes_per_year", 1e300),
    ("sensors[0].female_multiplier", math.inf),
    ("traits[0].sigma", 5.0),
    ("acts[0].rate_per_year", math.nan),
]


@pytest.mark.parametrize("key, value", CATALOGUE_ROWS)
def test_catalogue_values_that_hung_are_refused(tmp_path, key, value):
    p = tmp_path / "c.toml"
    p.write_text(dumps(put(shipped("catalogue", "default.toml"), key, value)), encoding="utf-8")
    refused(p, key)
    s = tmp_path / "s.toml"
    s.write_text(dumps(small_scenario(behaviour={"catalogue": "c.toml"})), encoding="utf-8")
    refused(s, key, named=p)


def test_rates_that_add_up_past_one_a_day_are_refused(tmp_path):
    cat = shipped("catalogue", "default.toml")
    for a in cat["acts"]:
        if a.get("subject", "person") == "person":
            a["rate_per_year"] = 300.0
    p = tmp_path / "c.toml"
    p.write_text(dumps(cat), encoding="utf-8")
    refused(p, "acts: the rate_per_year of the person acts adds up to")


def test_scenario_overrides_that_make_false_records_explode_are_refused(tmp_path):
    s = tmp_path / "s.toml"
    name = shipped("catalogue", "default.toml")["sensors"][0]["name"]
    over = {"errors": {name: {"fpir": 1.0, "probes_per_year": 1e6}}}
    s.write_text(dumps(small_scenario(detection=over)), encoding="utf-8")
    refused(s, "false records per person-year")


MARGINALS_ROWS = [
    ("firms_per_person.value", -1.0),
    ("firms_per_person.value", 1e6),
    ("provinces.Beijing", [-5, "North"]),
    ("household_size.value", 0.0),
    ("urban_share.value", -1.0),
    ("male_share.value", 2.0),
    ("total.value", math.inf),
]


@pytest.mark.parametrize("key, value", MARGINALS_ROWS)
def test_marginals_that_made_nonsense_are_refused(tmp_path, key, value):
    p = tmp_path / "m.toml"
    p.write_text(dumps(put(shipped("marginals", "china-2020.toml"), key, value)), encoding="utf-8")
    shown = key.replace("provinces.Beijing", "provinces.Beijing[0]")
    refused(p, shown)
    s = tmp_path / "s.toml"
    s.write_text(dumps(small_scenario(population={"persons": 3000, "marginals": "m.toml"})),
                 encoding="utf-8")
    refused(s, shown, named=p)


SCENARIO_ROWS = [
    ("population.persons", 10**18, "population.persons"),
    ("population.scale", 1e-12, "population.scale"),
    ("population.community_size", 100, "population.community_size"),  # with 10**9 persons below
    ("days", 2**31, "days"),
    ("epoch_days", 10**6, "epoch_days"),
    ("appeals.delay_days", 2**31, "appeals.delay_days"),
    ("surveillance.multiplier", math.inf, "surveillance.multiplier"),
    ("response.gaming_window", 2**40, "response.gaming_window"),
    ("name", "../../x", "name"),
    ("name", "/abs/path", "name"),
    ("name", "", "name"),
]


@pytest.mark.parametrize("key, value, shown", SCENARIO_ROWS)
def test_scenario_values_are_refused(tmp_path, key, value, shown):
    data = small_scenario()
    if key == "population.scale":
        data["population"] = {"scale": value}
    elif key == "population.community_size":
        data["population"] = {"persons": 10**9, "community_size": value}
    else:
        put(data, key, value)
    s = tmp_path / "s.toml"
    s.write_text(dumps(data), encoding="utf-8")
    refused(s, shown)


# ---------------------------------------------------------------- files that gave tracebacks
def test_not_utf8_is_a_clear_error_for_every_command(tmp_path):
    bad = tmp_path / "x.toml"
    bad.write_bytes(b"\xff\xfe")
    for args in (["validate", str(bad)], ["run", str(bad), "-q"],
                 ["explain", "--regime", str(bad), str(bad)]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, (args, r.output)
        assert "not UTF-8" in r.output and str(bad) in r.output
        assert "Traceback" not in r.output


def test_a_directory_named_like_a_file(tmp_path):
    (tmp_path / "d.toml").mkdir()
    s = tmp_path / "s.toml"
    s.write_text(dumps(small_scenario(regime={"file": "d.toml"})), encoding="utf-8")
    msg = refused(s, "regime.file: 'd.toml'")
    assert "is a directory" in msg
    r = CliRunner().invoke(main, ["validate", str(tmp_path / "d.toml")])
    assert r.exit_code == 2 and "is a directory" in r.output


@pytest.mark.parametrize("table, key", [("regime", "use"), ("behaviour", "catalogue"),
                                        ("population", "marginals")])
@pytest.mark.parametrize("ref", ["x" * 300, "x" * 300 + ".toml", "rongchen", "../../etc/passwd"])
def test_bad_references_name_the_scenario_and_the_key(tmp_path, table, key, ref):
    data = small_scenario()
    data.setdefault(table, {})
    if table == "regime":
        data["regime"] = {"file" if ref.endswith(".toml") else "use": ref}
        key = "file" if ref.endswith(".toml") else "use"
    else:
        data[table][key] = ref
    s = tmp_path / "s.toml"
    s.write_text(dumps(data), encoding="utf-8")
    refused(s, f"{table}.{key}: ")


def test_long_and_strange_file_names(tmp_path):
    r = CliRunner().invoke(main, ["validate", str(tmp_path / ("y" * 300 + ".toml"))])
    assert r.exit_code == 2 and "too long" in r.output
    r = CliRunner().invoke(main, ["validate", "/dev/null"])
    assert r.exit_code == 2 and "not a regular file" in r.output


# ---------------------------------------------------------------- wrong answers
@pytest.mark.parametrize("parts, kind", [(("catalogue", "default.toml"), "catalogue"),
                                         (("marginals", "china-2020.toml"), "marginals"),
                                         (("regimes", "rongcheng.toml"), "regime")])
def test_validate_knows_every_kind_of_file(parts, kind):
    r = CliRunner().invoke(main, ["validate", str(data_path(*parts))])
    assert r.exit_code == 0, r.output
    assert f"valid {kind}" in r.output


def test_every_shipped_file_validates():
    files = sorted((ROOT / "scenarios").glob("*.toml")) + sorted(data_path().rglob("*.toml"))
    files = [f for f in files if f.name != "mechanisms.toml"]
    files += sorted((ROOT / "experiments").glob("*.toml")) + sorted((ROOT / "calibrations").glob("*.toml"))
    r = CliRunner().invoke(main, ["validate", *map(str, files)])
    assert r.exit_code == 0, r.output
    assert "experiments/fpir-appeals.toml: valid experiment (sweep: 16 points x 4 seeds)" in r.output
    assert ("calibrations/court-blacklist.toml: valid calibration (8 parameters, 9 fitted and 6 "
            "held-out") in r.output


@pytest.mark.parametrize("folder, name, edit, key", [
    ("experiments", "fpir-appeals.toml", ('path = "appeals.probability"', 'path = "appeals.probablity"'),
     "appeals.probablity"),
    ("calibrations", "court-blacklist.toml", ("cv = 0.05\nsource", "cv = -1\nsource"), "targets[0].cv"),
])
def test_bad_experiment_and_calibration_files_name_file_and_key(tmp_path, folder, name, edit, key):
    """Written beside the shipped file (their scenario paths are relative), then removed."""
    text = (ROOT / folder / name).read_text(encoding="utf-8")
    assert edit[0] in text
    bad = ROOT / folder / f"_bad-{tmp_path.name}.toml"
    bad.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    try:
        refused(bad, key)
        r = CliRunner().invoke(main, ["validate", str(bad)])
        assert r.exit_code == 2 and "Traceback" not in r.output and key in r.output, r.output
    finally:
        bad.unlink()


def test_explicit_kind_and_an_unknown_kind(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text('what = 1\n', encoding="utf-8")
    refused(p, "cannot tell what kind of file")
    refused(p, "unknown key", kind="catalogue")


def test_a_regime_alone_is_checked_against_the_catalogue(tmp_path):
    data = shipped("regimes", "seed-national-score.toml")
    data["rules"][0]["act"] = "payment_defualt"
    p = tmp_path / "r.toml"
    p.write_text(dumps(data), encoding="utf-8")
    refused(p, "rules[0].act: 'payment_defualt' is not an act of the behaviour catalogue")


# ---------------------------------------------------------------- file references and trust
def test_references_may_not_leave_the_folder_without_trusted_paths(tmp_path):
    outside = tmp_path / "outside.toml"
    outside.write_text((data_path("regimes", "rongcheng.toml")).read_text(), encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "link.toml").symlink_to(outside)
    (tmp_path / "sub" / "inside.toml").write_text(outside.read_text(), encoding="utf-8")
    cases = {"../outside.toml": False, str(outside): False, "link.toml": False, "inside.toml": True}
    for ref, ok in cases.items():
        s = tmp_path / "sub" / "s.toml"
        s.write_text(dumps(small_scenario(regime={"file": ref})), encoding="utf-8")
        assert CliRunner().invoke(main, ["validate", str(s)]).exit_code == 0  # trusted: default
        r = CliRunner().invoke(main, ["--no-trusted-paths", "validate", str(s)])
        assert r.exit_code == (0 if ok else 2), (ref, r.output)
        if not ok:
            assert "regime.file" in r.output and "inside the scenario's folder" in r.output
