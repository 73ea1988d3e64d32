"""Issue 16's tables, row by row: each row has a test that fails if the bug comes back.

Where each row is tested (this file holds the rows no other file did):

- tracebacks before a run: non-UTF-8 files (test_bounds.test_not_utf8_is_a_clear_error_for_every_command),
  a directory named like a file (test_bounds.test_a_directory_named_like_a_file), a 300-character
  ``use`` (test_bounds.test_bad_references_name_the_scenario_and_the_key); explain's non-UTF-8,
  Infinity, 100,000-deep JSON, 2**63 and 2**31 days (test_explain_limits.test_bad_*), 50,000
  distinct days in one pass (test_explain_limits.test_many_distinct_days_are_each_applied_once);
  malformed histories at random (here: test_random_histories_never_trace_back);
- values that validate then crash or hang: every row of the second table
  (test_bounds.REGIME_ROWS, CATALOGUE_ROWS, MARGINALS_ROWS, SCENARIO_ROWS), and at random
  (test_fuzz: 2,000 mutants, a tiny run of each accepted one);
- wrong answers: catalogue and marginals files (test_bounds.test_validate_knows_every_kind_of_file),
  a regime alone against the catalogue (test_bounds.test_a_regime_alone_is_checked_against_the_catalogue),
  errors naming the file and key (test_bounds.test_bad_references_name_the_scenario_and_the_key;
  test_fuzz counts errors that do not name the file);
- faults: orphans after kill -9 (test_faults.test_kill_9_of_the_parent_leaves_no_worker_behind),
  identical tables after --resume
  (test_scale.test_kill_minus_nine_then_resume_gives_the_uninterrupted_results),
  a checkpoint copied under another community's name and discarded checkpoints listed
  (test_faults.test_a_checkpoint_copied_under_another_community_is_refused), another seed
  (test_faults), another scenario and another credsim version (here), a read-only or full
  output directory and a write failure after computing (test_faults), Ctrl-C naming --resume
  (test_faults.test_ctrl_c_says_how_to_resume);
- security: names that are paths (test_bounds.SCENARIO_ROWS), references leaving the folder
  (test_bounds.test_references_may_not_leave_the_folder_without_trusted_paths), no eval, exec
  or pickle of user data (here);
- what a newcomer sees: compiling announced (test_newcomer.test_compiling_announced_on_a_cold_cache,
  test_cold_cache_compiles_in_the_parent_first), the grades plot, the acts plot, equal sanction
  lines, no empty frame, share labels (test_newcomer), ``credsim regimes`` at 80 columns
  (test_newcomer.test_regimes_fit_80_columns) and its counts against the docs (here), the
  tutorial's pasted outputs (test_newcomer.test_tutorial_*).
"""

from __future__ import annotations

import json
import random
import re

import numpy as np
from click.testing import CliRunner
from conftest import ROOT, make_scenario

from credsim.cli import main
from credsim.sim import Sim


# ---------------------------------------------------------------- faults: checkpoints
def _resumed(run, sc, capsys) -> tuple[int, str]:
    capsys.readouterr()
    res = Sim(sc).run(run, resume=True, progress=False)
    return res.meta["performance"]["communities_resumed"], capsys.readouterr().err


def test_a_checkpoint_of_another_scenario_is_refused(tmp_path, capsys):
    """Same seed, same communities, one rule changed: no checkpoint of the first is used."""
    run = tmp_path / "run"
    a = make_scenario(days=30)
    Sim(a).run(run, progress=False)
    b = a.with_overrides({"response.deterrence": 0.5}, source="test")
    assert Sim(b).plan.communities == Sim(a).plan.communities
    resumed, err = _resumed(run, b, capsys)
    assert resumed == 0 and err.count("made for another scenario") == len(Sim(a).plan.communities)
    clean = Sim(b).run(tmp_path / "clean", progress=False)
    again = Sim(b).run(run, resume=True, progress=False)
    assert again.daily.equals(clean.daily)


def test_a_checkpoint_of_another_credsim_version_is_refused(tmp_path, capsys, monkeypatch):
    import credsim.checkpoint as ck
    import credsim.sim as sim_mod

    run = tmp_path / "run"
    sc = make_scenario(days=30)
    monkeypatch.setattr(ck, "__version__", "0.0.0-older")
    monkeypatch.setattr(sim_mod, "__version__", "0.0.0-older")  # the fingerprint too
    Sim(sc).run(run, progress=False)
    monkeypatch.undo()
    resumed, err = _resumed(run, sc, capsys)
    assert resumed == 0 and "made for another" in err
    # the version alone, with the same fingerprint: refused too
    monkeypatch.setattr(ck, "__version__", "0.0.0-older")
    Sim(sc).run(run, progress=False, workers=1)  # in this process: the patched module saves
    monkeypatch.undo()
    resumed, err = _resumed(run, sc, capsys)
    assert resumed == 0 and "made for another credsim (0.0.0-older" in err


