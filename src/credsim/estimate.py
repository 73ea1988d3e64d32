"""What a run will cost before it runs: events, peak memory, time, and whether it compiles first.

``estimate(sim, workers)`` reads the plan (agents, days, communities, the epochs its links stop
at), the act rates the run's behaviour tables hold, and the arrays the engine allocates per
community (``engine._agents``, ``_state``, ``_reach_log``, ``_outputs``) and per run
(``collect.Reduction.empty`` and the tables built from it: days x measures x groups x grades x
provinces), and turns them into figures with the throughput constants below, measured on
this project's 2-core machine. ``credsim validate`` and ``credsim run`` print it; ``run`` stops
before allocating when the peak would not fit in the memory available (``--force`` runs anyway).

Nothing here imports compiled code at module level, and this module is not a dependency of any
compiled function (editing it compiles nothing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from credsim.engine import EngineSpec

# ``sim`` arguments are ``credsim.sim.Sim`` objects (not imported: sim imports this module)
Sim = Any

MB = 2**20

# ---------------------------------------------------------------- measured constants
# The fixed costs (marked "fitted") come from ``python benchmarks/estimate.py --fit``: whole
# ``credsim run`` commands of the FIT runs (ficp, sesame, nosedive, demo at 300k and 3M persons,
# sesame on one worker; for the epochs nosedive at 300k with 2-day epochs and court-blacklist at
# 0.01% with 14-day ones), the process tree's resident memory sampled every 50 ms and its
# processor time, on this project's 2-core, 24 GB machine, warm Numba cache. They are checked on
# other runs (HELD_OUT: rongcheng, court-blacklist as shipped at 0.03%, permis-a-points, demo at
# 1M), never fitted on them; docs/reference.md, "Resource estimate", has both tables.
PARENT_BASE_MB = 303.0  # fitted: credsim run's process (Python, NumPy, Numba, pandas, pyarrow...)
WORKER_BASE_MB = 89.0  # fitted: a spawned worker with the kernels loaded from the cache
TABLES_FACTOR = 1.13  # fitted: collect's daily levels and tables, Parquet, plots: per byte of
#                      their dense size (``tables_bytes``)
CPU_START_SECONDS = 3.8  # fitted (an earlier session; benchmarks/estimate.py START_CPU): processor
#                          time of start-up, planning, Parquet, plots, report
WORKER_START_CPU_SECONDS = 1.4  # fitted: processor time of a spawned worker's start
# Wall time of the fixed parts, measured on an idle machine in an earlier session (the FIT runs
# of this one ran at a load average of 12 on 2 cores, where wall time measures the other jobs)
START_SECONDS = 6.0  # imports, planning, spawning workers, loading the kernels
REPORT_SECONDS = 3.0  # Parquet, summary, plots and report of a small run
# Per unit, from the whole nation (README, Performance: 4.0 billion events, 5.3e11 agent-days,
# 9 min 07 s on 2 workers; the estimate gives it 15 min): runs of seconds cannot tell these apart
NS_PER_AGENT_DAY = 1.6  # one core, an agent-day with no event (every mechanism on)
NS_PER_EVENT = 200.0  # one core, an event (act, detection, points, standing, counts)
NS_PER_TABLE_VALUE = 195.0  # fitted: one core, per (province, day, group, grade, measure) value:
#                            the communities' daily arrays, the reduction, collect, Parquet, plots
# Epochs (links that cannot be replayed: legal representatives' sanctions that reach household
# children, peer rating): every bound agent stops at each of the ``epoch_days`` boundaries
NS_PER_AGENT_EPOCH = 145.0  # fitted: one core, an agent's stop and restart at a boundary
EPOCH_SECONDS = 0.0  # fitted: one core, a community's boundary: the kernel call and the coupling
NS_PER_PEER_AGENT = 210.0  # fitted: one core, an agent's peer ratings at a boundary (peer_round)
COMMUNITY_SECONDS = 0.08  # per community: synthesis set-up, output arrays, result to the parent
# Compiling from an empty cache (README, "first run"): the kernel with every mechanism 135 s,
# the lean one 138 s, the link and peer kernels 6 s; synthesis, tally, couple a few seconds.
COMPILE_SECONDS = {"kernel": 140.0, "helpers": 15.0}


@dataclass(frozen=True)
class Estimate:
    """The expected cost of a run (``compile_seconds`` 0 when its kernels are cached)."""

    agents: int
    agent_days: int
    communities: int
    workers: int
    events: int
    peak_mb: float  # the process tree's resident memory at its peak (parent + workers)
    seconds: float  # the whole command, compiling excluded
    compile_seconds: float
    available_mb: float | None  # MemAvailable now (None where unknown)

    @property
    def fits(self) -> bool:
        return self.available_mb is None or self.peak_mb <= self.available_mb

    def line(self) -> str:
        """One line for a person about to run it."""
        # the memory available only when it is tight (it changes from one second to the next)
        tight = self.available_mb is not None and self.peak_mb > self.available_mb / 2
        avail = f" of {self.available_mb:,.0f} MB available" if tight else ""
        comp = (f"; compiling the kernels first, about {_duration(self.compile_seconds)} "
                "(once: cached on disk afterwards)" if self.compile_seconds else "")
        return (f"estimate: {self.agents:,} agents x {self.agent_days // max(1, self.agents):,} days "
                f"in {self.communities:,} communities on {self.workers} worker"
                f"{'s' if self.workers > 1 else ''}: about {_round(self.events)} events, "
                f"peak memory {self.peak_mb:,.0f} MB{avail}, {_duration(self.seconds)}{comp}")

    def too_big(self) -> str:
        return (f"this run needs about {self.peak_mb:,.0f} MB at its peak but only "
                f"{self.available_mb:,.0f} MB are available: nothing was allocated. Use fewer "
                "workers (--workers 1), a smaller population (--scale, --set population.persons=N) "
                "or smaller communities (--set population.community_size=N); --force runs anyway")


def _round(x: float) -> str:
    for unit, div in (("billion", 1e9), ("million", 1e6), ("thousand", 1e3)):
        if x >= div:
            return f"{x / div:,.{1 if x < 10 * div else 0}f} {unit}"
    return f"{x:,.0f}"


def _duration(s: float) -> str:
    if s < 90:
        return f"{max(1, round(s)):,} s"
    if s < 5400:
        return f"{s / 60:,.0f} min"
    return f"{s / 3600:,.1f} h"


def available_mb() -> float | None:
    """MemAvailable from /proc/meminfo, in MB (None where there is none)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 / MB
    except (OSError, ValueError, IndexError):
        pass
    return None


