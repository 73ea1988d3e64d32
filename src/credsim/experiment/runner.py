"""Running an experiment's runs: one (point, seed) each, in this process, in local worker
processes or on a Dask cluster; every executor gives the same rows for the same run.

A run is a whole simulation of one scenario (its communities in the worker's own process); a
worker keeps its compiled kernels, validated scenarios and synthesized populations
(``synthesis.POPULATIONS``) from one run to the next, so a sweep of small runs pays for them
once per worker (populations: once per seed and population), not once per run.
"""

from __future__ import annotations

import math
import os
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

import pandas as pd

# A model stands in for the simulator (tests, and anyone wrapping credsim in a bigger model):
# model(overrides, seed) -> the run table's row.
Model = Callable[[dict[str, Any], int], dict[str, float]]


@dataclass(frozen=True)
class Arm:
    """One point of an experiment: a scenario file and the values that differ from it."""

    point: int
    label: str
    scenario: str  # the scenario file (absolute path)
    overrides: dict[str, Any] = field(default_factory=dict)  # key path -> value, applied in order
    origin: str = ""  # where the overrides come from (their provenance label), e.g. the experiment file

    def provenance(self) -> list[dict[str, Any]]:
        """Each override with the assumption label its value carries in the run's scenario."""
        from credsim.overrides import provenance

        origin = self.origin or f"{self.scenario} ({self.label})"
        return [{"path": k, "value": v, "assumption": provenance(k, v, origin)}
                for k, v in self.overrides.items()]


@dataclass(frozen=True)
class RunTask:
    arm: Arm
    seed: int
    daily: bool | tuple[str, ...] = True  # keep the daily series: all columns, or these


@dataclass
class RunOutput:
    point: int
    seed: int
    row: dict[str, float | int]
    daily: pd.DataFrame | None
    seconds: float  # the whole run in the worker: scenario, simulation, reduction, row
    sim_seconds: float  # the simulation alone (the engine's wall time)
    events: int = 0


_CACHE_SIZE = 64
# synthesized populations a worker keeps for the next points of the same seed (tasks are
# seed-major); a 100,000-agent community set is about 3 MB
POPULATION_CACHE_BYTES = 256 * 2**20
_scenarios: OrderedDict[tuple, Any] = OrderedDict()  # per worker: validated scenarios by (file, overrides)


def scenario_for(arm: Arm, seed: int | None = None):
    """The arm's validated scenario (with ``seed``), cached in this process: validating the
    scenario, its regime and catalogue costs more than a small run's reduction."""
    import json

    from credsim.scenario import Scenario

    key = (arm.scenario, json.dumps(arm.overrides, sort_keys=True, default=str))
    sc = _scenarios.get(key)
    if sc is None:
        source = f"{arm.scenario} ({arm.label})"
        base = _scenarios.get((arm.scenario, "{}"))
        if base is None:
            base = _scenarios[(arm.scenario, "{}")] = Scenario.from_file(arm.scenario)
        sc = base.with_overrides(arm.overrides, source=source, origin=arm.origin or None)
        _scenarios[key] = sc
        while len(_scenarios) > _CACHE_SIZE:
            _scenarios.popitem(last=False)
    else:
        _scenarios.move_to_end(key)
    return sc if seed is None else sc.model_copy(update={"seed": seed})


