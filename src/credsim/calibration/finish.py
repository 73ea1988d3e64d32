"""After the trials: the tables, the posterior, ``calibrated.toml`` and the report of a
calibration directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credsim.calibration.posterior import importance, temperature
from credsim.calibration.results import LEVEL, CalibrationResults
from credsim.calibration.spec import CalibrationFile


def _trial_tables(out: Path, numbers: list[int],
                  spec: CalibrationFile) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, sim = [], []
    for n in sorted(numbers):
        rec = json.loads((out / "trials" / f"t{n:05d}.json").read_text())
        row: dict[str, Any] = {"trial": n, "loss": rec["loss"],
                               "loglik": -rec["loss"] if rec["loss"] < 1e300 else -np.inf}
        row.update(rec["params"])
        for t in spec.targets:
            row[f"sim_{t.name}"] = rec["mean"][t.name]
            row[f"loglik_{t.name}"] = rec["loglik"][t.name]
        row["seconds"] = rec["seconds"]
        rows.append(row)
        for t in spec.targets:
            for s, v in zip(rec["seeds"], rec["values"][t.name], strict=True):
                sim.append({"trial": n, "seed": s, "target": t.name, "value": v})
    return pd.DataFrame(rows), pd.DataFrame(sim, columns=["trial", "seed", "target", "value"])


def finish(cal: Any, study, out: Path, meta_update: dict[str, Any], note=print) -> None:
    """``cal`` is the ``Calibration`` (not imported: no cycle)."""
    """Write trials.parquet, simulated.parquet, posterior.parquet, calibrated.toml, report.html."""
    import optuna

    from credsim.calibration import calibrated
    from credsim.calibration.report import write_report
    from credsim.scenario import Scenario

    spec = cal.spec
    complete = [t.number for t in study.get_trials(deepcopy=False,
                                                   states=(optuna.trial.TrialState.COMPLETE,))]
    failed = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)))
    trials, sim = _trial_tables(out, complete, spec)
    T = temperature(trials, spec.fitted_targets, spec.posterior_temperature)
    post = importance(trials, spec.parameters, spec.sampler, spec.posterior_draws, seed=spec.seed,
                      temperature=T)
    trials["weight"] = trials["trial"].map(post.weights).fillna(0.0)
    trials.to_parquet(out / "trials.parquet", index=False)
    sim.to_parquet(out / "simulated.parquet", index=False)
    post.draws.to_parquet(out / "posterior.parquet", index=False)
    best = trials.loc[trials["loss"].idxmin()]
    labels = [p.label for p in spec.parameters]
    best_params = {p.label: (int(best[p.label]) if p.integer else float(best[p.label]))
                   for p in spec.parameters}
    summ = post.summary()
    note(f"posterior: {post.method}; effective sample size {post.ess:.1f} of {len(trials)} trials")
    for p in spec.parameters:
        lo, hi = post.interval(p.label, LEVEL)
        note(f"  {p.label}: best {best_params[p.label]:.6g}, 90% interval [{lo:.6g}, {hi:.6g}]")
    fitted_names = [t.name for t in spec.fitted_targets]
    fitted = {p.path: best_params[p.label] for p in spec.parameters}
    shown = _shown(cal.source)
    doc = calibrated.scenario_document(cal.scenario, spec.set, fitted, shown,
                                       {p.path: fitted_names for p in spec.parameters},
                                       notes={p.path: p.note for p in spec.parameters})
    header = (f"Calibrated scenario written by credsim {cal.meta(0)['credsim_version']} calibrate "
              f"({shown}, best of {len(trials)} trials x {len(cal.seeds)} seeds, loss {best['loss']:.6g}).\n"
              f"Base scenario: {_shown(cal.scenario)}; the fitted values are in [calibrated], "
              f"applied on loading.\n"
              f"Posterior ({post.method}, ESS {post.ess:.1f}), 90% intervals:\n"
              + "\n".join(f"  {p.path}: [{summ.loc[p.label].iloc[2]:.6g}, {summ.loc[p.label].iloc[3]:.6g}]"
                          for p in spec.parameters))
    path = calibrated.write(out / "calibrated.toml", doc, header)
    Scenario.from_file(path)  # the calibrated scenario must validate
    meta = json.loads((out / "calibration.json").read_text())
    meta.update(meta_update)
    meta.update({"complete_trials": len(trials), "failed_trials": failed, "ess": post.ess, "temperature": T,
                 "posterior_method": post.method, "best_trial": int(best["trial"]),
                 "best_loss": float(best["loss"]),
                 "best": best_params, "best_overrides": fitted,
                 "posterior_summary": {k: summ.loc[k].to_dict() for k in labels},
                 "wall_seconds_total": round(float(trials["seconds"].sum()), 3)})
    (out / "calibration.json").write_text(json.dumps(meta, indent=2, default=str))
    res = CalibrationResults(out)
    write_report(res, out)


def _shown(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


