"""A run worker of ``credsim serve``: a spawned process that loads the compiled kernels once, then
runs one (arm, seed) at a time as the server sends them over its pipe, reporting progress per
community. The server kills and replaces a worker whose request runs past its wall time."""

from __future__ import annotations

import traceback
from typing import Any

import numpy as np

from credsim.web.requests import RunSpec, scenario_of


def run_one(spec: RunSpec, seed: int, on_progress=None) -> dict[str, Any]:
    """One arm on one seed: its run-table row and national daily series (as arrays).
    ``on_progress(fraction)`` is called as communities finish."""
    from credsim.experiment.metrics import daily_series, run_row
    from credsim.sim import Sim

    with scenario_of(spec) as sc:
        sc = sc.model_copy(update={"seed": seed})
        passes = 2 if sc.output.chilling_baseline and sc.response.chilling > 0 else 1
        calls = [0]

        def counted(done: int, total: int) -> None:
            calls[0] += 1
            if on_progress is not None:
                on_progress(min(1.0, calls[0] / (total * passes)))

        res = Sim(sc).run(progress=False, workers=1, by_province=False, on_community=counted)
        daily = daily_series(res)
        wall = float(res.meta.get("performance", {}).get("wall_seconds", 0.0))
        return {"row": run_row(res.summary),
                "daily": {c: np.asarray(daily[c].to_numpy()) for c in daily.columns},
                "wall_seconds": wall}


def warm(index: int) -> None:
    """Load (or compile) every kind of kernel, each worker starting with a different kind so a
    cold cache is compiled in parallel."""
    from credsim.warmup import KINDS
    from credsim.warmup import warm as warm_kind

    kinds = KINDS[index % len(KINDS):] + KINDS[:index % len(KINDS)]
    for kind in kinds:
        warm_kind(kind)


def main(index: int, conn: Any, threads: int, parent: int) -> None:
    """The worker's loop: ``(key, spec, seed, threads)`` in, ``("progress" | "done" | "error",
    key, ...)`` out."""
    import numba

    from credsim.errors import ConfigError
    from credsim.executors import _init_worker

    _init_worker(threads, parent)
    try:
        warm(index)
    except Exception:  # a broken cache: runs compile what they need
        traceback.print_exc()
    conn.send(("ready", None, None))
    while True:
        msg = conn.recv()
        if msg is None:
            return
        key, spec, seed, threads = msg
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))

        def progress(fraction: float, key=key) -> None:
            conn.send(("progress", key, fraction))

        try:
            conn.send(("done", key, run_one(spec, seed, progress)))
        except ConfigError as exc:
            conn.send(("error", key, str(exc)))
        except Exception as exc:  # reported to the page; the worker lives on
            conn.send(("error", key, f"the run failed ({type(exc).__name__}: {exc})"))
