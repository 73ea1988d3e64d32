"""The resource estimate against measured runs, fitted on some and checked on others.

    python benchmarks/estimate.py --fit    # measure the FIT runs, print the fitted constants
    python benchmarks/estimate.py          # measure the HELD_OUT runs against the estimate

Runs whole ``credsim run`` commands (warm Numba cache), samples the resident memory of the
command's process tree (parent and workers, summed) every 50 ms, and prints each run's estimate
(``credsim.estimate``) beside the measured peak and wall time, with their ratios. ``--fit``
solves for the fixed costs (the parent's and each worker's base memory and the tables' factor;
the processor time of an agent's stop at an epoch boundary, of a community's boundary, of an
agent's peer ratings and of a table value) by non-negative least squares on the FIT runs' terms
(``estimate.terms``) and their processor time, which unlike wall time does not move with the
machine's load; start-up's processor time (START_CPU, WORKER_CPU) and the costs per agent-day
and per event stay as measured before (README, Performance). ``--measured FILE`` keeps the
measured figures by run and reuses them (refit or recheck without running again). The constants
in ``credsim/estimate.py`` come from ``--fit``; the check runs scenarios and sizes that the fit
never saw, and exits 1 when an estimate is off by more than a factor of 2. docs/reference.md
("Resource estimate") has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIT = [  # the constants are fitted on these
    ("ficp", ["scenarios/ficp.toml"]),
    ("sesame", ["scenarios/sesame.toml"]),
    ("nosedive", ["scenarios/nosedive.toml"]),
    ("demo 300k", ["scenarios/demo.toml", "--set", "population.persons=300000"]),
    ("demo 3M", ["scenarios/demo.toml", "--set", "population.persons=3000000"]),
    ("sesame, 1 worker", ["scenarios/sesame.toml", "--workers", "1"]),
    # the epochs' costs: nosedive's peers rate each other at every 7-day boundary (here also
    # every 2 days); court-blacklist's links stop every agent each 7 days (here also each 14),
    # at a third of the held-out run's size
    ("nosedive 300k, 2-day epochs", ["scenarios/nosedive.toml", "--set", "population.persons=300000",
                                     "--set", "epoch_days=2"]),
    ("court-blacklist 0.01%, 14-day epochs", ["scenarios/court-blacklist.toml", "--set",
                                              "population.scale=0.0001", "--set", "epoch_days=14"]),
    ("court-blacklist 0.01%", ["scenarios/court-blacklist.toml", "--set", "population.scale=0.0001"]),
]
HELD_OUT = [  # and checked on these: other scenarios, other sizes
    ("rongcheng", ["scenarios/rongcheng.toml"]),
    # the shipped scenario (4,475 days, 640 weekly epochs) at 0.03% of the nation: under 2 min
    ("court-blacklist 0.03%", ["scenarios/court-blacklist.toml", "--set", "population.scale=0.0003"]),
    ("permis-a-points", ["scenarios/permis-a-points.toml"]),
    ("demo 1M", ["scenarios/demo.toml", "--set", "population.persons=1000000"]),
]
# the processor time of start-up and of a worker's start stay as an earlier session fitted them
# on the first six FIT runs: with the cost per table value free as well they trade off against
# it (a fit of all at once gave 0.2 s of start-up, which no Python process with NumPy and Numba
# has, and rongcheng, one province, at x0.34)
START_CPU, WORKER_CPU = 3.8, 1.4
FACTOR = 2.0  # the estimate's promise: within a factor of 2 of the measured peak and time


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, in MB (Linux /proc)."""
    kids: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", encoding="ascii", errors="replace") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            kids.setdefault(int(parts[1]), []).append(int(d))
            rss[int(d)] = int(parts[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(kids.get(p, []))
    return total / 2**20


def measure(args: list[str]) -> tuple[float, float, int, float, float]:
    """(peak MB of the process tree, wall seconds, events, processor seconds of the tree, the
    machine's 1-minute load average at the end) of ``credsim run ARGS -q -o TMP``."""
    import resource

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "credsim.cli", "run", *args, "-q", "-o", str(Path(tmp) / "r")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
        peak = 0.0
        while p.poll() is None:
            peak = max(peak, tree_rss_mb(p.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode})")
        meta = json.loads((Path(tmp) / "r" / "meta.json").read_text(encoding="utf-8"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return peak, wall, int(meta["performance"]["events"]), cpu, os.getloadavg()[0]


def _sim(args: list[str]):
    from credsim.cli import _changes
    from credsim.scenario import Scenario
    from credsim.sim import Sim

    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    sc = Scenario.from_file(ROOT / args[0])  # --workers goes to the estimate, not the scenario
    ch = _changes(tuple(sets))
    if ch:
        sc = sc.with_overrides(ch, source="--set")
    return Sim(sc)


def fit(rows: list[tuple]) -> dict[str, float]:
    """The fixed costs that best explain the measured (terms, peak MB, processor seconds) rows,
    by non-negative least squares: the processor time of start-up and of each worker's start,
    the parent's and each worker's base memory and the tables' factor. The costs per agent-day
    and per event stay as measured on the whole nation (README, Performance): runs of a few
    seconds cannot tell them apart (ficp draws 4.6 times sesame's events in the same processor
    time), and they are what a big run's estimate rests on."""
    import numpy as np
    from scipy.optimize import nnls

    from credsim import estimate as E

    # processor time = start + worker starts + runs * (agent-days, events, communities, cells,
    # agents' epoch stops, communities' epoch boundaries)
    A, y = [], []
    for t, _peak, cpu in rows:
        known = (t.runs * ((t.agent_days * E.NS_PER_AGENT_DAY + t.events * E.NS_PER_EVENT) * 1e-9
                           + t.communities * E.COMMUNITY_SECONDS)
                 + START_CPU + WORKER_CPU * t.workers * (t.workers > 1))
        A.append([t.runs * t.epoch_passes * 1e-9, t.runs * t.community_epochs,
                  t.runs * t.peer_passes * 1e-9, t.runs * t.cells * 1e-9])
        y.append(cpu - known)
    (ns_epoch, epoch_s, ns_peer, ns_value), _ = nnls(np.array(A), np.array(y))
    start, worker = START_CPU, WORKER_CPU
    # memory: peak = parent base + reduction + tables factor * tables
    #                + workers * (worker base + community)
    M, z = [], []
    for t, peak, _cpu in rows:
        M.append([1.0, t.workers * (t.workers > 1), t.tables_mb])
        z.append(peak - t.workers * t.community_mb - t.reduction_mb)
    (base, worker_mb, tables), _ = nnls(np.array(M), np.array(z))
    return {"CPU_START_SECONDS": start, "WORKER_START_CPU_SECONDS": worker,
            "NS_PER_AGENT_EPOCH": ns_epoch, "EPOCH_SECONDS": epoch_s, "NS_PER_PEER_AGENT": ns_peer,
            "NS_PER_TABLE_VALUE": ns_value,
            "PARENT_BASE_MB": base, "WORKER_BASE_MB": worker_mb, "TABLES_FACTOR": tables}


def _workers(args: list[str]) -> int | None:
    return int(args[args.index("--workers") + 1]) if "--workers" in args else None


def main() -> int:
    from credsim.estimate import cpu_seconds, estimate, terms

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="measure the FIT runs and fit the constants")
    ap.add_argument("--only", nargs="*", help="run labels to measure (default: all)")
    ap.add_argument("--measured", type=Path, help="a JSON file of measured runs: the runs it holds "
                    "(by label and arguments) are not run again, the others are added to it")
    a = ap.parse_args()
    kept = (json.loads(a.measured.read_text(encoding="utf-8"))
            if a.measured and a.measured.exists() else {})
    runs = FIT if a.fit else HELD_OUT
    print(f"{'fitted on' if a.fit else 'held out'}:")
    print("| run | agents | events est. / run | peak MB est. / measured | processor s est. / measured "
          "| wall s est. / measured | load |")
    print("|---|---|---|---|---|---|---|")
    rows, off = [], []
    cores = os.cpu_count() or 1
    for label, args in runs:
        if a.only and label not in a.only:
            continue
        sim = _sim(args)
        est, t = estimate(sim, _workers(args)), terms(sim, _workers(args))
        key = f"{label}: {' '.join(args)}"
        if key not in kept:
            kept[key] = measure(args)
            if a.measured:
                a.measured.write_text(json.dumps(kept, indent=1), encoding="utf-8")
        peak, wall, events, cpu, load = kept[key]
        rows.append((t, peak, cpu))
        rp, rc, rw = est.peak_mb / peak, cpu_seconds(t) / cpu, est.seconds / wall
        # wall time is checked only on a quiet machine: under load it measures the other jobs
        quiet = load <= cores
        if not all(1 / FACTOR <= r <= FACTOR for r in (rp, rc, *((rw,) if quiet else ()))):
            off.append(label)
        print(f"| {label} | {est.agents:,} | {est.events:,} / {events:,} | {est.peak_mb:,.0f} / {peak:,.0f} "
              f"(x{rp:.2f}) | {cpu_seconds(t):,.1f} / {cpu:,.1f} (x{rc:.2f}) | {est.seconds:,.1f} / "
              f"{wall:,.1f} (x{rw:.2f}{'' if quiet else ', not checked'}) | {load:.1f} |", flush=True)
    if a.fit:
        print("\nfitted constants (credsim/estimate.py):")
        for k, v in fit(rows).items():
            print(f"{k} = {v:.3g}")
        return 0
    if off:
        print(f"\noff by more than x{FACTOR:g}: {', '.join(off)}")
    return 1 if off else 0


if __name__ == "__main__":
    sys.exit(main())
