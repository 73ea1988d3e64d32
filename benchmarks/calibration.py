"""The shipped court-list calibration: wall time, trials per minute, and the fit's distance to
every target (the issue's benchmark line; not a timed test).

Runs ``calibrations/court-blacklist.toml`` (100 trials x 4 seeds as shipped) on local worker
processes, or reads a calibration directory already run (``--read DIR``), then prints one line
per target: observed, the best trial's mean over seeds, their ratio, the distance in the target's
standard deviations, the 90% predictive band and PASS/FAIL (held out) or in band / outside.

    .venv/bin/python benchmarks/calibration.py [--workers 2] [--trials 100] [--out DIR]
    .venv/bin/python benchmarks/calibration.py --read runs/cal-court
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "calibrations" / "court-blacklist.toml"


def report(out: Path, wall: float | None) -> dict:
    from credsim.calibration import CalibrationResults

    res = CalibrationResults(out)
    trials = res.trials
    fit = res.fit()
    sd = {t.name: t.sd_abs for t in res.spec.targets}
    meta = json.loads((out / "calibration.json").read_text())
    if wall is None:  # the session that ran the trials (a --resume session times only itself)
        wall = meta.get("wall_seconds_last_session")
    sim = trials["seconds"].sum() if "seconds" in trials.columns else None
    print(f"{out}: {len(trials)} trials x {len(res.meta['seeds'])} seeds, best trial "
          f"{res.meta['best_trial']}, loss {res.meta['best_loss']:.3f}, "
          f"posterior ESS {res.posterior.ess:.1f}")
    if wall:
        print(f"wall {wall:.0f} s ({wall / 60:.1f} min): {len(trials) / wall * 60:.2f} trials per minute"
              + (f"; runs in the workers {sim:.0f} s" if sim else ""))
    print("best: " + ", ".join(f"{k} = {v:.5g}" for k, v in res.best.items()))
    for k in res.best:
        lo, hi = res.posterior.interval(k)
        print(f"  {k}: 90% posterior interval {lo:.5g} .. {hi:.5g}")
    print(f"{'target':32s} {'observed':>11s} {'best':>11s} {'ratio':>7s} {'z':>6s} "
          f"{'90% predictive band':>25s}  check")
    rows = []
    for r in fit.itertuples():
        z = (r.best - r.observed) / sd[r.target] if sd[r.target] else float("nan")
        band = f"{r.pred_lo:,.0f} .. {r.pred_hi:,.0f}"
        print(f"{r.target:32s} {r.observed:>11,.0f} {r.best:>11,.0f} {r.best_ratio:>7.3f} {z:>6.2f} "
              f"{band:>25s}  {r.check}{' (held out)' if r.holdout else ''}")
        rows.append({"target": r.target, "observed": r.observed, "best": r.best,
                     "ratio": r.best_ratio, "z": z, "check": r.check, "holdout": r.holdout})
    return {"trials": len(trials), "wall_seconds": wall, "targets": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-cal-court")
    ap.add_argument("--read", type=Path, default=None, help="report on a calibration already run")
    a = ap.parse_args()
    if a.read is not None:
        report(a.read, None)
        return
    from credsim.calibration import Calibration

    t0 = time.perf_counter()
    Calibration.from_file(SPEC).run(a.out, workers=a.workers, trials=a.trials, progress=False)
    report(a.out, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
