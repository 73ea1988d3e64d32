"""``Experiment``: many runs of a scenario (points x seeds), written to one queryable directory.

Three shapes, one machinery: replicates (one point, K seeds), a paired comparison (arms on the
same seeds: common random numbers) and a sweep (design points from factors). Every arm and point
is validated before the first run; runs go to an executor and each is written as it finishes,
so a killed experiment resumes where it stopped and memory does not grow with the runs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from credsim.config import read_toml, validate
from credsim.errors import ConfigError
from credsim.experiment.design import Design, make_design
from credsim.experiment.metrics import DEFAULT_OUTPUTS, LABELS
from credsim.experiment.runner import Arm, Model, RunTask, make_run_executor
from credsim.experiment.spec import ExperimentFile
from credsim.experiment.store import RunStore
from credsim.version import __version__

# rough throughput for the estimate printed before a sweep (measured on the demo at 100k agents,
# one core of this project's 2-core reference machine); the progress bar's ETA then measures
AGENT_DAYS_PER_SECOND = 6.0e7
SECONDS_PER_RUN = 0.6  # planning, reduction and writing a run of 100k agents


def _label(overrides: Mapping[str, Any], names: dict[str, str] | None = None) -> str:
    names = names or {}
    return ", ".join(f"{names.get(k, k.rsplit('.', 1)[-1])}={_short(v)}" for k, v in overrides.items())


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class Experiment:
    """Runs of one or more arms over seeds. Build one with ``from_file`` (a sweep or comparison
    file), ``replicates`` or ``compare``; ``run(out)`` returns ``ExperimentResults``."""

    def __init__(self, name: str, kind: str, arms: Sequence[Arm], seeds: Sequence[int], *,
                 outputs: Sequence[str] = DEFAULT_OUTPUTS, daily: bool | Sequence[str] = True,
                 design: Design | None = None, spec: dict[str, Any] | None = None,
                 source: str = "<experiment>", text: str | None = None, description: str = ""):
        self.name, self.kind, self.description = name, kind, description
        self.arms = list(arms)
        self.seeds = list(seeds)
        self.outputs = list(outputs)
        self.daily = daily if isinstance(daily, bool) else tuple(daily)
        self.design = design
        self.spec = spec or {}
        self.source, self.text = source, text

    # ------------------------------------------------------------------ building
    @classmethod
    def from_file(cls, path: str | Path) -> Experiment:
        """Read and validate an experiment file (see docs/reference.md)."""
        path = Path(path)
        data = read_toml(path)
        f = validate(ExperimentFile, data, str(path))
        base = path.resolve().parent
        scenario = str((base / f.scenario).resolve())
        _exists(scenario, str(path), "scenario")
        common = dict(f.set)
        from credsim.scenario import Scenario

        seed0 = _scenario(scenario, str(path), "scenario").seed
        seeds = f.seed_list(seed0)
        design = None
        origin = f"experiment {f.name}, {path}"
        if f.arms:
            kind = "compare"
            arms = []
            for i, a in enumerate(f.arms):
                sc = str((base / a.scenario).resolve()) if a.scenario else scenario
                _exists(sc, str(path), f"arms[{i}].scenario")
                arms.append(Arm(i, a.label, sc, {**common, **a.set}, origin))
        elif f.factors:
            kind = "sweep"
            design = make_design(f.factors, f.design, str(path))
            arms = [Arm(i, _label(design.overrides(i), dict(zip([x.path for x in design.factors],
                                                                 design.names, strict=True))),
                        scenario, {**common, **design.overrides(i)}, origin) for i in range(len(design))]
        else:
            kind = "replicates"
            arms = [Arm(0, Scenario.from_file(scenario).name, scenario, common, origin)]
        return cls(f.name, kind, arms, seeds, outputs=f.outputs, daily=f.daily, design=design,
                   spec=f.model_dump(mode="json"), source=str(path), text=path.read_text(encoding="utf-8"),
                   description=f.description)

    @classmethod
    def replicates(cls, scenario: str | Path, seeds: int | Sequence[int] = 8,
                   overrides: Mapping[str, Any] | None = None, name: str | None = None,
                   **kw: Any) -> Experiment:
        """``seeds`` runs of one scenario (K seeds from its own, or the seeds given)."""
        path = str(Path(scenario).resolve())
        sc = _scenario(path, str(scenario), "scenario")
        # a run's seed is the experiment's: a "seed" override (--seed) is the first of the K seeds
        overrides = dict(overrides or {})
        first = int(overrides.pop("seed", sc.seed))
        seed_list = list(range(first, first + seeds)) if isinstance(seeds, int) else list(seeds)
        arm = Arm(0, sc.name + (f" ({_label(overrides)})" if overrides else ""), path, dict(overrides or {}),
                  f"experiment {name or sc.name}")
        return cls(name or sc.name, "replicates", [arm], seed_list, source=str(scenario), **kw)

    @classmethod
    def compare(cls, arms: Sequence[tuple[str, str | Path, Mapping[str, Any]]],
                seeds: int | Sequence[int] = 8, name: str | None = None, **kw: Any) -> Experiment:
        """Arms ``(label, scenario file, overrides)`` on the same seeds (the first arm's seed and
        the next ones); the first arm is the baseline of the differences."""
        if len(arms) < 2:
            raise ValueError("a comparison needs at least two arms")
        # a run's seed is the experiment's: the first arm's "seed" override is the first seed
        first = arms[0][2].get("seed") if arms else None
        built = [Arm(i, label, str(Path(p).resolve()), {k: v for k, v in o.items() if k != "seed"},
                     f"arm {label} of experiment {name or 'compare'}")
                 for i, (label, p, o) in enumerate(arms)]
        labels = [a.label for a in built]
        if len(set(labels)) != len(labels):
            raise ValueError(f"two arms have the same label: {labels}")
        seed0 = _scenario(built[0].scenario, str(arms[0][1]), "scenario").seed
        seed0 = seed0 if first is None else int(first)
        seed_list = list(range(seed0, seed0 + seeds)) if isinstance(seeds, int) else list(seeds)
        return cls(name or "compare-" + "-vs-".join(labels)[:60], "compare", built, seed_list,
                   source="compare", **kw)

    def with_changes(self, changes: Mapping[str, Any]) -> Experiment:
        """A copy where every arm also gets ``changes`` (key path -> value), after its own. A
        change may not set a factor's path (every point would be the same)."""
        if self.design is not None:
            clash = [k for k in changes if k in {f.path for f in self.design.factors}]
            if clash:
                raise ConfigError("--set", [f"{k}: is a factor of {self.source}: setting it would make "
                                            f"every point the same (change the factor instead)"
                                            for k in clash])
        arms = [Arm(a.point, a.label, a.scenario, {**a.overrides, **changes},
                    f"{a.origin or 'experiment ' + self.name} and --set") for a in self.arms]
        spec = {**self.spec, "set_after": dict(changes)}
        return Experiment(self.name, self.kind, arms, self.seeds, outputs=self.outputs, daily=self.daily,
                          design=self.design, spec=spec, source=self.source, text=self.text,
                          description=self.description)

    # ------------------------------------------------------------------ describing
    @property
    def n_runs(self) -> int:
        return len(self.arms) * len(self.seeds)

    def points(self) -> pd.DataFrame:
        """One row per point: point, label, and the design's factor values (sweeps)."""
        df = pd.DataFrame({"point": [a.point for a in self.arms], "label": [a.label for a in self.arms]})
        if self.design is not None:
            df = pd.concat([df, self.design.points.reset_index(drop=True)], axis=1)
        return df

    def meta(self) -> dict[str, Any]:
        m = {
            "name": self.name, "kind": self.kind, "description": self.description,
            "design": self.design.kind if self.design else None,
            "factors": ([{"name": n, "path": f.path} for n, f in zip(self.design.names, self.design.factors,
                                                                      strict=True)]
                        if self.design else []),
            "outputs": self.outputs, "seeds": self.seeds, "daily": self.daily,
            "arms": [{"point": a.point, "label": a.label, "scenario": a.scenario,
                      "overrides": a.overrides} for a in self.arms],
            "scenario": _shown(self.arms[0].scenario), "source": self.source, "spec": self.spec,
            "credsim_version": __version__,
            "metric_labels": {k: v for k, v in LABELS.items() if k in self.outputs},
        }
        m["scenario_digests"] = _digests(sorted({a.scenario for a in self.arms}))
        # each point's values set by key path and the provenance they carry (not fingerprinted)
        m["provenance"] = {str(a.point): a.provenance() for a in self.arms if a.overrides}
        m["fingerprint"] = hashlib.sha256(json.dumps(
            {k: m[k] for k in ("kind", "design", "factors", "outputs", "seeds", "daily", "arms", "spec",
                               "credsim_version", "scenario_digests")},
            sort_keys=True, default=str).encode()).hexdigest()
        return m

    def check(self) -> list[tuple[int, int]]:
        """Validate every arm's scenario now (a bad value names the point and the key path) and
        return each arm's (agents, days) for the estimate."""
        from credsim.experiment.runner import scenario_for
        from credsim.sim import Sim

        sizes = []
        seen: dict[tuple, tuple[int, int]] = {}
        for a in self.arms:
            try:
                sc = scenario_for(a)
            except ConfigError as exc:
                # a point's values (factors, set, arms) come from the experiment file: name it
                if self.text is None or exc.source != f"{a.scenario} ({a.label})":
                    raise
                raise ConfigError(self.source, [f"point {a.point} ({a.label}): {p}"
                                                for p in exc.problems]) from None
            key = (a.scenario, json.dumps(sc.population.model_dump(mode="json"), sort_keys=True), sc.days)
            if key not in seen:
                plan = Sim(sc).plan
                seen[key] = (plan.persons + plan.firms, sc.days * (2 if sc.output.chilling_baseline
                                                                   and sc.response.chilling > 0 else 1))
            sizes.append(seen[key])
        self._check_columns()
        return sizes

    def _check_columns(self) -> None:
        """Every output and kept daily series must be a column of at least one arm's runs."""
        from credsim.experiment.metrics import columns_for
        from credsim.experiment.runner import scenario_for

        row, daily = set(), set()
        regimes = {}
        for a in self.arms:  # validated already: scenario_for returns the cached scenario
            reg = scenario_for(a).regime_model
            regimes[reg.model_dump_json()] = reg
        for reg in regimes.values():
            r, d = columns_for(reg)
            row |= r
            daily |= d
        problems = [f"outputs[{j}]: {o!r} is not a column of these runs (their regime has no such grade, "
                    f"sanction or list)" for j, o in enumerate(self.outputs) if o not in row]
        if not isinstance(self.daily, bool):
            problems += [f"daily[{j}]: {c!r} is not a daily series of these runs (e.g. restricted, "
                         f"falsely_restricted, mean_score, {sorted(daily - {'day'})[0]})"
                         for j, c in enumerate(self.daily) if c not in daily]
        if problems:
            raise ConfigError(self.source, problems)

    def estimate(self, workers: int, sizes: list[tuple[int, int]] | None = None) -> float:
        """A rough wall time in seconds (the progress bar's ETA measures the real one)."""
        sizes = sizes or self.check()
        per_seed = sum(SECONDS_PER_RUN + n * d / AGENT_DAYS_PER_SECOND for n, d in sizes)
        return per_seed * len(self.seeds) / max(1, workers)

    # ------------------------------------------------------------------ running
    def tasks(self, skip: set[tuple[int, int]] = frozenset()) -> list[RunTask]:
        """The runs, seed-major (every arm of seed 1, then seed 2...): a stopped comparison
        has whole seeds to pair."""
        return [RunTask(a, s, self.daily) for s in self.seeds for a in self.arms if (a.point, s) not in skip]

    def run(self, out: str | Path | None = None, *, workers: int | None = None, dask: str | None = None,
            resume: bool = False, progress: bool = True, model: Model | None = None):
        """Run every (point, seed) not yet on disk and return the results (also in ``out``).
        ``model`` stands in for the simulator: ``model(overrides, seed) -> row``."""
        from credsim.experiment.results import ExperimentResults
        from credsim.progress import runs_bar

        out = Path(out) if out is not None else Path("runs") / self.name
        sizes = self.check() if model is None else None
        store = RunStore(out)
        meta = self.meta()
        store.start(meta, self.points(), self.text, resume)
        done = store.done() if resume else set()
        todo = self.tasks(done)
        executor = make_run_executor(workers, dask, len(todo))
        n_workers = getattr(executor, "workers", 1)
        bar = runs_bar(self.n_runs, enabled=progress)
        if sizes is not None:
            bar.note(f"{self.n_runs:,} runs ({len(self.arms)} point{'s' * (len(self.arms) > 1)} x "
                     f"{len(self.seeds)} seed{'s' * (len(self.seeds) > 1)}), {len(done):,} already done; "
                     f"about {_duration(self.estimate(n_workers, sizes) * len(todo) / max(1, self.n_runs))} "
                     f"{_where_runs(executor.name, n_workers)} (rough estimate)")
        t0 = time.perf_counter()
        bar.start(done=len(done), label=self.name)
        try:
            for r in executor.map(todo, model):
                store.write(r)
                bar.advance()
        except KeyboardInterrupt:
            bar.stop()
            raise KeyboardInterrupt(f"stopped: the finished runs are in {out}; "
                                    f"add --resume to go on") from None
        finally:
            store.flush()  # the runs that finished are on disk, whatever stopped the loop
            bar.stop()
            executor.close()
        store.finish({"wall_seconds": round(time.perf_counter() - t0, 3), "executor": executor.name,
                      "workers": n_workers, "runs_resumed": len(done)})
        res = ExperimentResults(out)
        res.save_analysis()
        return res


def _where_runs(executor: str, workers: int) -> str:
    if executor == "in-process":
        return "in this process"
    if executor == "processes":
        return f"on {workers} local worker process{'es' * (workers > 1)}"
    return f"on {workers} Dask worker{'s' * (workers > 1)}"


def _digests(paths: list[str]) -> dict[str, str]:
    """A digest of each scenario file as resolved (its regime and catalogue included), so that
    ``--resume`` refuses a directory whose scenarios changed since."""
    from credsim.scenario import Scenario

    out = {}
    for p in paths:
        try:
            blob = json.dumps(Scenario.from_file(p).resolved(), sort_keys=True, default=str)
        except ConfigError:  # a model stub's experiment may name keys no scenario has
            blob = Path(p).read_text(encoding="utf-8")
        out[p] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return out


def _shown(path: str) -> str:
    """A file as a reader would name it: relative to the working directory when under it."""
    p = Path(path)
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def _duration(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _exists(path: str, source: str, key: str) -> None:
    if not Path(path).is_file():
        raise ConfigError(source, [f"{key}: {path}: file not found"])


def _scenario(path: str, source: str, key: str):
    from credsim.scenario import Scenario

    _exists(path, source, key)
    return Scenario.from_file(path)