def events_per_day(spec: EngineSpec, shares: np.ndarray) -> tuple[float, float]:
    """Expected events per day of a person (minors act not) and of a firm: the sum of the act
    groups' rates times their trait multiplier's mean (lognormal exp(sigma z): exp(sigma^2/2))
    and, for false matches, the women's multiplier at the women's share. Surveillance raises
    the false-match rate of the watched few: left out."""
    B = spec.behaviour
    trait_mean = np.exp(np.asarray(B.trait_sigma, float) ** 2 / 2)
    female = 1.0 - float(shares[0])
    person = firm = 0.0
    for g in range(len(B.grp_rate)):
        w = float(B.grp_rate[g])
        if B.grp_trait[g] >= 0:
            w *= float(trait_mean[B.grp_trait[g]])
        if B.grp_false[g] >= 0:
            w *= female * float(B.grp_female[g]) + (1.0 - female)
        if B.grp_subject[g] == 0:
            person += w
        else:
            firm += w
    return person * (1.0 - float(shares[1])), firm


def community_bytes(spec: EngineSpec, persons: int, firms: int, threads: int) -> int:
    """Bytes a worker allocates for one community (per-agent scratch and per-thread outputs):
    ``engine._agents``, ``_state``, ``_reach_log`` and ``_outputs``, at their largest (links and
    the replay log counted whenever a mechanism could use them)."""
    from credsim.layout import GROUPS, PANEL_COLS, REC_FIELDS

    n = persons + firms
    X = spec.mechanisms
    T = max(spec.behaviour.trait_sigma.shape[0], 1)
    L = spec.n_lists
    per_agent = (1 + 1 + 4 * T + 4  # group, age, traits, panel
                 + 4 + 4 + 2 + 2 + 8 * L + 4 * REC_FIELDS + 8 + 4 + 1 + 2  # state
                 + 8 + 1 + 4)  # link state: spill, dirty, due
    if X.households or X.act_parent.any():
        per_agent += 8 + 4 + 1
    linked = bool(X.coupled)
    if linked:  # the replay log: agent state, and (agents/4) rows of (agent, day) + bits per thread
        per_agent += 8 + threads * (16 + 8) / 4
    K1, A, G = spec.n_grades + 1, spec.behaviour.p_detect.shape[0], len(GROUPS)
    outputs = threads * ((spec.days + 1) * G * K1 * spec.measures.count * 8
                         + spec.days * G * A * 3 * 4 + spec.days * G * K1 * 3 * 4)
    panel = 65 * spec.panel_cap * PANEL_COLS * 8
    result = outputs * 2  # the community's result, then its pickled copy to the parent
    return int(n * per_agent + outputs + panel + result)


