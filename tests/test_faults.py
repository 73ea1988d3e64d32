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
