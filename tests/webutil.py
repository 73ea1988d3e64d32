"""Helpers of the explorer's tests: the same scenario through the Python API, and a real
``credsim serve`` process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 600  # a cold Numba cache compiles every kernel kind first


def python_api(persons: int, days: int, seed: int, overrides: dict | None = None, *,
               regime: dict | None = None, base: Path | None = None,
               chilling: bool = True) -> tuple[dict, pd.DataFrame]:
    """One run through the public Python API (``Scenario``, ``with_overrides``, ``Sim``): its
    run-table row and national daily series, as the explorer should show them."""
    import credsim
    from credsim.experiment.metrics import run_row

    sc = credsim.Scenario.from_dict({
        "name": "explorer", "seed": seed, "days": days,
        "population": {"persons": persons, "community_size": 100_000},
        "regime": regime or {"use": "seed-national-score"},
        "output": {"report": False, "panel_agents": 0, "chilling_baseline": chilling},
    }, base=base)
    sc = sc.with_overrides(overrides or {})
    res = credsim.Sim(sc).run(progress=False, workers=1)
    return run_row(res.summary), res.by_day


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``credsim serve`` in a subprocess (its own process group), ready when its workers are."""

    def __init__(self, *flags: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "credsim.cli", "serve", "--port", str(self.port), *flags],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        t0 = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"credsim serve ended: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(self.url + "/api/status", timeout=2).json()["ready"]:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() - t0 > READY_TIMEOUT:
                self.close()
                raise RuntimeError("credsim serve was not ready in time")
            time.sleep(0.5)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def wait_done(client, job_id: str, timeout: float = 300) -> dict:
    """Poll a job until it is done or failed."""
    t0 = time.monotonic()
    while True:
        snap = client.get(f"/api/jobs/{job_id}").json()
        if snap["state"] in ("done", "failed"):
            return snap
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"job {job_id} still {snap['state']} after {timeout} s")
        time.sleep(0.1)