def reduction_bytes(spec: EngineSpec, provinces: int, acts: int, scores: int) -> int:
    """Bytes of ``collect.Reduction.empty`` for the run (int64 sums by province): the daily
    measures' differences, acts by day, acts by grade and the tickets blocked, each
    (province, day, group, ...), so they grow with days x measures x grades x provinces."""
    from credsim.layout import GROUPS, TICKET_KINDS

    G, K1 = len(GROUPS), spec.n_grades + 1
    return 8 * (provinces * ((spec.days + 1) * G * K1 * spec.measures.count
                             + spec.days * G * acts * 3 + spec.days * G * K1 * 3
                             + spec.days * G * K1 * len(TICKET_KINDS)) + scores)


def daily_columns(spec: EngineSpec) -> int:
    """Columns of ``Results.daily``: the keys (day, date, province, region, group, grade), the
    measures, the acts by grade and the tickets blocked."""
    from credsim.layout import TICKET_KINDS

    return 6 + spec.measures.count + 3 + len(TICKET_KINDS)


def tables_bytes(spec: EngineSpec, provinces: int) -> int:
    """Bytes ``collect`` adds at most to the reduction: the daily levels (the measures'
    differences summed up: a copy of that array) and the daily table (a row per province, day,
    group and grade, 8 bytes a column); ``TABLES_FACTOR`` weighs it for pandas' copies, Parquet
    and the plots."""
    from credsim.layout import GROUPS

    rows = provinces * spec.days * len(GROUPS) * (spec.n_grades + 1)
    return 8 * (rows * spec.measures.count + rows * daily_columns(spec))


