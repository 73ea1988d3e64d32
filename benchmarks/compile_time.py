"""What a cold start costs: Numba compiling credsim's kernels into an empty cache.

Each kind of kernel (``credsim.warmup.KINDS``: the kernel with every mechanism, the lean one,
and the link and peer-rating kernels) is compiled in a fresh process with an empty cache of its
own, and the time each compiled function took is printed (Numba's compile events; a function's
time includes the functions it compiled on the way), then the
whole of ``credsim compile`` (every kind, 2 processes at once) into one more empty cache. Each
figure is wall time and, in brackets, the processor time the processes used (user + system): on a
shared machine the second moves much less with the load than the first.

    .venv/bin/python benchmarks/compile_time.py [--kinds full lean links] [--no-together]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, sys, time
from collections import defaultdict
from numba.core import event
took = defaultdict(float)
class Timer(event.Listener):
    def __init__(self):
        self.t = {}
    def on_start(self, ev):
        self.t[id(ev.data["dispatcher"]), str(ev.data["args"])] = time.perf_counter()
    def on_end(self, ev):
        start = self.t.pop((id(ev.data["dispatcher"]), str(ev.data["args"])), time.perf_counter())
        took[ev.data["dispatcher"].py_func.__qualname__] += time.perf_counter() - start
timer = Timer()
event.register("numba:compile", timer)
from credsim.warmup import warm
total = warm(sys.argv[1])
print(json.dumps({"total": total, "functions": dict(took)}))
"""


def _cpu() -> float:
    """Processor seconds used so far by this process's finished children (and theirs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _fresh_env(tmp: str, name: str) -> dict:
    return dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, name))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--kinds", nargs="+", default=["full", "lean", "links"])
    ap.add_argument("--no-together", action="store_true", help="skip the credsim compile run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds:
            cpu0 = _cpu()
            p = subprocess.run([sys.executable, "-c", CHILD, kind], capture_output=True, text=True,
                               env=_fresh_env(tmp, kind), check=True)
            res = json.loads(p.stdout.strip().splitlines()[-1])
            top = sorted(res["functions"].items(), key=lambda kv: -kv[1])[:6]
            print(f"{kind}: {res['total']:.1f} s in all ({_cpu() - cpu0:.1f} s cpu); "
                  + ", ".join(f"{name} {sec:.1f} s" for name, sec in top))
        if not args.no_together:
            t0, cpu0 = time.perf_counter(), _cpu()
            credsim = os.path.join(os.path.dirname(sys.executable), "credsim")
            subprocess.run([credsim, "compile", "--jobs", "2"], check=True,
                           env=_fresh_env(tmp, "together"))
            print(f"credsim compile (every kind, 2 processes): {time.perf_counter() - t0:.1f} s"
                  f" ({_cpu() - cpu0:.1f} s cpu)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
