"""A stand-in for the simulator in calibration tests: model(overrides, seed) -> run table row."""

import os
import time

import numpy as np

RATE = "catalogue.acts[judgment_unperformed].rate_per_year"
REMOVAL = "regime.lists[dishonest_debtors].removal.rate_per_year"


def model(overrides, seed):
    r = overrides[RATE]
    q = overrides.get(REMOVAL, 1.4)
    rng = np.random.default_rng(seed)
    time.sleep(float(os.environ.get("CREDSIM_STUB_SLEEP", "0")))
    return {"list_dishonest_debtors": r * 1e6 / q * (1 + 0.02 * rng.normal()),
            "acts_recorded": r * 1e6 * (1 + 0.02 * rng.normal()), "scale": 0.001, "persons": 1000}