def epoch_calls(spec: EngineSpec) -> int:
    """Kernel calls a community's agents stop at: ``ceil(days / epoch_days)`` when links are
    coupled and cannot be replayed (``engine.link_mode``), else 1 (one pass; a replay's
    boundaries touch only the agents its log names)."""
    from credsim.engine import link_mode

    coupled, _kids, _adults, replay = link_mode(spec)
    total = spec.burn_in + spec.days
    if not coupled or replay:
        return 1
    return -(-total // spec.epoch_days)


def executor_shape(workers: int | None, dask: str | None, n_communities: int,
                   threads: int | None) -> tuple[int, int]:
    """(worker processes, threads each) as ``executors.make_executor`` chooses them."""
    cores = os.cpu_count() or 1
    if dask:
        return workers or 2, 1
    if workers is None:
        workers = cores if n_communities > 1 else 1
    workers = max(1, min(workers, n_communities))
    if workers == 1:
        return 1, max(1, min(threads or cores, cores))
    return workers, max(1, cores // workers)


@dataclass(frozen=True)
class Terms:
    """What a run's cost is made of, before the measured constants weigh it: the estimate is
    linear in the constants, so ``benchmarks/estimate.py --fit`` fits them on these terms."""

    agents: int
    agent_days: int  # days including burn-in, every agent
    events: float
    communities: int
    workers: int
    parallel: int  # cores busy at once
    runs: int  # 2 with the chilling baseline
    cells: int  # (province, day, group, grade, measure) values of the tables
    community_mb: float  # the largest community's arrays in a worker
    reduction_mb: float  # the run's reduction in the parent
    tables_mb: float = 0.0  # what collect adds to it (``tables_bytes``)
    epoch_passes: int = 0  # agents x epoch boundaries they stop at (0 without epochs)
    community_epochs: int = 0  # communities x epoch boundaries
    peer_passes: int = 0  # agents x boundaries where peers rate each other (0 without)


def terms(sim: Sim, workers: int | None = None, dask: str | None = None) -> Terms:
    """The run's terms: its plan, act rates and array sizes (nothing runs)."""
    spec = sim.engine_spec()
    plan = sim.plan
    comms = plan.communities
    n_workers, threads = executor_shape(workers, dask, len(comms), sim.scenario.threads)
    total_days = spec.burn_in + spec.days
    p_rate, f_rate = events_per_day(spec, plan.shares)
    agents = plan.persons + plan.firms
    biggest = max(comms, key=lambda c: c.agents)
    # the reduction holds every province, but the pages of those with no community are never
    # written (np.zeros), so they cost no memory; the tables hold the provinces simulated
    provinces = len({c.province for c in comms}) or 1
    cores = os.cpu_count() or 1
    sc = sim.scenario
    boundaries = epoch_calls(spec) - 1
    return Terms(
        agents=agents, agent_days=agents * total_days,
        events=total_days * (plan.persons * p_rate + plan.firms * f_rate),
        communities=len(comms), workers=n_workers,
        parallel=max(1, min(cores, n_workers * threads, max(len(comms), 1) * threads)),
        runs=2 if sc.output.chilling_baseline and sc.response.chilling > 0 else 1,
        cells=provinces * spec.days * 5 * (spec.n_grades + 1) * spec.measures.count,
        community_mb=community_bytes(spec, biggest.persons, biggest.firms, threads) / MB,
        reduction_mb=reduction_bytes(spec, provinces, len(sim.catalogue.acts),
                                     sim.regime.score.max - sim.regime.score.min + 1) / MB,
        tables_mb=tables_bytes(spec, provinces) / MB,
        epoch_passes=agents * boundaries, community_epochs=len(comms) * boundaries,
        peer_passes=agents * boundaries if spec.peer is not None else 0)


def peak_mb(t: Terms) -> float:
    """The process tree's peak resident memory, in MB."""
    parent = PARENT_BASE_MB + t.reduction_mb + TABLES_FACTOR * t.tables_mb
    if t.workers == 1:
        return parent + t.community_mb
    return parent + t.workers * (WORKER_BASE_MB + t.community_mb)


def cpu_seconds(t: Terms) -> float:
    """The processor seconds of the whole process tree (kernels cached): the same costs as
    ``seconds`` without dividing the computing among the cores, and the start-up of each worker.
    Unlike wall time it does not move with the machine's load, so the constants are fitted and
    checked on it (``benchmarks/estimate.py``)."""
    compute = (t.agent_days * NS_PER_AGENT_DAY + t.events * NS_PER_EVENT
               + t.epoch_passes * NS_PER_AGENT_EPOCH + t.peer_passes * NS_PER_PEER_AGENT) * 1e-9
    return (CPU_START_SECONDS + WORKER_START_CPU_SECONDS * t.workers * (t.workers > 1)
            + t.runs * (compute + t.communities * COMMUNITY_SECONDS
                        + t.community_epochs * EPOCH_SECONDS + t.cells * NS_PER_TABLE_VALUE * 1e-9))


def seconds(t: Terms) -> float:
    """The whole command's seconds, kernels cached."""
    compute = (t.agent_days * NS_PER_AGENT_DAY + t.events * NS_PER_EVENT
               + t.epoch_passes * NS_PER_AGENT_EPOCH
               + t.peer_passes * NS_PER_PEER_AGENT) * 1e-9 / t.parallel
    setup = ((t.communities * COMMUNITY_SECONDS + t.community_epochs * EPOCH_SECONDS)
             / max(1, min(t.workers, t.communities)))
    return (START_SECONDS + t.runs * (compute + setup + t.cells * NS_PER_TABLE_VALUE * 1e-9)
            + REPORT_SECONDS)


def estimate(sim: Sim, workers: int | None = None, dask: str | None = None) -> Estimate:
    """The expected events, peak memory and time of ``sim.run(workers=workers)``."""
    spec = sim.engine_spec()
    t = terms(sim, workers, dask)
    return Estimate(agents=t.agents, agent_days=t.agents * spec.days, communities=t.communities,
                    workers=t.workers, events=int(round(t.events)), peak_mb=peak_mb(t),
                    seconds=seconds(t), compile_seconds=compile_seconds(sim, spec),
                    available_mb=available_mb())


# ---------------------------------------------------------------- a cold cache
def kernel_features(sim: Sim, spec: EngineSpec | None = None) -> int:
    """The mechanisms the run's kernel is compiled for (as ``engine.link_plan`` decides)."""
    from credsim.engine import mechanism_features

    spec = spec or sim.engine_spec()
    X = spec.mechanisms
    links = bool(X.coupled and (X.reach_children or X.reach_rep or X.reach_firms)
                 or spec.peer is not None or (X.legal_reps and (X.reach_rep or X.reach_firms)))
    return mechanism_features(spec, links)


def kernel_cached(features: int, cache_dir: str | Path | None = None) -> bool | None:
    """Whether Numba's on-disk cache (``cache_dir``, default NUMBA_CACHE_DIR or the package's
    ``__pycache__``) holds the kernel compiled for ``features`` with this package's sources:
    its index file exists, is for these sources (``jitcache`` stamp) and has an entry for this
    kernel's closure. Compiles nothing. None when Numba's cache internals are not those this was
    written against (then nothing is said about compiling)."""
    try:
        import numba
        from numba.core.registry import cpu_target

        from credsim.kernel import _compile_kernel

        old = numba.config.CACHE_DIR
        if cache_dir is not None:
            numba.config.CACHE_DIR = str(cache_dir)
        try:
            disp = _compile_kernel(features).blocks  # a new dispatcher: nothing compiled yet
            disp.enable_caching()
        finally:
            numba.config.CACHE_DIR = old
        cache = disp._cache
        index = cache._cache_file._load_index()
        want = cache._index_key(None, cpu_target.target_context.codegen())[1:]
        return any(tuple(k[1:]) == tuple(want) for k in index)
    except Exception:  # noqa: BLE001 - internals differ: say nothing rather than fail a run
        return None


def compile_seconds(sim: Sim, spec: EngineSpec | None = None) -> float:
    """About how long the run compiles before computing (0 when its kernel is cached)."""
    cached = kernel_cached(kernel_features(sim, spec))
    if cached is None or cached:
        return 0.0
    return COMPILE_SECONDS["kernel"] + COMPILE_SECONDS["helpers"]


def warm_spec(spec, community) -> float:
    """Compile (or load) every kernel a run of ``spec`` calls, in this process, on a slice of
    ``community`` (at most 2,000 persons and 200 firms, the same link plan, results thrown
    away): what the parent does before starting workers on a cold cache, so that each kernel is
    compiled once, not once per worker. Returns the seconds it took."""
    import time
    from dataclasses import replace

    from credsim.engine import release_scratch, run_community

    t0 = time.perf_counter()
    small = replace(community, persons=min(community.persons, 2_000),
                    firms=min(community.firms, 200 if community.firms else 0))
    try:
        run_community(spec, small)
    finally:
        release_scratch()
    return time.perf_counter() - t0
