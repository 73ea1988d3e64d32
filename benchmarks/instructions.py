"""Instructions per agent and per event of credsim's kernels, counted by valgrind (callgrind).

Wall time on a shared machine moves by tens of percent between runs; instruction counts do not:
the same code on the same input executes the same instructions, whatever else the machine does.
This counts the instructions of each compiled kernel (``synthesize``, ``run_epoch``, ``tally``)
on points-v2 (``benchmarks/points_v2/``) twice: as specified, and with its act rates divided by
1000 (agents with almost no events, so the kernel's cost of starting an agent shows alone).
Per event = (instructions - instructions with almost no events) / events.

Needs ``valgrind`` and its headers (``valgrind/callgrind.h``) and a C compiler: counting starts
and stops around each kernel call through callgrind's client requests, so Python's and Numba's
start-up (slow under valgrind) is not instrumented. Kernels load from the on-disk cache: this
pins Numba's target CPU to the host's so that valgrind's own CPU description does not trigger a
recompilation. One thread (``NUMBA_NUM_THREADS=1``), so the count is the total work.

    .venv/bin/python benchmarks/instructions.py [--agents 100000] [--full] [--no-avx512] [--src DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
KERNELS = ("synthesize", "run_epoch", "tally")
SHIM = """#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void cg_stop(const char *name) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS_AT(name); }
"""
CHILD = """
import ctypes, tomllib
from pathlib import Path
from credsim import engine
from credsim.scenario import Scenario
from credsim.sim import Sim
lib = ctypes.CDLL({shim!r})
on = [False]
def counted(kname, fn):
    def call(*a, **k):
        if not on[0]:
            return fn(*a, **k)
        # the dump's name is passed to cg_stop, alive for the call: a name stored in the
        # library from a temporary bytes object was freed before the dump, and the dump of a
        # kernel called after an allocation (run_epoch) was then named with garbage, never counted
        name = kname.encode()
        lib.cg_start()
        try:
            return fn(*a, **k)
        finally:
            lib.cg_stop(ctypes.c_char_p(name))
    return call
for k in {kernels!r}:
    name = k if hasattr(engine, k) else "_" + k  # (an older checkout: _tally)
    setattr(engine, name, counted(k, getattr(engine, name)))
if {full!r}:  # the kernel with every mechanism compiled in, whatever the scenario uses
    try:
        from credsim.layout import FEAT_ALL
    except ImportError:  # an older checkout
        from credsim.kernel import F_ALL as FEAT_ALL
    engine.mechanism_features = lambda spec, links: FEAT_ALL
if "run_epoch" in {kernels!r}:  # the kernel compiled for the scenario's mechanisms
    kernel_for = engine.kernel_for
    engine.kernel_for = lambda features: counted("run_epoch", kernel_for(features))
    # the engine calls the kernel with every mechanism by its own name, not through kernel_for
    engine.run_epoch = counted("run_epoch", engine.run_epoch)
def scenario(n):
    base = Path({scenario_dir!r})
    d = tomllib.loads((base / "scenario.toml").read_text())
    d["population"]["persons"] = n
    d["population"]["community_size"] = n
    return Scenario.from_dict(d, base=base)
Sim(scenario(1000)).run(workers=1, progress=False)  # load the kernels (not counted)
on[0] = True
res = Sim(scenario({n})).run(workers=1, progress=False)
print("EVENTS", res.meta["performance"]["events"])
"""


def _scenario_dir(out: Path, scale: float) -> Path:
    """A copy of points-v2 with every act's rate multiplied by ``scale``."""
    d = out / f"points-v2-{scale}"
    shutil.copytree(HERE / "points_v2", d)
    acts = d / "acts.toml"
    data = tomllib.loads(acts.read_text())
    text = acts.read_text()
    for act in data["acts"]:
        r = act["rate_per_year"]
        text = text.replace(f"rate_per_year = {r}\n", f"rate_per_year = {r * scale!r}\n", 1)
    acts.write_text(text)
    return d


