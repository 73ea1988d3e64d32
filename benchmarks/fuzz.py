"""Fuzz every kind of file credsim reads: mutants of the shipped files through ``validate``, then
a tiny run (3,000 persons, 30 days) of every mutant that validates; a regime, catalogue or
marginals file accepted alone runs through a scenario that uses it. Fails on any traceback,
hang, or non-finite or inconsistent output (``credsim.sanity``).

    .venv/bin/python benchmarks/fuzz.py                  # 2,000 cases
    .venv/bin/python benchmarks/fuzz.py --cases 10000    # the full campaign

The tiny runs share one child process (the kernels are loaded once; a hang kills it and a new
one starts). Prints one row per kind: cases, clean errors naming the file, clean errors not
naming it, accepted, tracebacks, slow (> 10 s); then the tiny runs: ok, refused with a clean
error at the tiny size (a province too small for 3,000 persons...), bad. Exit 1 on any
traceback, hang or bad run.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
import tomllib
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from credsim.data import data_path
from credsim.errors import ConfigError
from credsim.tomlw import dumps
from credsim.validation import check_file

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {
    "scenario": sorted((ROOT / "scenarios").glob("*.toml")),
    "regime": sorted(data_path("regimes").glob("*.toml")),
    "catalogue": [data_path("catalogue", "default.toml")],
    "marginals": [data_path("marginals", "china-2020.toml")],
}
EXTREMES = [0, -1, 1, 2**31, -(2**31), 2**63 - 1, 10**18, 1e300, -1e300, 1e-12, math.inf,
            -math.inf, math.nan, 0.5, 366, 100_001]
WEIRD = ["", "x" * 300, "é☃𝄞", "../../x", "/abs/path", "nonexistent", "a.toml", "\u202e", "0"]
TINY = {"days": 30, "burn_in_days": 0,
        "population": {"persons": 3000, "community_size": 1000, "scale": None}}


def _paths(x: Any, here: tuple = ()) -> list[tuple]:
    out = [here] if here else []
    if isinstance(x, dict):
        for k, v in x.items():
            out += _paths(v, here + (k,))
    elif isinstance(x, list):
        for k, v in enumerate(x):
            out += _paths(v, here + (k,))
    return out


def _set(data: Any, path: tuple, value: Any, delete: bool = False) -> None:
    node = data
    for p in path[:-1]:
        node = node[p]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


def mutate(rng: random.Random, data: dict) -> dict:
    """One to three random edits of ``data`` (in place)."""
    for _ in range(rng.randint(1, 3)):
        paths = _paths(data)
        if not paths:
            break
        path = rng.choice(paths)
        op = rng.random()
        if op < 0.15:
            _set(data, path, None, delete=True)
        elif op < 0.55:
            _set(data, path, rng.choice(EXTREMES))
        elif op < 0.7:
            _set(data, path, rng.choice(WEIRD))
        elif op < 0.8:
            _set(data, path, rng.choice([{}, [], True, [1, "a"], {"unknown_key": 1}]))
        else:
            node = data
            for p in path[:-1]:
                node = node[p]
            if isinstance(node, dict):
                node[rng.choice(["unknown", "sourse", "x" * 200])] = rng.choice(EXTREMES + WEIRD)
    return data


def make_case(rng: random.Random, kind: str, folder: Path) -> Path:
    """Write one mutant (and, for a referenced kind, a scenario using it) into ``folder``."""
    src = rng.choice(SOURCES[kind])
    r = rng.random()
    if r < 0.05:  # invalid TOML or bytes
        raw = src.read_bytes()
        cut = rng.randrange(len(raw))
        blob = rng.choice([raw[:cut], raw[:cut] + b"= =", b"\xff\xfe" + raw[:50],
                           bytes(rng.randrange(256) for _ in range(64))])
        (folder / "f.toml").write_bytes(blob)
        return folder / "f.toml"
    data = mutate(rng, tomllib.loads(src.read_text(encoding="utf-8")))
    target = folder / "f.toml"
    try:
        target.write_text(dumps(data), encoding="utf-8")
    except (TypeError, UnicodeEncodeError):
        target.write_text("= broken", encoding="utf-8")
    if kind != "scenario" and rng.random() < 0.5:  # through a scenario
        return wrap(kind, target)
    return target


def wrap(kind: str, target: Path) -> Path:
    """A scenario next to ``target`` (a regime, catalogue or marginals file) that uses it."""
    key = {"regime": ("regime", "file"), "catalogue": ("behaviour", "catalogue"),
           "marginals": ("population", "marginals")}[kind]
    sc = {"name": "fuzz", "days": 30, "population": {"persons": 3000, "community_size": 1000},
          "regime": {"use": "rongcheng"}}
    if kind == "regime":
        sc["regime"] = {"file": target.name}
    else:
        sc.setdefault(key[0], {})[key[1]] = target.name
    out = target.parent / "s.toml"
    out.write_text(dumps(sc), encoding="utf-8")
    return out


def classify(path: Path) -> tuple[str, str, float]:
    t0 = time.perf_counter()
    try:
        kind, _ = check_file(path)
        out = "accepted", kind
    except ConfigError as exc:
        out = ("clean error, file named" if str(path.parent) in str(exc) else
               "clean error, file not named"), str(exc)[:300]
    except Exception:  # noqa: BLE001 - what the fuzzer is for
        out = "traceback", traceback.format_exc()[-1500:]
    return out[0], out[1], time.perf_counter() - t0


def tiny_run(path: str) -> tuple[str, str]:
    """Run a validated scenario, made tiny, in this process on one worker (the kernels stay
    loaded between runs): ("ok" | "refused" | "bad", what went wrong)."""
    from credsim import sanity
    from credsim.scenario import Scenario
    from credsim.sim import Sim

    p = Path(path)
    try:
        sc = Scenario.from_file(p)
        data = sc.model_dump(mode="json")
        data.update({k: v for k, v in TINY.items() if k != "population"})
        data["population"] = {**data["population"], **TINY["population"]}
        data["output"] = {**data["output"], "report": False, "chilling_baseline": False}
        sim = Sim(Scenario.from_dict(data, base=p.parent))
        res = sim.run(progress=False, workers=1)
        bad = sanity.problems(res, sim.plan.persons + sim.plan.firms)
        return ("bad", "; ".join(bad)) if bad else ("ok", "")
    except ConfigError as exc:  # a tiny population may not fit the scenario (provinces...)
        return "refused", str(exc)[:300]
    except Exception:  # noqa: BLE001
        return "bad", traceback.format_exc()[-1500:]


def _runner(jobs, results) -> None:  # pragma: no cover - in the child
    """The child's loop: tiny runs of the paths it is sent until it is sent None."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    while (path := jobs.get()) is not None:
        results.put(tiny_run(path))


