"""The cost of the mechanisms that act on people: the demo scenario with everything on against
everything off, in the same run (same seed, same population, same executor).

    .venv/bin/python benchmarks/mechanisms.py                 # the demo as shipped (10M persons)
    .venv/bin/python benchmarks/mechanisms.py --persons 2000000

Prints wall time, agent-days per second, events and ns per event for each, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from credsim.mechanisms import mechanisms_off
from credsim.scenario import Scenario
from credsim.sim import Sim

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "demo.toml")
    ap.add_argument("--persons", type=int, default=None)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    base = Scenario.from_file(args.scenario).with_changes({"output": {"chilling_baseline": False,
                                                                      "report": False}})
    if args.persons:
        base = base.with_changes({"population": {"persons": args.persons}})
    variants = {"everything off": base.with_changes(mechanisms_off()), "everything on": base}
    # warm the kernels' cache so neither row pays for compilation
    Sim(base.with_changes({"population": {"persons": 20_000}})).run(workers=1, progress=False)
    rows = {}
    print(f"{'variant':<16} {'wall s':>8} {'agent-days/s':>14} {'events':>13} {'ns/event':>9}")
    for name, sc in variants.items():
        p = Sim(sc).run(workers=args.workers, progress=False).meta["performance"]
        rows[name] = p
        print(f"{name:<16} {p['wall_seconds']:>8.1f} {p['agent_days_per_second']:>14,} "
              f"{p['events']:>13,} {p['ns_per_event']:>9}")
    ratio = rows["everything on"]["wall_seconds"] / rows["everything off"]["wall_seconds"]
    print(f"everything on / everything off wall time: {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
