"""points-v2 benchmark: credsim against a plain-NumPy daily-step reference.

What is measured, for each population size N (default 1M and 10M adults, 365 days):

* the NumPy reference below (vectorised over agents, one Python loop over days, single thread)
  and credsim running ``benchmarks/points_v2/`` in-process (Numba threads);
* each in a fresh ``spawn`` subprocess, so its peak RSS is its own: wall time, agent-days per
  second, ns per agent-day, credsim's ns per event, peak RSS (VmHWM) and its increase over the
  process's RSS just before the run (after imports and, for credsim, the warm-up);
* statistical agreement of the two models (credsim draws acts as Poisson processes, the
  reference as daily Bernoulli trials, so agreement is statistical, not exact): day-365 mean
  score, day-365 restricted count and the whole daily mean-score trajectory.

Numba compile time is reported separately: a cold compile into a temporary cache directory
(the project's on-disk cache is left alone) and the first call with the normal cache; every
timed credsim run follows an untimed warm-up run at 10,000 agents in its own process.

Each size runs ``--repeat`` rounds (NumPy, then credsim), every run in a fresh process; the
machine is shared and its speed moves by tens of percent from minute to minute, so the ratio
compares the best round of each implementation (as ``timeit`` does) and every round's ratio is
printed too.

Goal: credsim >= 20x the NumPy reference in agent-days per second. (A 10M-agent year of the
demo scenario in < 60 s is measured elsewhere.)

    .venv/bin/python benchmarks/points_v2.py [--sizes 1000000 10000000] [--repeat 3] [--quick]
                                             [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
import tomllib
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

SCENARIO_DIR = Path(__file__).resolve().parent / "points_v2"
DAYS = 365
INITIAL, SCORE_MIN, SCORE_MAX = 1000, 0, 1200
P_INFRACTION, P_GOOD = 0.002, 0.001
PTS_INFRACTION, PTS_GOOD = -50, 10
RESTRICTED_BELOW = 850  # grades E (600-849) and F (< 600)
SIGMA = 0.5
WARMUP_N = 10_000
Z_MAX = 5.0  # agreement tolerance, in standard errors
GOAL_RATIO = 20.0


# ------------------------------------------------------------------ the NumPy reference
def numpy_points_v2(n: int, days: int = DAYS, seed: int = 0) -> dict:
    """points-v2 with NumPy: one vectorised step per day. Returns the daily mean score and
    restricted count (after each day's acts), the final score sd and the wall time."""
    t0 = time.perf_counter()
    rng = np.random.Generator(np.random.PCG64(seed))
    m = rng.lognormal(0.0, SIGMA, n).astype(np.float32)
    p_inf = np.minimum(np.float32(P_INFRACTION) * m, np.float32(1.0))
    del m
    p_good = np.float32(P_GOOD)
    score = np.full(n, INITIAL, np.int16)
    u = np.empty(n, np.float32)
    hit_inf = np.empty(n, np.bool_)
    hit_good = np.empty(n, np.bool_)
    restricted = np.empty(days, np.int64)
    score_sum = np.empty(days, np.int64)
    for d in range(days):
        rng.random(out=u, dtype=np.float32)
        np.less(u, p_inf, out=hit_inf)
        rng.random(out=u, dtype=np.float32)
        np.less(u, p_good, out=hit_good)
        np.add(score, PTS_INFRACTION, out=score, where=hit_inf)
        np.add(score, PTS_GOOD, out=score, where=hit_good)
        np.clip(score, SCORE_MIN, SCORE_MAX, out=score)
        np.less(score, RESTRICTED_BELOW, out=hit_inf)
        restricted[d] = np.count_nonzero(hit_inf)
        score_sum[d] = score.sum(dtype=np.int64)
    wall = time.perf_counter() - t0
    return {
        "wall_seconds": wall,
        "mean_score": score_sum / n,
        "restricted": restricted,
        "final_sd": float(score.astype(np.float64).std()),
        "persons": n,
    }


# ------------------------------------------------------------------ children (fresh processes)
def _rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB. On Linux from /proc (VmRSS, VmHWM): unlike
    ``ru_maxrss``, VmHWM is not inherited from the parent across fork and exec."""
    try:
        with open("/proc/self/status") as f:
            kb = {k: int(v.split()[0]) for k, v in (ln.split(":", 1) for ln in f)
                  if k in ("VmRSS", "VmHWM")}
        return kb["VmRSS"] / 1024, kb["VmHWM"] / 1024
    except (OSError, KeyError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = peak / 2**20 if sys.platform == "darwin" else peak / 1024
        return peak, peak


def _scenario(n: int, seed: int | None):
    from credsim.scenario import Scenario

    data = tomllib.loads((SCENARIO_DIR / "scenario.toml").read_text())
    data["population"]["persons"] = n
    data["population"]["community_size"] = min(n, 1_000_000)
    if seed is not None:
        data["seed"] = seed
    return Scenario.from_dict(data, base=SCENARIO_DIR)


def _run_credsim(n: int, seed: int | None) -> tuple:
    from credsim.sim import Sim

    t0 = time.perf_counter()
    res = Sim(_scenario(n, seed)).run(workers=1, progress=False)
    bd = res.by_day  # the daily frame is part of what a user gets
    return res, bd, time.perf_counter() - t0


def _kernel_features(n: int, seed: int | None) -> int:
    """The mechanisms credsim compiled its kernel with for this scenario (``kernel.F_*`` bits):
    0 for points-v2, which uses none, as for any such scenario."""
    from credsim.engine import mechanism_features
    from credsim.sim import Sim

    return mechanism_features(Sim(_scenario(n, seed)).engine_spec(), links=False)


def child_numpy(n: int, seed: int) -> dict:
    before, _ = _rss_mb()
    out = numpy_points_v2(n, DAYS, seed)
    _, peak = _rss_mb()
    out.update(mean_score=out["mean_score"].tolist(), restricted=out["restricted"].tolist(),
               rss_before_mb=before, peak_rss_mb=peak, rss_increase_mb=peak - before,
               threads=1)
    return out


def child_credsim(n: int, seed: int | None) -> dict:
    import numba

    t0 = time.perf_counter()
    _run_credsim(WARMUP_N, seed)  # untimed warm-up: loads the Numba kernels from the disk cache
    warmup = time.perf_counter() - t0
    before, _ = _rss_mb()
    res, bd, end_to_end = _run_credsim(n, seed)
    _, peak = _rss_mb()
    perf = dict(res.meta["performance"])
    bd = bd.sort_values("day")
    hist = res.score_hist.astype(np.float64)
    scores = np.arange(res.meta["score_min"], res.meta["score_min"] + len(hist))
    tot = hist.sum()
    mean = float((hist * scores).sum() / tot)
    sd = float(np.sqrt((hist * (scores - mean) ** 2).sum() / tot))
    return {
        "wall_seconds": perf["wall_seconds"],
        "end_to_end_seconds": end_to_end,
        "warmup_seconds": warmup,
        "performance": perf,
        "days": bd["day"].tolist(),
        "persons_by_day": bd["persons"].tolist(),
        "mean_score": bd["mean_score"].tolist(),
        "restricted": bd["sanction_restricted"].tolist(),
        "final_mean_from_hist": mean,
        "final_sd": sd,
        "persons": int(res.meta["persons"]),
        "rss_before_mb": before,
        "peak_rss_mb": peak,
        "rss_increase_mb": peak - before,
        "threads": numba.get_num_threads(),
        "kernel_features": _kernel_features(n, seed),
    }


def child_compile(cache_dir: str | None) -> dict:
    """Time the first credsim run (kernels compiled, or loaded from cache) and a second one."""
    if cache_dir is not None:
        os.environ["NUMBA_CACHE_DIR"] = cache_dir  # before numba is imported in this process
    t0 = time.perf_counter()
    _run_credsim(WARMUP_N, None)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    _run_credsim(WARMUP_N, None)
    second = time.perf_counter() - t0
    return {"first_run_seconds": first, "second_run_seconds": second,
            "compile_seconds": first - second, "n": WARMUP_N}


class ChildError(RuntimeError):
    """A benchmark subprocess failed; the message is the child's traceback."""


def _guarded(fn, args):
    # return the traceback as text: some exceptions (e.g. with required init arguments) do not
    # survive pickling back to the parent
    try:
        return True, fn(*args)
    except BaseException:
        return False, traceback.format_exc()


def in_fresh_process(fn, *args):
    """Run ``fn(*args)`` in a new spawned process; raise ChildError if it fails or dies."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        try:
            ok, out = pool.submit(_guarded, fn, args).result()
        except BrokenProcessPool as exc:
            raise ChildError(f"the subprocess died: {exc}") from None
    if not ok:
        raise ChildError(out)
    return out


# ------------------------------------------------------------------ agreement
def agreement(npr: dict, csr: dict) -> list[dict]:
    n1, n2 = npr["persons"], csr["persons"]
    m1, m2 = np.asarray(npr["mean_score"]), np.asarray(csr["mean_score"])
    checks = []
    if len(m1) != len(m2) or n1 != n2 or any(p != n2 for p in csr["persons_by_day"]):
        return [{"name": "shape", "pass": False,
                 "detail": f"days {len(m1)} vs {len(m2)}, persons {n1} vs {n2}"}]
    se = math.sqrt(npr["final_sd"] ** 2 / n1 + csr["final_sd"] ** 2 / n2)
    diff = m2[-1] - m1[-1]
    checks.append({
        "name": "day-365 mean score", "numpy": m1[-1], "credsim": m2[-1], "diff": diff, "se": se,
        "z": diff / se, "pass": abs(diff) <= Z_MAX * se,
    })
    r1, r2 = npr["restricted"][-1], csr["restricted"][-1]
    q1, q2 = r1 / n1, r2 / n2
    se_q = math.sqrt(q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2)
    z = (q2 - q1) / se_q if se_q > 0 else (0.0 if q1 == q2 else math.inf)
    checks.append({
        "name": "day-365 restricted", "numpy": r1, "credsim": r2, "diff": r2 - r1,
        "se": se_q * n1, "z": z, "pass": abs(z) <= Z_MAX,
    })
    # daily means: every day's score sd is at most about the final one (scores spread out from
    # 1000), so the day-365 SE bounds each day's SE.
    d = np.abs(m2 - m1)
    worst = int(np.argmax(d))
    checks.append({
        "name": "daily mean-score trajectory", "max_abs_diff": float(d[worst]), "worst_day": worst + 1,
        "rms_diff": float(np.sqrt(np.mean(d**2))), "se": se, "z": float(d[worst] / se),
        "pass": bool(d[worst] <= Z_MAX * se),
    })
    # credsim's own consistency: the daily mean on the last day equals the final histogram's
    checks.append({
        "name": "credsim daily mean = final histogram mean", "diff": m2[-1] - csr["final_mean_from_hist"],
        "pass": abs(m2[-1] - csr["final_mean_from_hist"]) < 1e-9,
    })
    for c in checks:
        for k, v in list(c.items()):
            if isinstance(v, np.generic):
                c[k] = v.item()
    return checks


def describe(c: dict) -> str:
    tag = "PASS" if c["pass"] else "FAIL"
    if c["name"] == "day-365 mean score":
        what = (f"NumPy {c['numpy']:.3f}, credsim {c['credsim']:.3f}, diff {c['diff']:+.3f} "
                f"= {c['z']:+.2f} SE (SE {c['se']:.3f}, limit {Z_MAX:g})")
    elif c["name"] == "day-365 restricted":
        what = (f"NumPy {c['numpy']}, credsim {c['credsim']}, diff {c['diff']:+d} "
                f"= {c['z']:+.2f} SE (SE {c['se']:.1f}, limit {Z_MAX:g})")
    elif c["name"] == "daily mean-score trajectory":
        what = (f"max |diff| {c['max_abs_diff']:.3f} on day {c['worst_day']} = {c['z']:.2f} x "
                f"day-365 SE {c['se']:.3f}; rms {c['rms_diff']:.3f} (limit {Z_MAX:g})")
    elif c["name"] == "shape":
        what = c["detail"]
    else:
        what = f"diff {c['diff']:.2e}"
    return f"  {tag}  {c['name']}: {what}"


# ------------------------------------------------------------------ main
def fmt_row(cells, widths):
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--quick", action="store_true", help="sizes [100000], no cold-compile timing")
    ap.add_argument("--json", type=Path, help="write every figure to this JSON file")
    ap.add_argument("--seed", type=int, default=2024, help="NumPy seed (credsim uses the scenario's)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds per size (NumPy then credsim, each in a fresh process); the ratio "
                         "compares the best round of each (this machine is shared and noisy)")
    ap.add_argument("--no-cold-compile", action="store_true",
                    help="skip timing a cold Numba compile (in a temporary cache directory)")
    args = ap.parse_args(argv)
    sizes = [100_000] if args.quick else args.sizes

    # versions from package metadata: importing credsim and Numba here would only grow this
    # process, whose ru_maxrss (the fallback off Linux) its children inherit
    from importlib.metadata import version

    versions = {k: version(k) for k in ("credsim", "numpy", "numba")}
    report: dict = {
        "benchmark": "points-v2", "days": DAYS, "sizes": sizes, "numpy_seed": args.seed,
        "credsim_version": versions["credsim"], "numpy_version": versions["numpy"],
        "numba_version": versions["numba"], "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "goal_ratio": GOAL_RATIO, "z_max": Z_MAX, "compile": {}, "results": [],
    }
    print(f"points-v2 benchmark: {DAYS} days, sizes {sizes}, {os.cpu_count()} CPUs, "
          f"credsim {versions['credsim']}, NumPy {versions['numpy']}, Numba {versions['numba']}")

    failed = False

    def attempt(what: str, fn, *fargs):
        nonlocal failed
        try:
            return in_fresh_process(fn, *fargs)
        except ChildError as exc:
            print(f"  FAIL  {what} failed in its subprocess:\n{exc}", flush=True)
            report.setdefault("errors", []).append({"what": what, "traceback": str(exc)})
            failed = True
            return None

    if not (args.quick or args.no_cold_compile):
        with tempfile.TemporaryDirectory(prefix="credsim-numba-cache-") as tmp:
            cold = attempt("credsim cold compile", child_compile, tmp)
        if cold:
            report["compile"]["cold"] = cold
            print(f"Numba cold compile (empty cache): first run at N={WARMUP_N:,} "
                  f"{cold['first_run_seconds']:.1f} s, second {cold['second_run_seconds']:.2f} s "
                  f"-> compile ~{cold['compile_seconds']:.1f} s")
    warm = attempt("credsim warm-up", child_compile, None)
    if warm:
        report["compile"]["cached"] = warm
        print(f"Numba with the on-disk cache: first run at N={WARMUP_N:,} "
              f"{warm['first_run_seconds']:.2f} s, second {warm['second_run_seconds']:.2f} s "
              f"(timed runs below follow such a warm-up)")

    repeat = max(1, args.repeat)
    for n in sizes:
        rounds = []
        for k in range(repeat):
            tag = f"N = {n:,}, round {k + 1}/{repeat}"
            print(f"\n{tag}: NumPy reference ...", flush=True)
            npr = attempt(f"NumPy reference at N={n}", child_numpy, n, args.seed)
            print(f"{tag}: credsim ...", flush=True)
            csr = attempt(f"credsim at N={n}", child_credsim, n, None)
            if npr is None or csr is None:
                break
            rounds.append((npr, csr))
            print(f"{tag}: NumPy {npr['wall_seconds']:.2f} s, credsim {csr['wall_seconds']:.3f} s, "
                  f"ratio {npr['wall_seconds'] / csr['wall_seconds']:.1f}x", flush=True)
        if len(rounds) < repeat:
            report["results"].append({"n": n, "numpy": None, "credsim": None})
            continue
        # the best round of each implementation (the same work every round: same seeds)
        npr = min((r[0] for r in rounds), key=lambda x: x["wall_seconds"])
        csr = min((r[1] for r in rounds), key=lambda x: x["wall_seconds"])
        checks = agreement(npr, csr)
        ad = n * DAYS
        npr["agent_days_per_second"] = ad / npr["wall_seconds"]
        csr["agent_days_per_second"] = ad / csr["wall_seconds"]
        ratio = csr["agent_days_per_second"] / npr["agent_days_per_second"]
        per_round = [a["wall_seconds"] / b["wall_seconds"] for a, b in rounds]
        report["results"].append({
            "n": n, "agent_days": ad, "numpy": npr, "credsim": csr,
            "ratio_agent_days_per_second": ratio, "checks": checks,
            "rounds": [{"numpy_wall_seconds": a["wall_seconds"],
                        "credsim_wall_seconds": b["wall_seconds"]} for a, b in rounds],
            "round_ratios": per_round,
        })
        for c in checks:
            print(describe(c))
            failed |= not c["pass"]

    widths = [11, 7, 8, 9, 14, 12, 11, 10, 9, 9, 8]
    head = ["N", "impl", "threads", "wall s", "agent-days/s", "ns/agent-day", "events", "ns/event",
            "peak MB", "+RSS MB", "ratio"]
    print("\n" + fmt_row(head, widths))
    print(fmt_row(["-" * w for w in widths], widths))
    for r in report["results"]:
        if r.get("numpy") is None or r.get("credsim") is None:
            continue
        n = r["n"]
        for name in ("numpy", "credsim"):
            x = r[name]
            ev = x["performance"]["events"] if name == "credsim" else None
            nse = x["performance"]["ns_per_event"] if name == "credsim" else None
            print(fmt_row([
                f"{n:,}", name, x["threads"], f"{x['wall_seconds']:.2f}",
                f"{x['agent_days_per_second']:.3e}", f"{x['wall_seconds'] * 1e9 / r['agent_days']:.2f}",
                f"{ev:,}" if ev is not None else "-", f"{nse:.1f}" if nse is not None else "-",
                f"{x['peak_rss_mb']:.0f}", f"{x['rss_increase_mb']:.0f}",
                f"{r['ratio_agent_days_per_second']:.1f}x" if name == "credsim" else "",
            ], widths))
    for r in report["results"]:
        if "ratio_agent_days_per_second" in r:
            ok = r["ratio_agent_days_per_second"] >= GOAL_RATIO
            rr = sorted(r["round_ratios"])
            print(f"N = {r['n']:,}: credsim / NumPy agent-days/s = {r['ratio_agent_days_per_second']:.1f}x "
                  f"best round vs best round (goal >= {GOAL_RATIO:g}x: {'met' if ok else 'not met'}); "
                  f"per round {', '.join(f'{x:.1f}x' for x in r['round_ratios'])} "
                  f"(median {rr[len(rr) // 2]:.1f}x); credsim end-to-end "
                  f"{r['credsim']['end_to_end_seconds']:.2f} s incl. planning and result frames")
            if r["credsim"].get("kernel_features") == 0:
                print("  (credsim ran the kernel compiled without the mechanisms points-v2 does not "
                      "use, as for any scenario that uses none: docs/architecture.md)")
    report["agreement_passed"] = not failed
    print("\noverall: " + ("PASS" if not failed else "FAIL"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=float))
        print(f"wrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
