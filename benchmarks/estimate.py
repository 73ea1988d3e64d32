"""The resource estimate against measured runs: ``python benchmarks/estimate.py``.

Runs whole ``credsim run`` commands (warm Numba cache), samples the resident memory of the
command's process tree (parent and workers, summed) every 50 ms, and prints each run's estimate
(``credsim.estimate``) beside the measured peak and wall time, with their ratios. The constants
in ``credsim/estimate.py`` come from these runs; docs/reference.md ("Resource estimate") has the
table.
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
RUNS = [
    ("rongcheng", ["scenarios/rongcheng.toml"]),
    ("court-blacklist", ["scenarios/court-blacklist.toml"]),
    ("demo 1M", ["scenarios/demo.toml", "--set", "population.persons=1000000"]),
]


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


def measure(args: list[str]) -> tuple[float, float, int]:
    """(peak MB of the process tree, wall seconds, events) of ``credsim run ARGS -q -o TMP``."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "credsim.cli", "run", *args, "-q", "-o", str(Path(tmp) / "r")]
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
        peak = 0.0
        while p.poll() is None:
            peak = max(peak, tree_rss_mb(p.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        if p.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode})")
        meta = json.loads((Path(tmp) / "r" / "meta.json").read_text(encoding="utf-8"))
    return peak, wall, int(meta["performance"]["events"])


def predicted(args: list[str]):
    from credsim.cli import _changes
    from credsim.estimate import estimate
    from credsim.scenario import Scenario
    from credsim.sim import Sim

    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    sc = Scenario.from_file(ROOT / args[0])
    ch = _changes(tuple(sets))
    if ch:
        sc = sc.with_overrides(ch, source="--set")
    return estimate(Sim(sc))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="run labels to measure (default: all)")
    a = ap.parse_args()
    print("| run | agents | events est. / run | peak MB est. / measured | time s est. / measured |")
    print("|---|---|---|---|---|")
    for label, args in RUNS:
        if a.only and label not in a.only:
            continue
        est = predicted(args)
        peak, wall, events = measure(args)
        print(f"| {label} | {est.agents:,} | {est.events:,} / {events:,} | {est.peak_mb:,.0f} / {peak:,.0f} "
              f"(x{est.peak_mb / peak:.2f}) | {est.seconds:,.1f} / {wall:,.1f} "
              f"(x{est.seconds / wall:.2f}) |", flush=True)


if __name__ == "__main__":
    main()
