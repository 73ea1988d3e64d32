"""The fuzzer in CI: 2,000 mutants of the shipped files through validate, tiny runs of a sample
of those that validate; no traceback, hang or bad output (benchmarks/fuzz.py)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))

import fuzz  # noqa: E402


def test_fuzz_campaign_finds_no_traceback_hang_or_bad_output():
    result = fuzz.campaign(cases=2000, runs=10, seed=16)
    shutil.rmtree(result["dir"], ignore_errors=True)
    assert sum(sum(c.values()) for c in result["table"].values()) >= 2000
    assert all(c["accepted"] < sum(c.values()) for c in result["table"].values())
    assert result["runs"]["ok"] + result["runs"]["bad"] == 10
    assert not result["failures"], "\n\n".join(result["failures"][:5])
