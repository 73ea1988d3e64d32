"""``Calibration``: fit a scenario's parameters to observed figures with Optuna.

Each trial is one parameter point run on K seeds, the same seeds for every trial (common random
numbers: two trials differ by their parameters, not by their luck), through the experiment
layer's runner and executors (this process, local processes, a Dask cluster). A trial's loss is

    loss = - sum over fitted targets j of  weight_j x log L_j(observed_j | mean over seeds of sim_j)

the likelihood of each observed figure at the simulated *mean* over the K seeds: the figure a
source publishes is one realisation, the mean is the model's expectation of it, and the mean
keeps the loss smooth for the sampler (a likelihood averaged over seeds would be dominated by
the luckiest seed). Held-out targets are computed and stored but never enter the loss.

The run directory::

    DIR/calibration.json    what is fitted (spec, seeds, fingerprint, credsim version)
    DIR/calibration.toml    the calibration file
    DIR/optuna.journal      the Optuna study (JournalStorage, file backend): resumable
    DIR/trials/t00012.json  trial 12: parameters, per-seed simulated values, log-likelihoods, loss
    DIR/trials.parquet      one row per completed trial (parameters, loss, mean simulated values)
    DIR/simulated.parquet   one row per (trial, seed, target): the simulated values
    DIR/posterior.parquet   the posterior draws (importance resampling of the trials)
    DIR/calibrated.toml     the calibrated scenario
    DIR/report.html         the fit report (plots/ beside it)

A trial's file is written before the trial is told to the study: a SIGKILL leaves at most the
trials then running unfinished; ``resume`` marks those failed and asks for new ones until
exactly ``trials`` trials are complete.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from credsim.calibration import likelihoods, quantities
from credsim.calibration.spec import CalibrationFile
from credsim.config import read_toml, validate
from credsim.errors import ConfigError
from credsim.version import __version__

BAD_LOSS = 1e300  # the loss of a trial whose fit is not a number (Optuna wants finite values)
INSTALL = "pip install 'credsim[calibrate]'"


def require_optuna():
    try:
        import optuna
    except ImportError:  # pragma: no cover - the core install has no Optuna
        raise ImportError(f"credsim calibrate needs Optuna: {INSTALL}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class Calibration:
    """A validated calibration. ``Calibration.from_file(path).run(out)`` returns
    ``CalibrationResults`` (``.best``, ``.posterior``, ``.trials``, ``.plot("fit")``)."""

    def __init__(self, spec: CalibrationFile, scenario: str, *, source: str = "<calibration>",
                 text: str | None = None):
        self.spec = spec
        self.scenario = scenario  # absolute path of the base scenario
        self.source = source
        self.text = text
        self._check()

    # ------------------------------------------------------------------ building
    @classmethod
    def from_file(cls, path: str | Path) -> Calibration:
        """Read and validate a calibration file (docs/reference.md, "Calibration files"):
        errors name the file and the key path."""
        path = Path(path)
        spec = validate(CalibrationFile, read_toml(path), str(path))
        scenario = (path.resolve().parent / spec.scenario).resolve()
        if not scenario.is_file():
            raise ConfigError(str(path), [f"scenario: {spec.scenario!r}: file not found ({scenario})"])
        return cls(spec, str(scenario), source=str(path), text=path.read_text(encoding="utf-8"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: str | Path = ".", source: str = "<calibration>"):
        spec = validate(CalibrationFile, dict(data), source)
        scenario = (Path(base).resolve() / spec.scenario).resolve()
        if not scenario.is_file():
            raise ConfigError(source, [f"scenario: {spec.scenario!r}: file not found ({scenario})"])
        return cls(spec, str(scenario), source=source)

    def _check(self) -> None:
        """Every key path, bound, quantity and column, checked against the scenario now."""
        from credsim.scenario import Scenario

        s = self.spec
        try:
            base = Scenario.from_file(self.scenario)
        except ConfigError as exc:
            raise ConfigError(self.source, [f"scenario: {s.scenario!r} is not a valid scenario:"]
                              + [f"  {exc.source}: {p}" for p in exc.problems]) from None
        problems = []
        try:
            fixed = base.with_overrides(s.set, source="set")
        except ConfigError as exc:
            raise ConfigError(self.source, [f"set: {p}" for p in exc.problems]) from None
        for i, p in enumerate(s.parameters):
            seen = set()
            for v in p.range:
                value = int(v) if p.integer else float(v)
                try:
                    fixed.with_overrides({p.path: value}, source="x")
                except ConfigError as exc:
                    for msg in exc.problems:
                        if msg not in seen:
                            seen.add(msg)
                            problems.append(f"parameters[{i}].path: {p.path!r} (at {value:g}): {msg}")
        self.columns = quantities.columns_for(fixed)
        for j, t in enumerate(s.targets):
            problems += [f"targets[{j}].{m}" for m in quantities.problems(t, self.columns)]
        if problems:
            raise ConfigError(self.source, problems)
        self.seeds = s.seed_list(fixed.seed)
        self.daily = quantities.needed_daily(s.targets)
        self.digest = hashlib.sha256(json.dumps(fixed.resolved(), sort_keys=True, default=str)
                                     .encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ describing
    @property
    def name(self) -> str:
        return self.spec.name

    def meta(self, trials: int) -> dict[str, Any]:
        spec = self.spec.model_dump(mode="json")
        fp = {k: v for k, v in spec.items() if k not in ("trials", "description")}
        return {
            "name": self.name, "description": self.spec.description, "source": self.source,
            "scenario": self.scenario, "seeds": self.seeds, "trials": trials, "spec": spec,
            "parameters": [{"label": p.label, "path": p.path} for p in self.spec.parameters],
            "daily_columns": list(self.daily), "credsim_version": __version__,
            "fingerprint": hashlib.sha256(json.dumps(
                {"spec": fp, "seeds": self.seeds, "scenario": self.digest, "version": __version__},
                sort_keys=True).encode()).hexdigest(),
        }

    def overrides(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The key-path changes of one trial: the spec's ``set``, then the parameters."""
        by_label = {p.label: p for p in self.spec.parameters}
        return {**self.spec.set, **{by_label[k].path: v for k, v in params.items()}}

    def score(self, values: Mapping[str, list[float]]) -> tuple[dict[str, float], dict[str, float], float]:
        """Mean over seeds, log-likelihood per target, and the loss, for per-seed values."""
        means, ll = {}, {}
        for t in self.spec.targets:
            m = float(np.mean(values[t.name])) if len(values[t.name]) else math.nan
            means[t.name] = m
            ll[t.name] = float(likelihoods.loglik(t.likelihood, t.observed, m, **t.family_kw())) \
                if math.isfinite(m) else -math.inf
        total = sum(t.weight * ll[t.name] for t in self.spec.fitted_targets)
        loss = -total if math.isfinite(total) else BAD_LOSS
        return means, ll, min(loss, BAD_LOSS)

    # ------------------------------------------------------------------ running
    def run(self, out: str | Path | None = None, *, workers: int | None = None, dask: str | None = None,
            resume: bool = False, progress: bool = True, trials: int | None = None, model=None):
        """Run the trials not yet complete in ``out`` (all of them without ``resume``), then
        write the trials, posterior, calibrated scenario and report; returns
        ``CalibrationResults``. ``model(overrides, seed) -> row`` stands in for the simulator."""
        from credsim.calibration.finish import finish
        from credsim.calibration.results import CalibrationResults
        from credsim.progress import trials_bar

        optuna = require_optuna()
        self._require_sampler()
        n_trials = trials if trials is not None else self.spec.trials
        if not 1 <= n_trials <= 100_000:
            raise ValueError(f"trials: {n_trials} should be between 1 and 100000")
        out = Path(out) if out is not None else Path("runs") / self.name
        meta = self.meta(n_trials)
        study = self._open(optuna, out, meta, resume)
        done = _complete(study)
        bar = trials_bar(n_trials, enabled=progress)
        bar.note(f"{self.name}: {n_trials} trials x {len(self.seeds)} seeds, sampler {self.spec.sampler}; "
                 f"{len(done)} already complete" + ("" if resume or not done else " (kept)"))
        t0 = time.perf_counter()
        if len(done) < n_trials:
            self._optimise(optuna, study, out, n_trials, workers, dask, model, bar)
        finish_meta = {"wall_seconds_last_session": round(time.perf_counter() - t0, 3), "trials": n_trials}
        finish(self, study, out, finish_meta, note=bar.note)
        return CalibrationResults(out)

    def _open(self, optuna, out: Path, meta: dict[str, Any], resume: bool):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        out.mkdir(parents=True, exist_ok=True)
        meta_path = out / "calibration.json"
        if resume and meta_path.exists():
            old = json.loads(meta_path.read_text())
            if old.get("fingerprint") != meta["fingerprint"]:
                raise ValueError(f"{out}: holds another calibration ({old.get('name')!r}, or this one "
                                 f"changed since): --resume needs the same calibration file, scenario and "
                                 f"credsim version; use another -o, or run without --resume to start over")
        if not resume:
            for name in ("optuna.journal", "optuna.journal.lock", "trials.parquet", "simulated.parquet",
                         "posterior.parquet", "calibrated.toml", "report.html"):
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / "trials", ignore_errors=True)
        else:  # the only writer is this process: a lock left by a killed one is stale
            (out / "optuna.journal.lock").unlink(missing_ok=True)
        (out / "trials").mkdir(exist_ok=True)
        for tmp in (out / "trials").glob("*.tmp"):
            tmp.unlink()
        _write_json(meta_path, meta)
        if self.text is not None:
            (out / "calibration.toml").write_text(self.text, encoding="utf-8")
        storage = JournalStorage(JournalFileBackend(str(out / "optuna.journal")))
        study = optuna.create_study(study_name=self.name, storage=storage, direction="minimize",
                                    load_if_exists=True)
        stale = [t for t in study.get_trials(deepcopy=False)
                 if t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)]
        for t in stale:  # trials a killed session left running: failed, never counted
            study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)):
            (out / "trials" / f"t{t.number:05d}.json").unlink(missing_ok=True)  # written, never told
        return study

    def _require_sampler(self) -> None:
        """The package the sampler needs, before anything is written: ConfigError naming the key."""
        if self.spec.sampler != "cmaes":
            return
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError(self.source, [
                "sampler: 'cmaes' needs the cmaes package, which is not installed: "
                "pip install 'credsim[calibrate]' (or pip install cmaes), or choose another "
                "sampler (tpe, random, qmc)"]) from None

    def _sampler(self, optuna, n_before: int, n_trials: int):
        s, seed = self.spec.sampler, self.spec.seed + n_before
        if s == "tpe":
            return optuna.samplers.TPESampler(seed=seed, multivariate=True,
                                              n_startup_trials=max(5, min(10, n_trials // 4)))
        if s == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if s == "qmc":
            return optuna.samplers.QMCSampler(seed=self.spec.seed, scramble=True)
        self._require_sampler()
        x0 = self.start()
        whole = len(x0) == len(self.spec.parameters)  # a full start point: CMA-ES starts from it
        with warnings.catch_warnings():  # x0 is deprecated from Optuna 4.9 (kept to 6: pyproject caps it)
            warnings.simplefilter("ignore", FutureWarning)
            startup = 0 if whole else max(5, min(10, n_trials // 4))
            return optuna.samplers.CmaEsSampler(seed=seed, x0=x0 if whole else None,
                                                n_startup_trials=startup)

    def start(self) -> dict[str, float]:
        """The parameters' ``start`` values, by label (the first trial asks for them)."""
        return {p.label: (int(p.start) if p.integer else p.start)
                for p in self.spec.parameters if p.start is not None}

    def _optimise(self, optuna, study, out: Path, n_trials: int, workers, dask, model, bar) -> None:
        from credsim.calibration import parameters as P
        from credsim.experiment.runner import Arm, RunTask, make_run_executor

        start = self.start()
        if start and not study.get_trials(deepcopy=False):
            study.enqueue_trial(start)  # trial 0 at the spec's start values
        study.sampler = self._sampler(optuna, len(study.get_trials(deepcopy=False)), n_trials)
        dists = {p.label: P.distribution(p) for p in self.spec.parameters}
        k = len(self.seeds)
        w = workers or (2 if dask else (os.cpu_count() or 1))
        executor = make_run_executor(workers, dask, runs=k * max(1, math.ceil(w / k)))
        batch = max(1, math.ceil(getattr(executor, "workers", 1) / k))
        done = len(_complete(study))
        bar.start(done, self.name, _best(study))
        try:
            while done < n_trials:
                asked = [study.ask(dists) for _ in range(min(batch, n_trials - done))]
                by_number = {t.number: t for t in asked}
                runs: dict[int, list] = {t.number: [] for t in asked}
                tasks = [RunTask(Arm(t.number, f"trial {t.number}", self.scenario, self.overrides(t.params)),
                                 seed, self.daily or False) for t in asked for seed in self.seeds]
                try:
                    for r in executor.map(tasks, model):
                        runs[r.point].append(r)
                        if len(runs[r.point]) == k:
                            self._record(study, out, by_number.pop(r.point), runs.pop(r.point))
                            done += 1
                            bar.advance(_best(study))
                except BaseException:
                    for t in by_number.values():  # this batch's unfinished trials
                        try:
                            study.tell(t, state=optuna.trial.TrialState.FAIL)
                        except (ValueError, RuntimeError):  # already ended (another process)
                            pass
                    raise
        except KeyboardInterrupt:
            bar.stop()
            raise KeyboardInterrupt(f"stopped: the complete trials are in {out}; "
                                    f"add --resume to go on") from None
        finally:
            bar.stop()
            executor.close()

    def _record(self, study, out: Path, trial, outs: list) -> None:
        outs = sorted(outs, key=lambda r: self.seeds.index(r.seed))
        values = {t.name: [quantities.run_value(t, r) for r in outs] for t in self.spec.targets}
        means, ll, loss = self.score(values)
        rec = {"trial": trial.number, "params": dict(trial.params), "overrides": self.overrides(trial.params),
               "seeds": [r.seed for r in outs], "values": values, "mean": means, "loglik": ll,
               "loss": loss, "seconds": round(sum(r.seconds for r in outs), 4),
               "sim_seconds": round(sum(r.sim_seconds for r in outs), 4)}
        _write_json(out / "trials" / f"t{trial.number:05d}.json", rec)
        study.tell(trial, loss)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_jsonable), encoding="utf-8")
    os.replace(tmp, path)


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def _complete(study):
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _best(study) -> float | None:
    c = _complete(study)
    return min(t.value for t in c) if c else None