# ---------------------------------------------------------------- security
UNSAFE = re.compile(r"\b(eval|exec)\s*\(|pickle\.loads?\(|allow_pickle\s*=\s*True|marshal\.loads?\(|"
                    r"yaml\.load\(|yaml\.unsafe_load|shell\s*=\s*True|os\.system\(")


def test_no_eval_exec_or_pickle_of_user_data():
    """The issue's 'good: keep it': nothing in the package evaluates, unpickles or shells out
    user text (checkpoints are npz read with allow_pickle=False; results cross processes by
    multiprocessing's own pickling of our arrays, never from a file)."""
    found = []
    for p in sorted((ROOT / "src" / "credsim").rglob("*.py")):
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if UNSAFE.search(code):
                found.append(f"{p.relative_to(ROOT)}:{n}: {line.strip()}")
    assert found == []
    assert UNSAFE.search("x = eval(text)") and UNSAFE.search("np.load(p, allow_pickle=True)")


# ---------------------------------------------------------------- what a newcomer sees
def test_regime_counts_in_the_docs_are_those_credsim_regimes_prints():
    """docs/reference.md's table of shipped regimes ('assumptions / values') against
    ``credsim regimes --json``: the issue found them differing."""
    rows = {r["name"]: r for r in json.loads(CliRunner().invoke(main, ["regimes", "--json"]).output)}
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    table = text[text.index("## Shipped regimes"):]
    documented = dict(re.findall(r"^\| `([a-z-]+)` \|.*?\| (\d+ / \d+) \|", table, flags=re.M))
    assert set(documented) == set(rows)
    for name, r in rows.items():
        assert documented[name] == f"{r['assumptions']} / {r['values']}", name


# ---------------------------------------------------------------- explain at random
ACTS = ["speeding_lt20", "drunk_driving", "perform:licence_invalidated", "jaywalk", "", "é☃",
        "x" * 300, "perform:", "perform:nope"]
DAYS = ["0", "1", "-1", "3.5", "1e400", "nan", "inf", str(2**31), str(2**63), "99999", "100001",
        "", " 7", "0x10", "١٢"]


def _history(rng: random.Random) -> tuple[str, bytes]:
    kind = rng.random()
    rows = [(rng.choice(DAYS), rng.choice(ACTS)) for _ in range(rng.randint(0, 6))]
    if kind < 0.45:
        body = "day,act\n" + "".join(f"{d},{a}\n" for d, a in rows)
        if rng.random() < 0.3:
            body = rng.choice(["act,day\n", "day\n", "day,act,extra\n", ""]) + body[8:]
        return "h.csv", body.encode()
    if kind < 0.9:
        vals = [rng.choice([1, -1, 2**31, 2**63, 1e308, None, True, "3", [], {}]) for _ in rows]
        body = json.dumps([rng.choice([{"day": v, "act": a}, {"act": a}, {"day": v}, v, a])
                           for v, (_, a) in zip(vals, rows, strict=True)])
        return "h.json", body.replace("1e+308", rng.choice(["Infinity", "NaN", "1e308"])).encode()
    return rng.choice(["h.csv", "h.json"]), bytes(rng.randrange(256) for _ in range(rng.randint(0, 80)))


def test_random_histories_never_trace_back(tmp_path):
    """The issue's 700 malformed histories (128 tracebacks): 200 seeded ones, each a clear
    error naming the file (exit 2) or a valid explanation (exit 0)."""
    rng = random.Random(16)
    outcomes = []
    for i in range(200):
        name, blob = _history(rng)
        p = tmp_path / f"{i:03d}-{name}"
        p.write_bytes(blob)
        r = CliRunner().invoke(main, ["explain", "--regime", "permis-a-points", str(p), "--json"])
        assert r.exit_code in (0, 2), f"{p}: exit {r.exit_code}\n{r.output[-1500:]}"
        assert "Traceback" not in r.output, p
        if r.exit_code == 2:
            assert str(p) in r.output, f"{p}: {r.output[-500:]}"
        else:
            steps = json.loads(r.output)
            assert all(0 <= s["day"] <= 2**31 - 1 and np.isfinite(s["score"]) for s in steps), p
        outcomes.append(r.exit_code)
    assert 0 in outcomes and 2 in outcomes  # both kinds were reached