class Runner:
    """One long-lived child process that makes the tiny runs (kernels loaded once, a fresh
    child only after a hang): the parent waits ``timeout`` seconds per run, then kills it."""

    def __init__(self, timeout: float):
        import multiprocessing as mp

        self.ctx, self.timeout, self.proc = mp.get_context("spawn"), timeout, None

    def _start(self) -> None:
        self.jobs, self.results = self.ctx.Queue(), self.ctx.Queue()
        self.proc = self.ctx.Process(target=_runner, args=(self.jobs, self.results),
                                     daemon=True)
        self.proc.start()

    def run(self, path: Path, first: bool = False) -> tuple[str, str]:
        import queue

        if self.proc is None or not self.proc.is_alive():
            self._start()
        self.jobs.put(str(path))
        # the first run of a child loads (or compiles) the kernels: allowed ten times as long
        wait = self.timeout * (10 if first else 1)
        try:
            return self.results.get(timeout=wait)
        except queue.Empty:
            self.proc.kill()
            self.proc.join()
            self.proc = None
            return "bad", f"hang (> {wait:.0f} s)"

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.jobs.put(None)
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()


def runnable(path: Path, kind: str) -> Path:
    """The scenario to run for an accepted case: itself, the scenario that uses it, or a new
    one that does (a regime, catalogue or marginals file validated alone)."""
    return path if path.name == "s.toml" or kind == "scenario" else wrap(kind, path)


def campaign(cases: int, run_share: float = 1.0, seed: int = 16, run_timeout: float = 60.0,
             verbose: bool = False) -> dict[str, Any]:
    """``cases`` mutants through ``validate``; then a tiny run of every accepted one, or of a
    seeded random ``run_share`` of them (each accepted case is run with that probability, drawn
    from its own generator: the same cases whatever the share of the others)."""
    rng = random.Random(seed)
    pick = random.Random(seed + 1)
    table: dict[str, Counter] = {k: Counter() for k in SOURCES}
    runs: dict[str, Counter] = {k: Counter() for k in SOURCES}
    failures: list[str] = []
    to_run: list[tuple[str, Path]] = []
    tmp = Path(tempfile.mkdtemp(prefix="credsim-fuzz-"))
    kinds = list(SOURCES)
    for i in range(cases):
        kind = kinds[(i // 2) % len(kinds)] if i % 2 else "scenario"
        folder = tmp / f"case-{i:05d}"
        folder.mkdir()
        path = make_case(rng, kind, folder)
        got, detail, took = classify(path)
        table[kind][got] += 1
        if took > 10:
            table[kind]["slow (> 10 s)"] += 1
            failures.append(f"{path}: validate took {took:.0f} s")
        if got == "traceback":
            failures.append(f"{path}: {detail}")
        elif got == "accepted" and pick.random() < run_share:
            to_run.append((kind, runnable(path, detail)))
    runner = Runner(run_timeout)
    t0 = time.perf_counter()
    try:
        for n, (kind, path) in enumerate(to_run):
            got, detail = runner.run(path, first=n == 0)
            runs[kind][got] += 1
            if got == "bad":
                failures.append(f"{path}: tiny run: {detail}")
            if verbose:
                print(f"{n + 1}/{len(to_run)} {path}: {got}", file=sys.stderr)
    finally:
        runner.close()
    return {"table": table, "runs": runs, "failures": failures, "dir": str(tmp),
            "run_seconds": time.perf_counter() - t0}


def print_table(result: dict[str, Any]) -> None:
    cols = ["clean error, file named", "clean error, file not named", "accepted", "traceback",
            "slow (> 10 s)"]
    print("| mutants of | cases | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for kind, c in result["table"].items():
        n = sum(c[k] for k in cols[:4])
        print(f"| {kind} | {n:,} | " + " | ".join(f"{c[k]:,}" for k in cols) + " |")
    print()
    print("| tiny runs of accepted mutants | runs | ok | refused at the tiny size | bad |")
    print("|---|---|---|---|---|")
    for kind, c in result["runs"].items():
        print(f"| {kind} | {sum(c.values()):,} | {c['ok']:,} | {c['refused']:,} | {c['bad']:,} |")
    print(f"\n(tiny runs: {result['run_seconds']:.0f} s; bad = traceback, hang, non-finite or "
          "inconsistent output)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--run-share", type=float, default=1.0,
                    help="share of accepted mutants given a tiny run (seeded; default all)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()
    result = campaign(args.cases, args.run_share, args.seed, verbose=args.verbose)
    print_table(result)
    for f in result["failures"][:20]:
        print("\nFAILURE", f)
    print(f"(cases in {result['dir']})")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
