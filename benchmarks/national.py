"""National scale: the china-national scenario at growing scales, in one process tree.

For each scale (default 0.001, 0.01, 0.1; add 1.0 for the full nation) it runs
``scenarios/china-national.toml`` with the local-process executor in a fresh subprocess and
prints wall time, agent-days per second, ns per event, peak RSS and the scaling exponent of wall
time in the population (1.0 = linear). Scales not run are extrapolated from the largest one that
was, and labelled so.

    .venv/bin/python benchmarks/national.py                  # 0.001, 0.01, 0.1
    .venv/bin/python benchmarks/national.py --scales 0.01 1.0 --json runs/national-bench.json

Goal on a 2-core, 24 GB machine: 1.41 billion persons plus firms, 365 days, in under 10 minutes
with peak RSS under 4 GB.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, resource, sys, time
from credsim.scenario import Scenario
from credsim.sim import Sim
sc = Scenario.from_file({scenario!r}).with_changes({{"population": {{"scale": {scale}}}}})
t = time.perf_counter()
res = Sim(sc).run({out!r}, workers={workers}, progress=False)
wall = time.perf_counter() - t
perf = res.meta["performance"]
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"wall_total": wall, "perf": perf, "rss_parent_mb": own, "rss_worker_max_mb": kids,
                  "persons": res.meta["persons"], "firms": res.meta["firms"]}}))
"""


def run_scale(scale: float, workers: int, scenario: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        code = CHILD.format(scenario=str(scenario), scale=scale, out=str(Path(tmp) / "run"),
                            workers=workers)
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scales", type=float, nargs="+", default=[0.001, 0.01, 0.1])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "china-national.toml")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    # warm the Numba cache so no row pays for compilation
    run_scale(0.00002, 1, args.scenario)
    rows = []
    print(f"{'scale':>8} {'agents':>14} {'wall s':>9} {'agent-days/s':>14} {'ns/event':>9} "
          f"{'events':>15} {'peak RSS MB':>12}")
    for s in args.scales:
        r = run_scale(s, args.workers, args.scenario)
        p = r["perf"]
        rss = max(r["rss_parent_mb"], r["rss_worker_max_mb"])
        row = {"scale": s, "agents": p["agents"], "wall_s": r["wall_total"],
               "run_s": p["wall_seconds"], "agent_days_per_s": p["agent_days_per_second"],
               "ns_per_event": p["ns_per_event"], "events": p["events"],
               "peak_rss_mb": rss, "measured": True}
        rows.append(row)
        print(f"{s:>8} {p['agents']:>14,} {r['wall_total']:>9.1f} {p['agent_days_per_second']:>14,} "
              f"{p['ns_per_event']:>9} {p['events']:>15,} {rss:>12,.0f}")
    if len(rows) >= 2:
        a, b = rows[-2], rows[-1]
        k = math.log(b["wall_s"] / a["wall_s"]) / math.log(b["agents"] / a["agents"])
        print(f"scaling exponent of wall time in agents ({a['scale']} -> {b['scale']}): {k:.2f}")
    else:
        k = 1.0
    last = rows[-1]
    if last["scale"] < 1.0:
        full_agents = last["agents"] / last["scale"]
        est = last["wall_s"] * (full_agents / last["agents"]) ** max(k, 1.0)
        print(f"EXTRAPOLATED (not measured): scale 1.0, {full_agents:,.0f} agents, "
              f"about {est / 60:.1f} min at exponent {max(k, 1.0):.2f}")
        rows.append({"scale": 1.0, "agents": full_agents, "wall_s": est, "measured": False})
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "exponent": k}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
