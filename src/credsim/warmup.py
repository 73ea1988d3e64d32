"""Compile the kernels into Numba's on-disk cache ahead of a first run, in parallel processes.

A first run compiles what it calls, one kernel after the other, in one process. The kernel with
every mechanism (almost every scenario) and the lean one (a scenario that uses no mechanism) are
independent: ``credsim compile`` builds them at once, one process each, then every later run
loads them from the cache. Each process runs a tiny demo scenario: the lean kernel by choosing
it whatever the scenario uses (its results are thrown away; only the compiled code is kept).
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

KINDS = ("full", "lean", "links")  # the kernel with every mechanism; none; peer ratings and links


def warm(kind: str) -> float:
    """Compile (or load) the kernels of one kind; returns the seconds it took."""
    from pathlib import Path

    from credsim import engine, sanity
    from credsim.layout import FEAT_ALL
    from credsim.scenario import Scenario
    from credsim.sim import Sim

    t0 = time.perf_counter()
    regimes = {"full": ["seed-national-score"], "lean": ["seed-national-score"],
               "links": ["court-blacklist", "nosedive"]}[kind]
    chosen = engine.mechanism_features
    if kind != "links":  # the kernel of this kind, whatever the regime uses
        features = FEAT_ALL if kind == "full" else 0
        engine.mechanism_features = lambda spec, links: features
    try:
        for regime in regimes:
            sc = Scenario.from_dict({
                "name": f"warm-{kind}", "seed": 1, "days": 20, "epoch_days": 7,
                "regime": {"use": regime},
                "population": {"persons": 2_000, "community_size": 1_000},
                "output": {"report": False, "chilling_baseline": False},
            }, base=Path.cwd())
            try:
                Sim(sc).run(workers=1, progress=False)
            except sanity.SanityError:
                # the lean kernel on a scenario that uses mechanisms gives wrong counts, which the
                # end-of-run check refuses after the kernels ran: compiled all the same
                if kind != "lean":
                    raise
    finally:
        # restored: with --jobs 1 one process warms every kind in turn
        engine.mechanism_features = chosen
    return time.perf_counter() - t0


def warm_all(jobs: int = 2) -> dict[str, float]:
    """Compile every kind, ``jobs`` processes at once; seconds per kind."""
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=get_context("spawn")) as pool:
        return dict(zip(KINDS, pool.map(warm, KINDS), strict=True))

