"""The national scenario with links between adults: the cost of joint punishment across the
firm link at national scale.

The shipped seed regime's sanctions cross the firm link both ways since issue 14 (its D-grade
travel bans reach a firm's responsible persons, its loan ban the firms a person is responsible
for). For regimes without them, this builds a variant in which the sanctions of ``REACHES`` that
say nothing of links get them (an assumption for measuring cost, not a shipped regime), then runs
``credsim run`` on ``scenarios/china-national.toml`` with that regime.

    .venv/bin/python benchmarks/national_links.py --scale 0.05     # about 45 s
    .venv/bin/python benchmarks/national_links.py                  # the whole nation, about 10 min
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "src" / "credsim" / "data" / "regimes" / "seed-national-score.toml"
NATIONAL = ROOT / "scenarios" / "china-national.toml"
REACHES = {  # sanction -> the links it reaches besides the agent itself
    "no_train_tickets": "legal_representative",
    "no_plane_tickets": "legal_representative",
    "no_travel_abroad": "legal_representative",
    "no_loans": "represented_firms",
}


def with_reaches(regime: str) -> str:
    """The regime text with a ``reaches`` line added to each sanction of ``REACHES`` that has
    none (one that already says whom it reaches is kept as it is)."""
    for name, link in REACHES.items():
        start = regime.index(f'name = "{name}"\n')
        end = regime.index("\n[[", start) if "\n[[" in regime[start:] else len(regime)
        block = regime[start:end]
        if "\nreaches = " in block:
            continue
        regime = regime[:end] + f'\nreaches = ["self", "{link}"]' + regime[end:]
    return regime.replace('name = "seed-national-score"', 'name = "seed-links"', 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", type=float, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "runs" / "national-links")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "seed-links.toml").write_text(with_reaches(SEED.read_text()))
        scenario = NATIONAL.read_text().replace('use = "seed-national-score"',
                                                'file = "seed-links.toml"')
        scenario = scenario.replace('name = "china-national"', 'name = "china-national-links"')
        (Path(tmp) / "scenario.toml").write_text(scenario)
        cmd = [str(Path(sys.executable).parent / "credsim"), "run", str(Path(tmp) / "scenario.toml"),
               "-o", str(args.out), "--workers", str(args.workers)]
        if args.scale is not None:
            cmd += ["--scale", str(args.scale)]
        return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
