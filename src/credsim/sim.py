"""``Sim``: compile a scenario, run its communities on an executor, reduce, return ``Results``."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from credsim import sanity
from credsim.calendar import thinning
from credsim.checkpoint import Checkpoints
from credsim.collect import Reduction, collect, run_meta
from credsim.compile import compile_behaviour, compile_mechanisms, compile_regime
from credsim.engine import EngineSpec
from credsim.errors import RunDirError
from credsim.executors import make_executor
from credsim.population import PopulationPlan, plan_population
from credsim.progress import RunProgress
from credsim.scenario import Scenario
from credsim.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from credsim.population import Community
    from credsim.results import Results

PANEL_CAP = 4096  # panel rows per block per community (more are dropped)
_SANITY = "the run's outputs fail the end-of-run check (a bug in credsim, please report it): "


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20
    return max(own, kids) * scale


def _peer_tuple(regime) -> tuple | None:
    p = regime.peer_rating
    if p is None:
        return None
    return (p.contacts, p.ratings_per_day, p.memory, p.quality_mean, p.quality_sd, p.noise_sd)


class Sim:
    """A simulation of one scenario. ``Sim.from_file("scenarios/demo.toml").run()``."""

    def __init__(self, scenario: Scenario):
        scenario.check()  # names across files, also for scenarios built in Python
        self.scenario = scenario
        sc = scenario
        self.regime = sc.regime_model
        self.catalogue = sc.catalogue
        self.plan: PopulationPlan = plan_population(
            sc.marginals_model,
            scale=sc.population.scale,
            persons=sc.population.persons,
            community_size=sc.population.community_size,
            provinces=sc.population.provinces or None,
            firms=sc.population.firms,
        )

    @classmethod
    def from_file(cls, path: str | Path) -> Sim:
        return cls(Scenario.from_file(path))

    # ------------------------------------------------------------------------------------
    def engine_spec(self) -> EngineSpec:
        sc = self.scenario
        n_agents = self.plan.persons + self.plan.firms
        rt = compile_regime(self.regime, self.catalogue.act_names,
                            ticket_shape=sc.tickets.dispersion.shape)
        mt = compile_mechanisms(sc, self.regime, self.catalogue, rt)
        keep = None
        if sc.behaviour.unscored_acts == "skip":
            keep = rt.act_rule >= 0
        # scheduled act rates: candidates at the highest rate, thinned by day in the kernel
        cat, act_sched, sched_factor = thinning(sc, self.catalogue)
        return EngineSpec(
            seed=sc.seed,
            days=sc.days,
            burn_in=sc.burn_in_days,
            epoch_days=sc.epoch_days,
            shares=self.plan.shares,
            household_size=sc.marginals_model.household_size.value,
            regime=rt,
            behaviour=compile_behaviour(cat, sc.detection.perfect, sc.errors.enabled,
                                        mt.act_game * mt.act_base, keep, act_sched, sched_factor),
            mechanisms=mt,
            peer=_peer_tuple(self.regime),
            n_sanctions=len(self.regime.sanctions),
            n_lists=len(self.regime.lists),
            n_grades=len(self.regime.bands),
            panel_rate=min(1.0, sc.output.panel_agents / max(1, n_agents)),
            panel_cap=PANEL_CAP,
            ticket_rates=sc.tickets.rates_per_day(),
        )

    def fingerprint(self) -> str:
        blob = json.dumps(self.scenario.resolved(provenance=False), sort_keys=True) + __version__
        return hashlib.sha256(blob.encode()).hexdigest()

    def run(
        self,
        out: str | Path | None = None,
        *,
        workers: int | None = None,
        dask: str | None = None,
        resume: bool = False,
        progress: bool = True,
        by_province: bool = True,
        force: bool = False,
        check_resources: bool | None = None,
        on_community: Callable[[int, int], None] | None = None,
    ) -> Results:
        """Run every community and return the results; with ``out``, also write the run directory
        (checkpoints as communities finish, then Parquet, summary, plots and report).
        ``by_province=False`` sums the provinces before building the tables (one national row per
        day, group and grade): every national figure is the same, and a small run's reduction is
        many times cheaper (what experiments use).

        ``check_resources`` (default: when writing a run directory) estimates the run first
        (``credsim.estimate``), says so with ``progress``, and raises ``ResourceError`` before
        allocating if its peak memory exceeds the memory available, unless ``force``. On a cold
        Numba cache with several local workers, the kernels are compiled here first, once."""
        red, meta, bar = self._reduce(out, workers, dask, resume, progress, by_province, force,
                                      check_resources, on_community)
        perf = meta["performance"]
        res = collect(red, meta)
        bad = sanity.problems(res, self.plan.persons + self.plan.firms)
        if bad:
            raise sanity.SanityError(_SANITY + "; ".join(bad[:10]))
        sc = self.scenario
        if sc.output.chilling_baseline and sc.response.chilling > 0:
            from credsim import harms

            base = Sim(sc.with_changes({"response": {"chilling": 0.0}})).run(
                workers=workers, dask=dask, progress=progress, by_province=by_province,
                on_community=on_community)
            res.summary["harms"]["chilling"] = harms.chilling_index(res, base)
        if out is not None:
            _save(res, Path(out), self.scenario)
        bar.summary(perf)
        return res

    def reduction(self, *, workers: int | None = None, dask: str | None = None,
                  progress: bool = False, by_province: bool = False) -> tuple[Reduction, dict]:
        """Run every community and return their summed aggregates and the run's ``run_meta``,
        without the tables of a ``Results`` (nor the chilling baseline, the end-of-run check or
        a run directory): what an experiment's run needs, its row and daily series coming
        straight from the sums (``experiment.sums``)."""
        red, meta, _ = self._reduce(None, workers, dask, False, progress, by_province, False, False,
                                    None)
        bad = sanity.sums_problems(red.levels(self.scenario.days), red, self.plan.persons + self.plan.firms)
        if bad:
            raise sanity.SanityError(_SANITY + "; ".join(bad[:10]))
        return red, meta

    def _reduce(self, out, workers, dask, resume: bool, progress: bool, by_province: bool,
                force: bool, check_resources: bool | None,
                on_community: Callable[[int, int], None] | None) -> tuple[Reduction, dict, RunProgress]:
        """The communities run and summed: the reduction, the run's meta (with its
        performance) and the progress bar (to print its summary at the end)."""
        spec = self.engine_spec()
        comms = self.plan.communities
        if out is not None if check_resources is None else check_resources:
            self._check_resources(workers, dask, force, progress)
        red = Reduction.empty(
            provinces=len(self.plan.provinces) if by_province else 1, days=spec.days,
            grades=spec.n_grades + 1,
            measures=spec.measures.count, acts=len(self.catalogue.acts),
            scores=self.regime.score.max - self.regime.score.min + 1,
        )
        ckpt, todo = self._prepare(out, red, resume) if out is not None else (None, comms)
        agents = sum(c.agents for c in comms)
        computed_agents = sum(c.agents for c in todo)
        resumed_events = red.events
        t0 = time.perf_counter()
        executor = make_executor(workers, dask, len(todo), self.scenario.threads)
        bar = RunProgress(len(comms), agents, enabled=progress)
        bar.start(done=red.done, label=f"{self.scenario.name} ({executor.name})")
        try:
            for r in executor.map(spec, todo, ckpt):
                red.add(r)
                bar.advance(r.persons + r.firms, r.events)
                if on_community is not None:
                    on_community(red.done, len(comms))
        except KeyboardInterrupt:
            bar.stop()
            if out is not None:
                print(f"interrupted: {len(ckpt.done(comms))} of {len(comms)} communities are "
                      f"checkpointed in {Path(out) / 'checkpoints'}; run the same command with "
                      "--resume to continue from them", file=sys.stderr)
            raise
        except OSError as exc:
            if out is None:
                raise
            raise RunDirError(str(out), [
                f"writing a checkpoint failed ({exc.strerror or exc}); {len(ckpt.done(comms))} "
                f"of {len(comms)} communities are checkpointed in {Path(out) / 'checkpoints'}: "
                "make room and run the same command with --resume"]) from None
        finally:
            bar.stop()
            executor.close()
        wall = time.perf_counter() - t0
        perf = {
            "wall_seconds": round(wall, 3),
            "executor": executor.name,
            "communities": len(comms),
            "communities_resumed": len(comms) - len(todo),
            "agents": agents,
            "agent_days_per_second": (round(computed_agents * spec.days / wall)
                                      if wall > 0 and computed_agents else None),
            "events": red.events,
            "ns_per_event": (round(wall * 1e9 / (red.events - resumed_events), 1)
                             if red.events > resumed_events else None),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
        meta = run_meta(self.scenario, self.regime, self.catalogue, self.plan,
                        spec.mechanisms.act_accept, perf, by_province)
        return red, meta, bar

    def _check_resources(self, workers, dask, force: bool, progress: bool) -> None:
        from credsim.errors import ResourceError
        from credsim.estimate import estimate, warm_spec

        est = estimate(self, workers, dask)
        if progress:
            print(est.line(), file=sys.stderr)
        if not est.fits:
            if not force:
                raise ResourceError(self.scenario.name, [est.too_big()])
            print(f"--force: running although {est.too_big().split(': nothing')[0]}", file=sys.stderr)
        if est.compile_seconds and est.workers > 1 and not dask:
            if progress:
                print("compiling the kernels once in this process before starting the workers "
                      "(they load them from the cache)", file=sys.stderr)
            t0 = time.perf_counter()
            warm_spec(self.engine_spec(), self.plan.communities[0])
            if progress:
                print(f"compiled in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    def _prepare(self, out: str | Path, red: Reduction,
                 resume: bool) -> tuple[Checkpoints, list[Community]]:
        """Make the run directory and its checkpoints; with ``resume``, add the checkpointed
        communities to ``red``. Returns the checkpoints and the communities left to run."""
        out = Path(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            writable(out)
            ckpt = Checkpoints(out / "checkpoints", self.fingerprint(), self.scenario.seed)
            ckpt.clear_temporaries()
            (out / "scenario.resolved.json").write_text(
                json.dumps({"credsim_version": __version__, **self.scenario.resolved()}, indent=2)
            )
        except OSError as exc:
            raise RunDirError(str(out), [f"the run directory cannot be written "
                                         f"({exc.strerror or exc}): nothing was computed; choose "
                                         "another with -o"]) from None
        if not resume:
            return ckpt, self.plan.communities
        todo = []
        for c in self.plan.communities:
            r = ckpt.load(c.index)
            if r is None:
                todo.append(c)
            else:
                red.add(r)
        for p, why in ckpt.discarded:
            print(f"discarded checkpoint {p}: {why}; its community is recomputed", file=sys.stderr)
        return ckpt, todo


MIN_FREE_BYTES = 64 * 2**20  # checkpoints, Parquet, plots and report of a large run fit in less


def writable(out: Path) -> None:
    """Raise OSError unless a file can be written in ``out`` and the disk has room."""
    probe = out / f".credsim-write-test-{os.getpid()}"
    with open(probe, "wb") as f:
        f.write(b"credsim")
        f.flush()
        os.fsync(f.fileno())
    probe.unlink()
    free = shutil.disk_usage(out).free
    if free < MIN_FREE_BYTES:
        raise OSError(errno.ENOSPC, f"only {free / 2**20:.0f} MiB free, at least "
                                    f"{MIN_FREE_BYTES // 2**20} MiB needed")


def _save(res: Results, out: Path, sc: Scenario) -> None:
    """Write the run directory; if that fails, keep the results elsewhere and say where."""
    try:
        res.save(out, report=sc.output.report)
        return
    except OSError as exc:
        why = exc.strerror or str(exc)
    try:
        rescue = Path(tempfile.mkdtemp(prefix=f"credsim-{sc.name}-"))
        res.save(rescue, report=False)
        kept = f"the results were written to {rescue} instead"
    except OSError:
        kept = "they could not be written elsewhere either"
    err = RunDirError(str(out), [f"writing the results failed ({why}): {kept}; every community "
                                 f"is checkpointed in {out / 'checkpoints'} (make room and run "
                                 "the same command with --resume to write them there)"])
    err.results = res
    raise err
