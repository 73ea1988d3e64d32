"""A load test of ``credsim serve`` on loopback, bounded in count and time: 100 clients at once
ask for runs (each a different request). Every request is answered (202 then a result, or 429),
the server's memory (its process and its workers) stays bounded, nothing crashes, and later
requests still succeed."""

from __future__ import annotations

import threading
import time

import httpx
import psutil
import pytest
from webutil import Server, wait_done

CLIENTS = 100
QUEUE = 8
DEADLINE = 240.0  # seconds for the whole burst to be answered
RSS_CAP_MB = 3_000  # server + 2 workers; a worker holding the kernels is ~400-800 MB


def tree_rss_mb(pid: int) -> float:
    p = psutil.Process(pid)
    procs = [p, *p.children(recursive=True)]
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


@pytest.fixture(scope="module")
def server():
    s = Server("--workers", "2", "--max-queue", str(QUEUE), "--max-agents", "100000")
    yield s
    s.close()


def test_hundred_concurrent_clients(server):
    base = tree_rss_mb(server.proc.pid)
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss_mb(server.proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    outcomes: list[tuple[int, str]] = [(0, "")] * CLIENTS
    barrier = threading.Barrier(CLIENTS)

    def client(i: int) -> None:
        body = {"persons": 2_000, "days": 30, "seeds": 1, "seed": 1000 + i, "chilling": False}
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as c:
            barrier.wait()
            r = c.post("/api/runs", json=body)
            if r.status_code == 202:
                snap = wait_done(c, r.json()["id"], timeout=DEADLINE)
                res = c.get(f"/api/jobs/{snap['id']}/result") if snap["state"] == "done" else None
                outcomes[i] = (202, snap["state"] if res is None or res.status_code != 200 else "result")
            else:
                outcomes[i] = (r.status_code, r.json().get("error", ""))

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=DEADLINE)
    elapsed = time.monotonic() - t0
    stop.set()
    sampler.join()
    assert not any(t.is_alive() for t in threads), "some clients were never answered"
    codes = [c for c, _ in outcomes]
    assert set(codes) <= {202, 429}, outcomes
    accepted = [o for c, o in outcomes if c == 202]
    refused = [o for c, o in outcomes if c == 429]
    assert all(o == "result" for o in accepted), accepted
    assert len(accepted) >= QUEUE and refused, (len(accepted), len(refused))
    assert all("try again" in o for o in refused)
    assert elapsed < DEADLINE
    assert server.proc.poll() is None, "the server crashed"
    assert peak[0] < RSS_CAP_MB, f"peak memory {peak[0]:.0f} MB"
    stats = httpx.get(server.url + "/api/status").json()
    assert stats["stats"]["workers_replaced"] == 0 and stats["stats"]["jobs_failed"] == 0
    assert stats["stats"]["refused"] == len(refused)
    # later requests still succeed
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/api/runs", json={"persons": 2_000, "days": 30, "seed": 5000, "chilling": False})
        assert r.status_code == 202 and wait_done(c, r.json()["id"])["state"] == "done"
    print(f"load: {len(accepted)} answered with results, {len(refused)} with 429 in {elapsed:.1f} s; "
          f"server tree RSS {base:.0f} MB at start, peak {peak[0]:.0f} MB")