def simulate(task: RunTask) -> RunOutput:
    """Run one (point, seed) of an experiment with the simulator: its row and daily series come
    straight from the run's sums (``sums``), no ``Results`` tables are built."""
    from credsim.experiment import sums
    from credsim.sim import Sim
    from credsim.synthesis import POPULATIONS

    t0 = time.perf_counter()
    POPULATIONS.max_bytes = POPULATIONS.max_bytes or POPULATION_CACHE_BYTES
    sc = scenario_for(task.arm, task.seed)
    if sc.output.panel_agents:  # an experiment keeps no panel (no run of it is explained alone)
        sc = sc.model_copy(update={"output": sc.output.model_copy(update={"panel_agents": 0})})
    red, meta = Sim(sc).reduction(workers=1)
    level = red.levels(sc.days)
    chilling = bool(sc.output.chilling_baseline and sc.response.chilling > 0)
    ratio = None
    if chilling:  # the same run without chilling: lawful acts relative to it
        base, _ = Sim(sc.with_changes({"response": {"chilling": 0.0}})).reduction(workers=1)
        den = sums.lawful_chilled_acts(base, meta)
        ratio = sums.lawful_chilled_acts(red, meta) / den if den else None
    row = sums.run_row(red, level, meta, ratio, chilling)
    bad = [k for k, v in row.items() if isinstance(v, float) and math.isinf(v)]
    if bad:
        from credsim.sanity import SanityError

        raise SanityError(f"the run's row has infinite figures (a bug in credsim, please report it): {bad}")
    daily = None
    if task.daily:
        daily = sums.daily_series(red, level, meta, None if task.daily is True else list(task.daily))
        daily.insert(0, "seed", task.seed)
        daily.insert(0, "point", task.arm.point)
    perf = meta["performance"]
    return RunOutput(task.arm.point, task.seed, row, daily, time.perf_counter() - t0,
                     float(perf.get("wall_seconds", 0.0)), int(perf.get("events", 0)))


def evaluate(task: RunTask, model: Model | None = None) -> RunOutput:
    """One run: the simulator, or ``model`` in its place."""
    if model is None:
        return simulate(task)
    t0 = time.perf_counter()
    row = dict(model(dict(task.arm.overrides), task.seed))
    dt = time.perf_counter() - t0
    return RunOutput(task.arm.point, task.seed, row, None, dt, dt)


def _init_worker(threads: int, parent: int) -> None:
    """A run worker: its Numba threads, and it dies with the experiment's process."""
    from credsim.executors import _init_worker as init

    init(threads, parent)


class RunExecutor(ABC):
    """Runs an experiment's tasks and yields their outputs as they finish."""

    name = "base"

    @abstractmethod
    def map(self, tasks: Iterable[RunTask], model: Model | None = None) -> Iterator[RunOutput]: ...

    def close(self) -> None:  # noqa: B027 - most hold nothing
        """Release workers."""


class InProcess(RunExecutor):
    name = "in-process"

    def map(self, tasks, model=None):
        for t in tasks:
            yield evaluate(t, model)

    def close(self):
        from credsim.synthesis import POPULATIONS

        POPULATIONS.clear()  # the sweep's populations are not this process's to keep
        POPULATIONS.max_bytes = 0


class LocalProcesses(RunExecutor):
    """``workers`` spawned processes, one run at a time each; a short queue keeps the parent's
    memory flat whatever the number of runs."""

    name = "processes"

    def __init__(self, workers: int):
        self.workers = workers
        threads = max(1, (os.cpu_count() or 1) // workers)
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                        initializer=_init_worker, initargs=(threads, os.getpid()))

    def map(self, tasks, model=None):
        from credsim.executors import bounded_map

        return bounded_map(self.pool, lambda t: (evaluate, t, model), tasks, 2 * self.workers)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskRuns(RunExecutor):
    """A Dask cluster (a scheduler address, or ``local`` for a LocalCluster); at most two runs
    per worker in flight, so neither the client's nor the scheduler's memory grows with runs."""

    name = "dask"

    def __init__(self, address: str, workers: int = 2):
        from credsim.executors import DaskCluster

        self._dask = DaskCluster(address, workers)
        self.client = self._dask.client
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})) or workers)

    def map(self, tasks, model=None):
        from distributed import as_completed

        it = iter(tasks)
        first = [self.client.submit(evaluate, t, model, pure=False)
                 for _, t in zip(range(2 * self.workers), it, strict=False)]
        ac = as_completed(first)
        for f in ac:
            out = f.result()
            f.release()
            yield out
            nxt = next(it, None)
            if nxt is not None:
                ac.add(self.client.submit(evaluate, nxt, model, pure=False))

    def close(self):
        self._dask.close()


def make_run_executor(workers: int | None = None, dask: str | None = None,
                      runs: int = 1) -> RunExecutor:
    """Local processes by default on a multi-core machine (one run per core), Dask on request."""
    if dask:
        return DaskRuns(dask, workers or 2)
    if workers is None:
        workers = os.cpu_count() or 1
    workers = max(1, min(workers, runs))
    return InProcess() if workers == 1 else LocalProcesses(workers)
