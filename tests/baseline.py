"""Exact baselines: digests of every shipped scenario's results at a small scale.

Any change to the engine that is meant to keep results (a refactoring, a faster kernel) must
leave these digests as they are; a change that is meant to change results rewrites them on
purpose, in the same commit, with ``make baseline`` (as Covasim's ``update_baseline``):

    .venv/bin/python tests/baseline.py            # check, print what differs
    .venv/bin/python tests/baseline.py --update   # rewrite tests/baselines.json

Each scenario runs with its own regime, mechanisms, days and burn-in, on ``PERSONS`` synthetic
persons in communities of ``COMMUNITY`` (so links, epochs and several communities are all
exercised). Digested: ``daily``, ``acts``, ``panel`` and ``harm`` (every column, in order) and
the final score histogram.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
FILE = Path(__file__).with_name("baselines.json")
PERSONS = 30_000
COMMUNITY = 10_000
TABLES = ("daily", "acts", "panel", "harm", "score_hist")


def digest_frame(df: pd.DataFrame) -> str:
    """sha256 of a table's column names, types and values (floats to 12 significant digits,
    so a last-bit difference in a derived float does not count; counts are exact)."""
    h = hashlib.sha256()
    for name in df.columns:
        col = df[name]
        h.update(f"{name}:{col.dtype}\n".encode())
        if isinstance(col.dtype, pd.CategoricalDtype):
            values = col.astype(str).to_numpy()
        else:
            values = col.to_numpy()
        if values.dtype.kind == "f":
            # about 12 significant digits: the binary mantissa rounded to 40 bits (fast on
            # millions of rows, where printing every float took minutes)
            values = values.astype(np.float64)
            bad = ~np.isfinite(values)
            m, e = np.frexp(np.where(bad, 0.0, values))
            h.update(np.rint(m * 2.0**40).astype(np.int64).tobytes())
            h.update(e.astype(np.int64).tobytes())
            h.update(np.where(bad, values, 0.0).tobytes())
        elif values.dtype.kind in "iub":
            h.update(np.ascontiguousarray(values.astype(np.int64)).tobytes())
        else:
            h.update("\x1f".join(map(str, values)).encode())
    return h.hexdigest()


def digests(res) -> dict[str, str]:
    """The digest of each table of a run's results."""
    out = {t: digest_frame(getattr(res, t)) for t in TABLES[:-1]}
    out["score_hist"] = hashlib.sha256(np.asarray(res.score_hist, np.int64).tobytes()).hexdigest()
    out["rows"] = f"daily {len(res.daily)}, acts {len(res.acts)}, panel {len(res.panel)}"
    return out


def small(scenario):
    """The scenario at the baseline size: no report, no second (chilling) run."""
    return scenario.with_changes({
        "population": {"persons": PERSONS, "scale": None, "community_size": COMMUNITY},
        "output": {"report": False, "chilling_baseline": False},
    })


def _links_scenario(tmp: Path):
    """The national scenario with links between adults (benchmarks/national_links.py)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from national_links import NATIONAL, SEED, with_reaches

    from credsim.scenario import Scenario

    (tmp / "seed-links.toml").write_text(with_reaches(SEED.read_text()))
    text = NATIONAL.read_text().replace('use = "seed-national-score"', 'file = "seed-links.toml"')
    (tmp / "scenario.toml").write_text(text.replace('name = "china-national"',
                                                    'name = "china-national-links"'))
    return Scenario.from_file(tmp / "scenario.toml")


def scenarios() -> dict:
    """Every shipped scenario, and the national one with links between adults."""
    from credsim.scenario import Scenario

    out = {p.stem: Scenario.from_file(p) for p in sorted((ROOT / "scenarios").glob("*.toml"))}
    tmp = Path(tempfile.mkdtemp(prefix="credsim-baseline-"))
    out["china-national-links"] = _links_scenario(tmp)
    return out


def compute(names: list[str] | None = None) -> dict[str, dict[str, str]]:
    from credsim.sim import Sim

    out = {}
    for name, sc in scenarios().items():
        if names and name not in names:
            continue
        out[name] = digests(Sim(small(sc)).run(workers=1, progress=False))
    return out


def load() -> dict[str, dict[str, str]]:
    return json.loads(FILE.read_text())


def differences(expected: dict, got: dict) -> list[str]:
    """One line per scenario and table whose digest changed."""
    lines = []
    for name in sorted(set(expected) | set(got)):
        e, g = expected.get(name), got.get(name)
        if e is None or g is None:
            lines.append(f"{name}: {'new' if e is None else 'missing'}")
            continue
        lines += [f"{name}: {t} differs ({e.get('rows')} -> {g.get('rows')})"
                  for t in TABLES if e.get(t) != g.get(t)]
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--update", action="store_true", help="rewrite tests/baselines.json")
    args = ap.parse_args()
    got = compute()
    if args.update:
        FILE.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        print(f"wrote {FILE.relative_to(ROOT)} ({len(got)} scenarios)")
        return 0
    diff = differences(load(), got)
    print("\n".join(diff) if diff else f"all {len(got)} baselines identical")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
