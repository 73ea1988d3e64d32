"""Calibration: fit a scenario's parameters to observed figures (``credsim calibrate``).

    from credsim.calibration import Calibration
    res = Calibration.from_file("calibrations/court-blacklist.toml").run("runs/cal-court")
    res.best, res.posterior.summary(), res.fit(), res.plot("fit")

Optuna (the ``calibrate`` extra) is imported only when a calibration runs.
"""

from credsim.calibration.calibration import Calibration
from credsim.calibration.results import CalibrationResults

__all__ = ["Calibration", "CalibrationResults"]