def _count(py: str, shim: Path, n: int, scale: float, out: Path, env: dict,
           full: bool) -> tuple[dict, int]:
    """Run one points-v2 simulation under callgrind; (instructions per kernel, events)."""
    code = CHILD.format(shim=str(shim), kernels=KERNELS, n=n, full=full,
                        scenario_dir=str(_scenario_dir(out, scale)))
    prefix = out / f"cg-{scale}"
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
           f"--callgrind-out-file={prefix}.%p", py, "-c", code]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    m = re.search(r"^EVENTS (\d+)$", p.stdout, re.M)
    if p.returncode or not m:
        raise SystemExit(f"the counted run failed:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    counts = {k: 0 for k in KERNELS}
    for f in out.glob(f"cg-{scale}.*"):
        text = f.read_text(errors="replace")
        trig = re.search(r"^desc: Trigger: Client Request: (\w+)", text, re.M)
        tot = re.search(r"^totals: (\d+)", text, re.M)
        if trig and tot and trig.group(1) in counts:
            counts[trig.group(1)] += int(tot.group(1))
    return counts, int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--agents", type=int, default=100_000)
    ap.add_argument("--full", action="store_true",
                    help="count the kernel with every mechanism (points-v2 uses none of them)")
    ap.add_argument("--src", default=None,
                    help="count another checkout's package (its src/ directory), for A/B")
    ap.add_argument("--no-avx512", action="store_true",
                    help="compile without AVX-512 (valgrind 3.19 cannot run it; a target of its own)")
    args = ap.parse_args()
    for tool in ("valgrind", "cc"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: this benchmark needs valgrind and a C compiler")
    import llvmlite.binding as ll

    features = ll.get_host_cpu_features()
    if args.no_avx512:
        for f in list(features):
            if f.startswith("avx512") or f in ("amx-tile", "amx-int8", "amx-bf16"):
                features[f] = False
    env = dict(os.environ, NUMBA_NUM_THREADS="1", NUMBA_CPU_NAME=ll.get_host_cpu_name(),
               NUMBA_CPU_FEATURES=features.flatten())
    if args.src:
        env["PYTHONPATH"] = os.path.abspath(args.src)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "shim.c").write_text(SHIM)
        shim = out / "libcgshim.so"
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(shim), str(out / "shim.c")],
                       check=True)
        # load the kernels natively first (a compile under valgrind would take hours)
        p = subprocess.run([sys.executable, "-c", CHILD.format(
            shim=str(shim), kernels=(), n=1000, full=args.full,
            scenario_dir=str(HERE / "points_v2"))],
            env=env, capture_output=True, text=True)
        if p.returncode:
            raise SystemExit(f"loading the kernels failed:\n{p.stderr[-4000:]}")
        full, events = _count(sys.executable, shim, args.agents, 1.0, out, env, args.full)
        idle, idle_events = _count(sys.executable, shim, args.agents, 0.001, out, env, args.full)
    n = args.agents
    kind = "every mechanism compiled in" if args.full else "the kernel points-v2 needs"
    print(f"points-v2, {n:,} agents, 365 days, 1 thread, {kind}; instructions counted by callgrind")
    print(f"{'kernel':<12}{'as specified':>16}{'rates / 1000':>16}{'per agent':>12}{'per event':>12}")
    for k in KERNELS:
        per_event = (full[k] - idle[k]) / max(events - idle_events, 1)
        print(f"{k:<12}{full[k]:>16,}{idle[k]:>16,}{idle[k] / n:>12.0f}{per_event:>12.0f}")
    tot, tot_idle = sum(full.values()), sum(idle.values())
    print(f"{'all':<12}{tot:>16,}{tot_idle:>16,}{tot_idle / n:>12.0f}"
          f"{(tot - tot_idle) / max(events - idle_events, 1):>12.0f}")
    print(f"events: {events:,} as specified, {idle_events:,} with rates / 1000")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
