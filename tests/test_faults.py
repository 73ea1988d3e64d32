"""Faults lose nothing and leave nothing behind: no orphan after kill -9, checkpoints bound to
their community, an unwritable run directory refused before computing, Ctrl-C says how to
resume, a failed write keeps what was computed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_scenario

from credsim.errors import RunDirError
from credsim.sim import Sim
from credsim.tomlw import dumps

SLOW = {"name": "orphans", "days": 365, "seed": 3,
        "population": {"persons": 3_000_000, "community_size": 50_000},
        "regime": {"use": "seed-national-score"}, "output": {"report": False, "panel_agents": 0}}


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_kill_9_of_the_parent_leaves_no_worker_behind(tmp_path):
    s = tmp_path / "s.toml"
    s.write_text(dumps(SLOW), encoding="utf-8")
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "credsim.cli", "run", str(s), "-o", str(out),
                          "--workers", "2", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        kids: list[int] = []
        deadline = time.time() + 240
        while time.time() < deadline and p.poll() is None:
            kids = _children(p.pid)
            if len(kids) >= 3 and list((out / "checkpoints").glob("*.npz")):
                break  # two workers and the resource tracker, and computing
            time.sleep(0.2)
        assert p.poll() is None, p.stderr.read().decode()[-2000:]
        assert len(kids) >= 2, kids
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.2)
    left = [k for k in kids if _alive(k)]
    for k in left:  # do not leave them to other tests
        os.kill(k, signal.SIGKILL)
    assert not left, f"orphans after kill -9 of the parent: {left}"


# ---------------------------------------------------------------- checkpoints
def test_a_checkpoint_copied_under_another_community_is_refused(tmp_path, capsys):
    sc = make_scenario(days=60)
    clean = Sim(sc).run(tmp_path / "clean", progress=False)
    run = tmp_path / "run"
    Sim(sc).run(run, progress=False)
    ck = run / "checkpoints"
    shutil.copy(ck / "community-0000001.npz", ck / "community-0000000.npz")
    (ck / "community-0000002.npz").write_bytes(b"not a checkpoint")
    capsys.readouterr()
    again = Sim(sc).run(run, resume=True, progress=False)
    err = capsys.readouterr().err
    assert "community-0000000.npz: made for another community (1, not 0)" in err
    assert "community-0000002.npz: unreadable" in err
    assert again.meta["performance"]["communities_resumed"] == len(Sim(sc).plan.communities) - 2
    for table in ("daily", "acts", "harm", "panel"):
        assert getattr(again, table).equals(getattr(clean, table)), table
    assert np.array_equal(again.score_hist, clean.score_hist)


def test_a_checkpoint_of_another_seed_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    Sim(make_scenario(days=30, seed=1)).run(run, progress=False)
    capsys.readouterr()
    res = Sim(make_scenario(days=30, seed=2)).run(run, resume=True, progress=False)
    assert res.meta["performance"]["communities_resumed"] == 0
    assert "made for another" in capsys.readouterr().err


# ---------------------------------------------------------------- the run directory
def _no_computing(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("computing started")

    monkeypatch.setattr("credsim.sim.make_executor", refuse)


def test_an_unwritable_run_directory_is_an_error_before_computing(tmp_path, monkeypatch):
    _no_computing(monkeypatch)
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match="cannot be written.*nothing was computed"):
        Sim(make_scenario(days=10)).run(tmp_path / "file" / "run", progress=False)
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(RunDirError, match="nothing was computed"):
            Sim(make_scenario(days=10)).run(ro / "run", progress=False)


def test_a_full_disk_is_an_error_before_computing(tmp_path, monkeypatch):
    _no_computing(monkeypatch)
    monkeypatch.setattr("credsim.sim.shutil.disk_usage",
                        lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 4096, 4096))
    with pytest.raises(RunDirError, match="MiB free"):
        Sim(make_scenario(days=10)).run(tmp_path / "run", progress=False)


def test_a_write_failure_after_computing_keeps_the_results(tmp_path, monkeypatch):
    from credsim.results import Results

    save = Results.save
    calls = []

    def fail_first(self, out, **kw):
        calls.append(out)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return save(self, out, **kw)

    monkeypatch.setattr(Results, "save", fail_first)
    with pytest.raises(RunDirError) as exc:
        Sim(make_scenario(days=10)).run(tmp_path / "run", progress=False)
    msg = str(exc.value)
    assert "No space left on device" in msg and "--resume" in msg
    rescue = Path(calls[1])
    assert str(rescue) in msg and (rescue / "summary.json").exists()
    assert exc.value.results.summary == Results.load(rescue).summary
    n = len(Sim(make_scenario(days=10)).plan.communities)
    assert len(list((tmp_path / "run" / "checkpoints").glob("*.npz"))) == n
    shutil.rmtree(rescue)


def test_ctrl_c_says_how_to_resume(tmp_path, monkeypatch, capsys):
    def interrupt(self, *a):
        raise KeyboardInterrupt

    monkeypatch.setattr("credsim.sim.RunProgress.advance", interrupt)
    with pytest.raises(KeyboardInterrupt):
        # one worker: exactly the first community is checkpointed when the interrupt comes (with
        # two, the other worker may have finished one more: the message must count what is there)
        Sim(make_scenario(days=10)).run(tmp_path / "run", progress=False, workers=1)
    err = capsys.readouterr().err
    n = len(Sim(make_scenario(days=10)).plan.communities)
    on_disk = len(list((tmp_path / "run" / "checkpoints").glob("*.npz")))
    assert on_disk == 1
    assert f"{on_disk} of {n} communities are checkpointed" in err and "--resume" in err
