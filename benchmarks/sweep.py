"""Sweeps: runs per minute, overhead per run, and the memory of a long sweep.

1. Throughput: replicates of a demo-style scenario (100,000 persons, 365 days, every mechanism)
   on the local process executor: runs per minute, and overhead per run as a share of its time
   (everything but the engine: validating the point, reducing, the run table's row, writing).
   The parent's time writing the runs (rows into the journal, daily series into chunks) is
   measured apart, per run.
2. Reuse of synthesized populations: a comparison of 4 arms that differ in the appeal
   probability only (the same population at every arm of a seed), in this process, with the
   cache of populations off and on, alternately: engine seconds per run, and whether the tables
   are the same.
3. Memory: a long sweep of small runs (``--runs``, default 1,000): resident memory of the parent
   and of the workers, sampled as runs finish; flat means it does not grow with the runs.

    .venv/bin/python benchmarks/sweep.py [--seeds 24] [--runs 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "scenarios" / "demo.toml")
SMALL = {"population.persons": 100_000, "population.community_size": 100_000,
         "output.chilling_baseline": False}


def throughput(seeds: int, workers: int) -> dict:
    from credsim.experiment import Experiment
    from credsim.experiment.store import RunStore

    exp = Experiment.replicates(DEMO, seeds, SMALL, name="bench-throughput")
    writing = [0.0]
    write, flush = RunStore.write, RunStore.flush

    def timed(fn):
        def call(self, *a):
            t = time.perf_counter()
            try:
                return fn(self, *a)
            finally:
                writing[0] += time.perf_counter() - t
        return call

    RunStore.write, RunStore.flush = timed(write), timed(flush)  # flush inside write: counted twice
    try:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            exp.run(d, workers=workers, progress=False)
            wall = time.perf_counter() - t0
            rows = [json.loads(x) for x in (Path(d) / "timing.jsonl").read_text().splitlines()]
    finally:
        RunStore.write, RunStore.flush = write, flush
    sim = sum(r["sim_seconds"] for r in rows)
    run = sum(r["seconds"] for r in rows)
    steady = rows[workers:]  # each worker's first run loads the kernels
    return {
        "runs": len(rows), "workers": workers, "wall_seconds": round(wall, 1),
        "runs_per_minute": round(len(rows) / wall * 60, 1),
        "seconds_per_run_in_worker": round(run / len(rows), 3),
        "engine_seconds_per_run": round(sim / len(rows), 3),
        "overhead_in_worker": round(1 - sim / run, 3),
        "overhead_in_worker_steady": round(1 - sum(r["sim_seconds"] for r in steady)
                                           / sum(r["seconds"] for r in steady), 3),
        "overhead_of_wall": round(1 - sim / (wall * workers), 3),
        "parent_writing_seconds_per_run_at_most": round(writing[0] / len(rows), 4),
        "overhead_with_writing": round(1 - sim / (run + writing[0]), 3),
    }


def reuse(seeds: int, rounds: int = 2) -> dict:
    import hashlib

    import pandas as pd

    from credsim import engine
    from credsim.experiment import Experiment, runner

    arms = [(f"appeal {p}", DEMO, {**SMALL, "appeals.probability": p}) for p in (0.1, 0.3, 0.5, 0.7)]
    exp = Experiment.compare(arms, seeds, name="bench-reuse")
    on = runner.POPULATION_CACHE_BYTES
    got: dict[str, list[float]] = {"fresh": [], "reused": []}
    agents: dict[str, list[float]] = {"fresh": [], "reused": []}  # seconds drawing/copying agents
    spent = [0.0]
    draw = engine._agents

    def timed_agents(*a):
        t = time.perf_counter()
        try:
            return draw(*a)
        finally:
            spent[0] += time.perf_counter() - t

    engine._agents = timed_agents
    digests = set()
    try:
        for _ in range(rounds):
            for kind, size in (("fresh", 0), ("reused", on)):
                runner.POPULATION_CACHE_BYTES = size
                spent[0] = 0.0
                with tempfile.TemporaryDirectory() as d:
                    res = exp.run(d, workers=1, progress=False)
                    agents[kind].append(spent[0] / exp.n_runs)
                    rows = [json.loads(x) for x in (Path(d) / "timing.jsonl").read_text().splitlines()]
                    runs = res.runs
                    digests.add(hashlib.sha256(pd.util.hash_pandas_object(runs, index=False).values
                                               .tobytes()).hexdigest())
                got[kind].append(sum(r["sim_seconds"] for r in rows[1:]) / (len(rows) - 1))
    finally:
        runner.POPULATION_CACHE_BYTES = on
        engine._agents = draw
    fresh, reused = min(got["fresh"]), min(got["reused"])
    return {"runs": exp.n_runs, "engine_seconds_per_run_fresh": round(fresh, 4),
            "engine_seconds_per_run_reused": round(reused, 4), "reused_over_fresh": round(reused / fresh, 3),
            "rounds": {k: [round(x, 4) for x in v] for k, v in got.items()},
            "agents_seconds_per_run_fresh": round(min(agents["fresh"]), 4),
            "agents_seconds_per_run_reused": round(min(agents["reused"]), 4),
            "same_tables": len(digests) == 1}


def memory(runs: int, workers: int) -> dict:
    from credsim.experiment import Experiment

    seeds = runs // 4
    exp = Experiment.compare(
        [(f"arm{i}", DEMO, {"population.persons": 10_000, "population.community_size": 10_000,
                             "output.chilling_baseline": False, "appeals.probability": 0.2 * i})
         for i in range(4)], seeds, name="bench-memory")
    me = psutil.Process()
    samples: list[tuple[int, float, float]] = []
    stop = threading.Event()

    def sample(root: Path):
        while not stop.is_set():
            j = root / "journal.jsonl"
            done = j.read_bytes().count(b"\n") if j.exists() else 0
            kids = me.children(recursive=True)
            rss_kids = sum(k.memory_info().rss for k in kids if k.is_running()) / 2**20
            samples.append((done, me.memory_info().rss / 2**20, rss_kids))
            stop.wait(0.5)

    with tempfile.TemporaryDirectory() as d:
        th = threading.Thread(target=sample, args=(Path(d),), daemon=True)
        th.start()
        t0 = time.perf_counter()
        exp.run(d, workers=workers, progress=False)
        wall = time.perf_counter() - t0
        stop.set()
        th.join()

    def at(frac: float) -> dict:
        want = frac * exp.n_runs
        s = min(samples, key=lambda x: abs(x[0] - want))
        return {"runs_done": s[0], "parent_mb": round(s[1]), "workers_mb": round(s[2])}

    return {"runs": exp.n_runs, "wall_seconds": round(wall, 1),
            "at_10pct": at(0.1), "at_50pct": at(0.5), "at_90pct": at(0.9),
            "parent_peak_mb": round(max(s[1] for s in samples))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=24)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-reuse", action="store_true")
    a = ap.parse_args()
    print(json.dumps({"throughput": throughput(a.seeds, a.workers)}, indent=2), flush=True)
    if not a.skip_reuse:
        print(json.dumps({"population_reuse": reuse(max(2, a.seeds // 8))}, indent=2), flush=True)
    if not a.skip_memory:
        print(json.dumps({"memory": memory(a.runs, a.workers)}, indent=2))


if __name__ == "__main__":
    main()
