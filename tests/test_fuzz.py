"""The fuzzer in CI: 2,000 mutants of the shipped files through validate, a tiny run of every one
that validates; no traceback, hang or bad output (benchmarks/fuzz.py)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))

import fuzz  # noqa: E402

ROOT = Path(__file__).parent.parent


def test_fuzz_campaign_finds_no_traceback_hang_or_bad_output():
    result = fuzz.campaign(cases=2000, run_share=1.0, seed=16)
    shutil.rmtree(result["dir"], ignore_errors=True)
    table, runs = result["table"], result["runs"]
    assert sum(sum(c.values()) for c in table.values()) >= 2000
    assert all(c["accepted"] < sum(c.values()) for c in table.values())
    for kind in fuzz.SOURCES:  # every accepted mutant of every kind got its tiny run
        assert sum(runs[kind].values()) == table[kind]["accepted"], kind
        assert runs[kind]["ok"] > 0, kind
    assert not result["failures"], "\n\n".join(result["failures"][:5])


def test_a_run_share_is_a_seeded_subset(tmp_path):
    a = fuzz.campaign(cases=120, run_share=0.5, seed=3)
    b = fuzz.campaign(cases=120, run_share=0.5, seed=3)
    for r in (a, b):
        shutil.rmtree(r["dir"], ignore_errors=True)
    ran = sum(sum(c.values()) for c in a["runs"].values())
    accepted = sum(c["accepted"] for c in a["table"].values())
    assert a["runs"] == b["runs"] and 0 < ran < accepted


def test_tiny_run_reports_bad_output(monkeypatch):
    """The tiny run's verdict comes from the end-of-run check (in ``Sim.run`` and again here): a
    problem it finds is 'bad'."""
    from credsim import sanity

    path = ROOT / "scenarios" / "rongcheng.toml"
    assert fuzz.tiny_run(str(path)) == ("ok", "")
    monkeypatch.setattr(sanity, "problems", lambda res, agents: ["daily.x: NaN"])
    got, detail = fuzz.tiny_run(str(path))
    assert got == "bad" and "daily.x: NaN" in detail


def test_an_accepted_regime_alone_runs_through_a_scenario(tmp_path):
    f = tmp_path / "f.toml"
    shutil.copy(ROOT / "src" / "credsim" / "data" / "regimes" / "ficp.toml", f)
    s = fuzz.runnable(f, "regime")
    assert s.name == "s.toml" and 'file = "f.toml"' in s.read_text(encoding="utf-8")
    assert fuzz.tiny_run(str(s)) == ("ok", "")
