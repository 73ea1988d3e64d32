"""``credsim validate``: check any file credsim reads, of a kind given or told from its keys.

Each kind is a row of ``KINDS``: the keys that identify it and how to check it. A new kind of
file is a new row.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from credsim.errors import ConfigError


def _scenario(path: Path, data: dict[str, Any], catalogue: str) -> str:
    from credsim.scenario import Scenario

    sc = Scenario.from_file(path)
    return f"regime {sc.regime.use or sc.regime.file}"


def _regime(path: Path, data: dict[str, Any], catalogue: str) -> str:
    from credsim.behaviour import load_catalogue
    from credsim.config import validate
    from credsim.regime import Regime, regime_problems

    r = validate(Regime, data, str(path))
    cat = load_catalogue(catalogue)
    rp = regime_problems(r, known_acts=set(cat.act_names))
    if rp:
        raise ConfigError(f"{path} (against the catalogue {catalogue})", rp)
    return f"checked against the catalogue {catalogue}"


def _catalogue(path: Path, data: dict[str, Any], catalogue: str) -> str:
    from credsim.behaviour import Catalogue
    from credsim.config import validate

    c = validate(Catalogue, data, str(path))
    return f"{len(c.acts)} acts"


def _marginals(path: Path, data: dict[str, Any], catalogue: str) -> str:
    from credsim.config import validate
    from credsim.marginals import Marginals

    m = validate(Marginals, data, str(path))
    return f"{len(m.province_table)} provinces"


def _tickets(path: Path, data: dict[str, Any], catalogue: str) -> str:
    from credsim.config import validate
    from credsim.tickets import TicketsFile

    t = validate(TicketsFile, data, str(path))
    return (f"flight {t.flight.rate_per_year:g}, train {t.train.rate_per_year:g} attempts per "
            f"person-year, dispersion {t.dispersion.shape:g}")


def _experiment(path: Path, data: dict[str, Any], catalogue: str) -> str:
    from credsim.experiment import Experiment

    e = Experiment.from_file(path)
    e.check()  # every point's values, by key path
    return f"{e.kind}: {len(e.arms)} points x {len(e.seeds)} seeds"


def _calibration(path: Path, data: dict[str, Any], catalogue: str) -> str:
    from credsim.calibration import Calibration

    c = Calibration.from_file(path)
    held = sum(t.holdout for t in c.spec.targets)
    return (f"{len(c.spec.parameters)} parameters, {len(c.spec.fitted_targets)} fitted and {held} "
            f"held-out targets, {c.spec.trials} trials x {len(c.seeds)} seeds")


class Kind(NamedTuple):
    keys: frozenset[str]  # a file with any of these top-level keys is of this kind
    check: Callable[[Path, dict[str, Any], str], str]  # raises ConfigError; returns a note


KINDS: dict[str, Kind] = {  # in the order kinds are told apart
    "calibration": Kind(frozenset({"targets", "parameters"}), _calibration),
    "experiment": Kind(frozenset({"factors", "arms"}), _experiment),
    "scenario": Kind(frozenset({"population", "regime"}), _scenario),
    "regime": Kind(frozenset({"score", "bands"}), _regime),
    "catalogue": Kind(frozenset({"acts"}), _catalogue),
    "marginals": Kind(frozenset({"provinces", "total"}), _marginals),
    "tickets": Kind(frozenset({"dispersion"}), _tickets),
}


def detect(path: Path, data: dict[str, Any]) -> str:
    """The kind of file from its top-level keys."""
    for name, kind in KINDS.items():
        if kind.keys & data.keys():
            return name
    hints = "; ".join(f"a {n} has {' or '.join(sorted(k.keys))}" for n, k in KINDS.items())
    raise ConfigError(str(path), [f"(top level): cannot tell what kind of file this is ({hints}); "
                                  f"give --kind"])


def check_file(path: Path, kind: str | None = None, catalogue: str = "default") -> tuple[str, str]:
    """Validate one file; (its kind, a note) or ConfigError naming the file and key paths."""
    from credsim.config import read_toml

    data = read_toml(path)
    kind = kind or detect(path, data)
    return kind, KINDS[kind].check(path, data, catalogue)
