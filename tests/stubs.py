"""Model stubs for the experiment tests: importable by spawned worker processes and Dask workers
(the tests put this folder on their PYTHONPATH). ``model(overrides, seed) -> row``."""

from __future__ import annotations

import math
import time

ISHIGAMI_A, ISHIGAMI_B = 7.0, 0.1
# analytic Sobol indices of Ishigami (a = 7, b = 0.1) on U(-pi, pi)^3
ISHIGAMI_S1 = (0.3139, 0.4424, 0.0)
ISHIGAMI_ST = (0.5576, 0.4424, 0.2437)

LINEAR = {"a": 2.0, "b": -3.0, "c": 0.5}  # y = sum b_i x_i


def ishigami(overrides: dict, seed: int) -> dict:
    x1, x2, x3 = (float(overrides[k]) for k in ("x1", "x2", "x3"))
    y = math.sin(x1) + ISHIGAMI_A * math.sin(x2) ** 2 + ISHIGAMI_B * x3**4 * math.sin(x1)
    return {"score_mean_end": y}


def linear(overrides: dict, seed: int) -> dict:
    return {"score_mean_end": sum(b * float(overrides[k]) for k, b in LINEAR.items())}


def stub_row(overrides: dict, seed: int) -> dict:
    """A row that depends on the point and the seed."""
    row = linear(overrides, seed)
    row["score_gini"] = (seed * 0.618034) % 1.0
    return row


def slow_row(overrides: dict, seed: int) -> dict:
    """``stub_row`` taking a while, for kill tests."""
    time.sleep(0.4)
    return stub_row(overrides, seed)


def undefined_share(overrides: dict, seed: int) -> dict:
    """A row where one figure is undefined (0/0) in every run, as share_wrongful is when nobody
    is restricted."""
    return {"score_mean_end": float(overrides["a"]) + seed, "share_wrongful": math.nan}
