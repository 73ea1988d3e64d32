"""credsim: simulate social credit systems on synthetic populations, up to a whole nation.

    import credsim
    sim = credsim.Sim.from_file("scenarios/rongcheng.toml")
    res = sim.run()
    res.daily, res.summary, res.plot("grades")

Agents are numbers drawn from aggregate statistics: credsim never scores real people.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from credsim.version import __version__ as __version__  # re-exported: credsim.__version__

# OpenMP threads that spin after each parallel region cost milliseconds per epoch on a busy
# machine; credsim's regions are long, so idle threads should sleep. Set before Numba loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = [
    "Calibration",
    "Catalogue",
    "ConfigError",
    "Experiment",
    "ExperimentResults",
    "Explainer",
    "Regime",
    "Results",
    "Scenario",
    "Sim",
    "load_catalogue",
    "load_regime",
    "shipped_regimes",
]

# Heavy modules (Numba kernels, pandas) load on first use, so `credsim --help` starts fast.
_LAZY = {
    "Calibration": "credsim.calibration",
    "Sim": "credsim.sim",
    "Results": "credsim.results",
    "Explainer": "credsim.explain",
    "Experiment": "credsim.experiment",
    "ExperimentResults": "credsim.experiment",
    "Scenario": "credsim.scenario",
    "Regime": "credsim.regime",
    "load_regime": "credsim.regime",
    "shipped_regimes": "credsim.regime",
    "Catalogue": "credsim.behaviour",
    "load_catalogue": "credsim.behaviour",
    "ConfigError": "credsim.errors",
}

if TYPE_CHECKING:  # pragma: no cover
    from credsim.behaviour import Catalogue, load_catalogue
    from credsim.calibration import Calibration
    from credsim.errors import ConfigError
    from credsim.experiment import Experiment, ExperimentResults
    from credsim.explain import Explainer
    from credsim.regime import Regime, load_regime, shipped_regimes
    from credsim.results import Results
    from credsim.scenario import Scenario
    from credsim.sim import Sim


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'credsim' has no attribute {name!r}")
