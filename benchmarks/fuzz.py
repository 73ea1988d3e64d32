"""Fuzz every kind of file credsim reads: mutants of the shipped files through ``validate``, then
tiny runs of a sample of those that validate. Fails on any traceback, hang, or non-finite or
inconsistent output (``credsim.sanity``).

    .venv/bin/python benchmarks/fuzz.py                  # 2,000 cases, 20 tiny runs
    .venv/bin/python benchmarks/fuzz.py --cases 10000 --runs 200

Prints one row per kind: cases, clean errors naming the file, clean errors not naming it,
accepted, tracebacks, slow (> 10 s); and the runs. Exit 1 on any traceback, hang or bad run.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
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
        key = {"regime": ("regime", "file"), "catalogue": ("behaviour", "catalogue"),
               "marginals": ("population", "marginals")}[kind]
        sc = {"name": "fuzz", "days": 30, "population": {"persons": 3000, "community_size": 1000},
              "regime": {"use": "rongcheng"}}
        if kind == "regime":
            sc["regime"] = {"file": "f.toml"}
        else:
            sc.setdefault(key[0], {})[key[1]] = "f.toml"
        (folder / "s.toml").write_text(dumps(sc), encoding="utf-8")
        return folder / "s.toml"
    return target


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


def tiny_run(path: str) -> str:
    """Run a validated scenario, made tiny; '' or what went wrong."""
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
        res = sim.run(progress=False)
        bad = sanity.problems(res, sim.plan.persons + sim.plan.firms)
        return "; ".join(bad)
    except ConfigError:
        return ""  # a tiny population may not fit the scenario (provinces...): not a bug
    except Exception:  # noqa: BLE001
        return traceback.format_exc()[-1500:]


def campaign(cases: int, runs: int, seed: int = 16, run_timeout: float = 120.0,
             verbose: bool = False) -> dict[str, Any]:
    rng = random.Random(seed)
    table: dict[str, Counter] = {k: Counter() for k in SOURCES}
    failures: list[str] = []
    accepted: list[Path] = []
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
        elif got == "accepted" and (path.name == "s.toml" or detail == "scenario"):
            accepted.append(path)
    sample = random.Random(seed).sample(accepted, min(runs, len(accepted)))
    run_counts = Counter()
    pool = cf.ProcessPoolExecutor(max_workers=1)
    for path in sample:
        fut = pool.submit(tiny_run, str(path))
        try:
            bad = fut.result(timeout=run_timeout)
        except cf.TimeoutError:
            bad = f"hang (> {run_timeout:.0f} s)"
            for proc in list(pool._processes.values()):
                proc.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            pool = cf.ProcessPoolExecutor(max_workers=1)
        run_counts["bad" if bad else "ok"] += 1
        if bad:
            failures.append(f"{path}: tiny run: {bad}")
    pool.shutdown()
    return {"table": table, "runs": run_counts, "failures": failures, "dir": str(tmp)}


def print_table(result: dict[str, Any]) -> None:
    cols = ["clean error, file named", "clean error, file not named", "accepted", "traceback",
            "slow (> 10 s)"]
    print("| mutants of | cases | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for kind, c in result["table"].items():
        n = sum(c[k] for k in cols[:4])
        print(f"| {kind} | {n:,} | " + " | ".join(f"{c[k]:,}" for k in cols) + " |")
    r = result["runs"]
    print(f"tiny runs: {r['ok'] + r['bad']} ({r['bad']} bad)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()
    result = campaign(args.cases, args.runs, args.seed)
    print_table(result)
    for f in result["failures"][:20]:
        print("\nFAILURE", f)
    print(f"(cases in {result['dir']})")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
